package mfa_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
	"github.com/factorgate/factorgate/server/mfa"
)

// readCountingStore counts the store's document reads.
type readCountingStore struct {
	*eventstore.Memory
	mu       sync.Mutex
	gets     int
	getManys [][]eventstore.DocKey
}

func (s *readCountingStore) Get(ctx context.Context, kind, id string) (eventstore.Doc, error) {
	s.mu.Lock()
	s.gets++
	s.mu.Unlock()
	return s.Memory.Get(ctx, kind, id)
}

func (s *readCountingStore) GetMany(ctx context.Context, keys []eventstore.DocKey) ([]eventstore.Doc, error) {
	s.mu.Lock()
	s.getManys = append(s.getManys, keys)
	s.mu.Unlock()
	return s.Memory.GetMany(ctx, keys)
}

// reads returns and resets the counts.
func (s *readCountingStore) reads() (gets int, getManys [][]eventstore.DocKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gets, getManys = s.gets, s.getManys
	s.gets, s.getManys = 0, nil
	return gets, getManys
}

// A request whose token this node has seen before reads the token, its
// organization and the instance in one read of the store; every document
// still comes from the store, so a membership granted or a token revoked
// since is seen by the very next request.
func TestKnownTokenIsReadTogetherWithItsOrganizationAndInstance(t *testing.T) {
	ctx := context.Background()
	store := &readCountingStore{Memory: eventstore.NewMemory()}
	t.Cleanup(func() { _ = store.Close() })
	clock := &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	svc := newServiceOn(t, store, clock)
	boot := must(svc.Bootstrap(ctx, mfa.BootstrapOptions{TokenLifetime: adminTokenLifetime}))
	admin := mfa.WithPrincipal(ctx, must(svc.Authenticate(ctx, boot.AdminToken)))
	orgDetails, _, err := svc.AddOrganization(admin, "", uniqueName("org"), nil)
	noErr(t, err)
	org := orgDetails.ID
	machine := must(svc.AddMachineUser(admin, org, mfa.MachineInput{Username: uniqueName("svc"), Name: "service"})).ID
	_, token, _, err := svc.AddPersonalAccessToken(admin, org, machine, time.Time{})
	noErr(t, err)

	// One API request as the chain makes it: authenticate, then authorize
	// in the caller's organization.
	request := func() error {
		p, err := svc.Authenticate(ctx, token)
		if err != nil {
			return err
		}
		_, err = svc.Authorize(mfa.WithRequestPrincipal(ctx, p), p, "", mfa.PermUserRead)
		return err
	}
	wantReads := func(step string, wantGets int, wantKeys ...[]string) {
		t.Helper()
		gets, many := store.reads()
		if gets != wantGets || len(many) != len(wantKeys) {
			t.Fatalf("%s: %d reads of one document and %d of several (%v), want %d and %d", step, gets, len(many), many, wantGets, len(wantKeys))
		}
		for i, keys := range many {
			var kinds []string
			for _, k := range keys {
				kinds = append(kinds, k.Kind)
			}
			if len(kinds) != len(wantKeys[i]) {
				t.Fatalf("%s: read %v together, want kinds %v", step, keys, wantKeys[i])
			}
			for j := range kinds {
				if kinds[j] != wantKeys[i][j] {
					t.Fatalf("%s: read %v together, want kinds %v", step, keys, wantKeys[i])
				}
			}
		}
	}
	store.reads()

	// First sight of the token: the token, then organization and instance.
	wantErr(t, request(), mfa.ErrNoMembership)
	wantReads("first request", 1, []string{"org", "instance"})

	// Known token: all three in one read.
	wantErr(t, request(), mfa.ErrNoMembership)
	wantReads("second request", 0, []string{"token", "org", "instance"})

	// A membership granted since is seen by the next request.
	noErr(t, errOf(svc.AddOrgMember(admin, org, machine, []string{"ORG_USER_MANAGER"})))
	store.reads()
	noErr(t, request())
	wantReads("after the grant", 0, []string{"token", "org", "instance"})

	// Acting in another organization reads that one on its own.
	otherDetails, _, err := svc.AddOrganization(admin, "", uniqueName("org"), nil)
	noErr(t, err)
	other := otherDetails.ID
	p := must(svc.Authenticate(ctx, token))
	store.reads()
	_, err = svc.Authorize(mfa.WithRequestPrincipal(ctx, p), p, other, mfa.PermUserRead)
	wantErr(t, err, mfa.ErrNoMembership)
	wantReads("another organization", 1)

	// A revoked token is refused by the next request: knowing its
	// organization does not keep it alive.
	if !must(svc.RevokeToken(admin, token)) {
		t.Fatal("RevokeToken: not revoked")
	}
	store.reads()
	wantErr(t, request(), mfa.ErrTokenInvalid)
	wantReads("after the revocation", 0, []string{"token", "org", "instance"})
}
