package mfa_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
	"github.com/factorgate/factorgate/server/mfa"
)

// downStore is the in-memory store with a switch that makes every call
// fail as a store does whose database cannot be reached.
type downStore struct {
	*eventstore.Memory
	down atomic.Bool
}

var errDown = fmt.Errorf("connection refused: %w", eventstore.ErrUnavailable)

func (s *downStore) Append(ctx context.Context, b eventstore.Batch) ([]eventstore.Event, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Memory.Append(ctx, b)
}

func (s *downStore) Get(ctx context.Context, kind, id string) (eventstore.Doc, error) {
	if s.down.Load() {
		return eventstore.Doc{}, errDown
	}
	return s.Memory.Get(ctx, kind, id)
}

func (s *downStore) GetMany(ctx context.Context, keys []eventstore.DocKey) ([]eventstore.Doc, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Memory.GetMany(ctx, keys)
}

func (s *downStore) ClaimOwner(ctx context.Context, key string) (string, error) {
	if s.down.Load() {
		return "", errDown
	}
	return s.Memory.ClaimOwner(ctx, key)
}

// TestStoreUnavailable: while the store cannot be reached, authentication,
// queries and commands answer Unavailable (EVENT-unav1), never Internal,
// and nothing is written; afterwards the same calls work.
func TestStoreUnavailable(t *testing.T) {
	store := &downStore{Memory: eventstore.NewMemory()}
	clock := &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	svc := newServiceOn(t, store, clock)
	ctx := context.Background()
	boot, err := svc.Bootstrap(ctx, mfa.BootstrapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Authenticate(ctx, boot.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	admin := mfa.WithPrincipal(ctx, p)

	store.down.Store(true)
	wantUnavailable := func(what string, err error) {
		t.Helper()
		var e *mfa.Error
		if !errors.As(err, &e) || e.Kind != mfa.KindUnavailable || e.ID != "EVENT-unav1" {
			t.Errorf("%s while the store is down: %v, want Unavailable (EVENT-unav1)", what, err)
		}
	}
	_, err = svc.Authenticate(ctx, boot.AdminToken)
	wantUnavailable("Authenticate", err)
	_, err = svc.Authorize(admin, p, "", mfa.PermUserRead)
	wantUnavailable("Authorize", err)
	_, _, err = svc.AddOrganization(admin, "", "acme", nil)
	wantUnavailable("AddOrganization", err)
	_, err = svc.RevokeToken(ctx, boot.AdminToken)
	wantUnavailable("RevokeToken", err)
	_, err = svc.RefreshGrant(ctx, "fgr_not-a-stored-refresh-token", nil)
	wantUnavailable("RefreshGrant", err)
	_, err = svc.Bootstrap(ctx, mfa.BootstrapOptions{})
	wantUnavailable("Bootstrap", err)

	store.down.Store(false)
	if _, err := svc.Authenticate(ctx, boot.AdminToken); err != nil {
		t.Fatalf("Authenticate after the store is back: %v (the revocation must not have happened)", err)
	}
	if _, _, err := svc.AddOrganization(admin, "", "acme", nil); err != nil {
		t.Fatalf("AddOrganization after the store is back: %v (the first attempt must not have claimed the name)", err)
	}
}
