package mfa_test

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server/mfa"
)

// personWithPassword creates a person with a password and returns the
// username.
func (e *testEnv) personWithPassword(orgID, password string) string {
	e.t.Helper()
	name := uniqueName("rf")
	if _, err := e.svc.AddHumanUser(e.admin, orgID, mfa.HumanInput{Username: name, GivenName: "A", FamilyName: "B",
		Email: name + "@example.com", EmailVerified: true, Password: password}); err != nil {
		e.t.Fatal(err)
	}
	return name
}

func TestRefreshGrant(t *testing.T) {
	e := newTestEnv(t)
	org := e.org()
	name := e.personWithPassword(org, "correct horse")
	login := e.clock.Now()

	g1, err := e.svc.PasswordGrantWithRefresh(e.admin, name, "correct horse", []string{"openid", "profile"})
	noErr(t, err)
	if g1.RefreshToken == "" || g1.RefreshToken == g1.Token || !g1.RefreshExpiresAt.Equal(login.Add(mfa.RefreshTokenLifetime)) {
		t.Fatalf("grant = %+v, want a distinct refresh token valid for %v", g1, mfa.RefreshTokenLifetime)
	}

	// Given a refresh an hour later, then a new pair whose access token keeps
	// the original auth time and amr, and the old access token still works.
	e.clock.Advance(time.Hour)
	g2, err := e.svc.RefreshGrant(e.admin, g1.RefreshToken, nil)
	noErr(t, err)
	if g2.Token == g1.Token || g2.RefreshToken == g1.RefreshToken || g2.UserID != g1.UserID {
		t.Fatalf("refresh did not rotate: %+v", g2)
	}
	p := must(e.svc.Authenticate(e.admin, g2.Token))
	if !p.AuthTime.Equal(login) || !slices.Equal(p.AMR, []string{"pwd"}) || !slices.Equal(p.Scopes, []string{"openid", "profile"}) {
		t.Fatalf("refreshed principal = %+v, want auth time %v, amr [pwd], the original scopes", p, login)
	}
	if !g2.ExpiresAt.Equal(e.clock.Now().Add(mfa.AccessTokenLifetime)) {
		t.Fatalf("new access token expires at %v", g2.ExpiresAt)
	}
	noErr(t, errOf(e.svc.Authenticate(e.admin, g1.Token)))

	// The used refresh token fails; the new one works once, with a narrower scope.
	_, err = e.svc.RefreshGrant(e.admin, g1.RefreshToken, nil)
	wantErr(t, err, mfa.ErrRefreshTokenInvalid)
	_, err = e.svc.RefreshGrant(e.admin, g2.RefreshToken, []string{"admin"})
	wantErr(t, err, mfa.ErrRefreshScope)
	g3, err := e.svc.RefreshGrant(e.admin, g2.RefreshToken, []string{"openid"})
	noErr(t, err)
	if p := must(e.svc.Authenticate(e.admin, g3.Token)); !slices.Equal(p.Scopes, []string{"openid"}) {
		t.Fatalf("scopes = %v, want [openid]", p.Scopes)
	}

	// A revoked refresh token fails, and revoking wrote one event.
	before := must(e.store.Load(e.admin, "user", g1.UserID, 0))
	revoked, err := e.svc.RevokeToken(e.admin, g3.RefreshToken)
	if err != nil || !revoked {
		t.Fatalf("RevokeToken(refresh) = %v, %v", revoked, err)
	}
	after := must(e.store.Load(e.admin, "user", g1.UserID, 0))
	if len(after) != len(before)+1 || after[len(after)-1].Type != mfa.EventRefreshTokenRevoked {
		t.Fatalf("revocation events: %d → %d", len(before), len(after))
	}
	_, err = e.svc.RefreshGrant(e.admin, g3.RefreshToken, nil)
	wantErr(t, err, mfa.ErrRefreshTokenInvalid)

	// No token is stored in clear.
	for _, ev := range after {
		for _, tok := range []string{g1.Token, g1.RefreshToken, g2.RefreshToken, g3.RefreshToken} {
			if bytes.Contains(ev.Payload, []byte(tok)) {
				t.Fatalf("event %s stores a token in clear", ev.Type)
			}
		}
	}

	// Unknown, empty and expired refresh tokens fail.
	for _, tok := range []string{"", "fg_unknown", g1.Token} {
		_, err := e.svc.RefreshGrant(e.admin, tok, nil)
		wantErr(t, err, mfa.ErrRefreshTokenInvalid)
	}
	g4 := must(e.svc.PasswordGrantWithRefresh(e.admin, name, "correct horse", nil))
	e.clock.Advance(mfa.RefreshTokenLifetime)
	_, err = e.svc.RefreshGrant(e.admin, g4.RefreshToken, nil)
	wantErr(t, err, mfa.ErrRefreshTokenInvalid)

	// A wrong password gets no tokens.
	_, err = e.svc.PasswordGrantWithRefresh(e.admin, name, "wrong", nil)
	wantErr(t, err, mfa.ErrInvalidCredentials)
}

func TestRefreshGrantRace(t *testing.T) {
	// Given one refresh token used by many at once, exactly one gets tokens.
	e := newTestEnv(t)
	name := e.personWithPassword(e.org(), "correct horse")
	g := must(e.svc.PasswordGrantWithRefresh(e.admin, name, "correct horse", nil))

	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = e.svc.RefreshGrant(e.admin, g.RefreshToken, nil)
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, mfa.ErrRefreshTokenInvalid):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d refreshes succeeded, want 1", ok)
	}
}
