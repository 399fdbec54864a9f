package mfa_test

import (
	"context"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
	"github.com/factorgate/factorgate/server/mfa"
)

// onUserRead is the memory store running hook (once) at its next read of
// user uid's document: a concurrent request committing between two reads
// of one command.
type onUserRead struct {
	*eventstore.Memory
	uid  string
	hook func()
}

func (s *onUserRead) Get(ctx context.Context, kind, id string) (eventstore.Doc, error) {
	if f := s.hook; f != nil && kind == "user" && id == s.uid {
		s.hook = nil
		f()
	}
	return s.Memory.Get(ctx, kind, id)
}

// A revocation of a refresh token that a refresh grant uses up while the
// revocation reads the person: the grant wins, and the revocation answers
// that there was nothing to revoke, appending nothing after the use.
func TestRevokeRefreshTokenRacingItsUse(t *testing.T) {
	mem := eventstore.NewMemory()
	t.Cleanup(func() { _ = mem.Close() })
	store := &onUserRead{Memory: mem}
	clock := &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	svc := newServiceOn(t, store, clock)
	ctx := context.Background()
	boot, err := svc.Bootstrap(ctx, mfa.BootstrapOptions{TokenLifetime: adminTokenLifetime})
	noErr(t, err)
	e := &testEnv{t: t, svc: svc, store: mem, clock: clock, admin: mfa.WithPrincipal(ctx, must(svc.Authenticate(ctx, boot.AdminToken))), boot: boot}
	name := e.personWithPassword(e.org(), "correct horse")
	g1 := must(svc.PasswordGrantWithRefresh(e.admin, name, "correct horse", []string{"openid"}))

	var g2 mfa.TokenGrant
	var refreshErr error
	store.uid = g1.UserID
	store.hook = func() { g2, refreshErr = svc.RefreshGrant(e.admin, g1.RefreshToken, nil) }
	revoked, err := svc.RevokeToken(e.admin, g1.RefreshToken)
	noErr(t, err)
	if refreshErr != nil || g2.RefreshToken == "" {
		t.Fatalf("the concurrent refresh failed: %v", refreshErr)
	}
	if revoked {
		t.Errorf("RevokeToken = true for a refresh token the concurrent refresh had used up")
	}
	evs := must(mem.Load(ctx, "user", g1.UserID, 0))
	if last := evs[len(evs)-1].Type; last == mfa.EventRefreshTokenRevoked {
		t.Errorf("the history ends with %s after the token was used", last)
	}
	// The grant's new refresh token is alive.
	if _, err := svc.RefreshGrant(e.admin, g2.RefreshToken, nil); err != nil {
		t.Fatalf("the new refresh token: %v", err)
	}
}
