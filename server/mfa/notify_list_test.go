package mfa_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
	"github.com/factorgate/factorgate/server/mfa"
)

// listCounting is the memory store, counting the documents its List calls
// return: what a listing holds in memory at once and reads in all.
type listCounting struct {
	*eventstore.Memory
	mu         sync.Mutex
	most, read int
}

func (s *listCounting) List(ctx context.Context, kind, owner, after string, limit int) ([]eventstore.Doc, error) {
	docs, err := s.Memory.List(ctx, kind, owner, after, limit)
	s.mu.Lock()
	s.most, s.read = max(s.most, len(docs)), s.read+len(docs)
	s.mu.Unlock()
	return docs, err
}

func (s *listCounting) reset() (most, read int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	most, read = s.most, s.read
	s.most, s.read = 0, 0
	return most, read
}

// Delivered notifications pile up for ever, so the admin listing pages
// through them: a listing of n reads about n documents, not every one of
// the state, and one filtered by organization holds at most a page of
// them at once. The oldest come first, and the filter holds across pages.
func TestNotificationListingPagesThroughTheStore(t *testing.T) {
	store := &listCounting{Memory: eventstore.NewMemory()}
	t.Cleanup(func() { _ = store.Close() })
	clock := &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	svc, err := mfa.New(mfa.Config{Store: store, MasterKey: testMasterKey, Now: clock.Now, RPID: testRPID,
		PasswordHashCost: mfa.MinPasswordHashCost, Notify: true})
	noErr(t, err)
	ctx := context.Background()
	boot, err := svc.Bootstrap(ctx, mfa.BootstrapOptions{TokenLifetime: adminTokenLifetime})
	noErr(t, err)
	e := &testEnv{t: t, svc: svc, store: store.Memory, clock: clock, admin: mfa.WithPrincipal(ctx, must(svc.Authenticate(ctx, boot.AdminToken))), boot: boot}

	// 600 notifications of org a, then 5 of org b.
	a, b := e.org(), e.org()
	for range 600 {
		clock.Advance(time.Millisecond)
		_, _, err := svc.AddOTPSMS(e.admin, a, e.human(a, withVerifiedPhone))
		noErr(t, err)
	}
	var bUsers []string
	for range 5 {
		clock.Advance(time.Millisecond)
		u := e.human(b, withVerifiedPhone)
		bUsers = append(bUsers, u)
		_, _, err := svc.AddOTPSMS(e.admin, b, u)
		noErr(t, err)
	}
	store.reset()

	first := must(svc.ListNotifications(e.admin, "", mfa.NotificationPending, 10))
	if len(first) != 10 || first[0].OrgID != a || !first[0].OccurredAt.Before(first[9].OccurredAt) {
		t.Fatalf("the first 10 = %d notifications from %s, want org a's oldest first", len(first), first[0].OrgID)
	}
	if most, read := store.reset(); read > 10 {
		t.Fatalf("listing 10 read %d documents (at most %d at once), want 10", read, most)
	}

	mine := must(svc.ListNotifications(e.admin, b, mfa.NotificationPending, 3))
	if len(mine) != 3 || mine[0].UserID != bUsers[0] || mine[2].UserID != bUsers[2] {
		t.Fatalf("org b's first 3 = %+v", mine)
	}
	for _, n := range mine {
		if n.OrgID != b {
			t.Fatalf("org b's listing holds %+v", n)
		}
	}
	if most, _ := store.reset(); most > 256 {
		t.Fatalf("a filtered listing held %d documents at once, want at most a page (256)", most)
	}

	all := must(svc.ListNotifications(e.admin, "", mfa.NotificationPending, 0))
	if len(all) != 605 || all[604].UserID != bUsers[4] {
		t.Fatalf("listing all = %d notifications, want 605 ending with org b's last", len(all))
	}
}
