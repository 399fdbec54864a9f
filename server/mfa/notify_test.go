package mfa_test

import (
	"context"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
	"github.com/factorgate/factorgate/server/mfa"
)

// newIssue10Env is newTestEnv with notifications on, a step-up window of
// window (0: off) and, when revoke is set, other tokens ended on removal.
func newIssue10Env(t *testing.T, window time.Duration, revoke bool) *testEnv {
	t.Helper()
	store := eventstore.NewMemory()
	t.Cleanup(func() { _ = store.Close() })
	clock := &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	svc, err := mfa.New(mfa.Config{Store: store, MasterKey: testMasterKey, Now: clock.Now, RPID: testRPID, PasswordHashCost: mfa.MinPasswordHashCost,
		SelfRemovalMaxAge: window, RevokeTokensOnFactorRemoval: revoke, Notify: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	boot, err := svc.Bootstrap(ctx, mfa.BootstrapOptions{TokenLifetime: adminTokenLifetime})
	noErr(t, err)
	p := must(svc.Authenticate(ctx, boot.AdminToken))
	return &testEnv{t: t, svc: svc, store: store, clock: clock, admin: mfa.WithPrincipal(ctx, p), boot: boot}
}

// signIn returns a context acting with a fresh password grant of name.
func (e *testEnv) signIn(name, password string) (context.Context, mfa.TokenGrant) {
	e.t.Helper()
	g := must(e.svc.PasswordGrantWithRefresh(context.Background(), name, password, nil))
	p := must(e.svc.Authenticate(context.Background(), g.Token))
	return mfa.WithPrincipal(context.Background(), p), g
}

func TestStepUpSelfRemoval(t *testing.T) {
	for _, tc := range []struct {
		name    string
		window  time.Duration
		age     time.Duration
		wantErr error
	}{
		{"FreshSignInRemoves", 10 * time.Minute, 9 * time.Minute, nil},
		{"AtTheWindowRemoves", 10 * time.Minute, 10 * time.Minute, nil},
		{"StaleSignInGetsStepUpRequired", 10 * time.Minute, 10*time.Minute + time.Second, mfa.ErrStepUpRequired},
		{"RuleOffRemovesWithAnOldSignIn", 0, 24 * time.Hour, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newIssue10Env(t, tc.window, false)
			org := e.org()
			name := e.personWithPassword(org, "pw")
			ctx, g := e.signIn(name, "pw")
			e.readyTOTP(g.UserID)
			e.clock.Advance(tc.age)
			for _, remove := range []struct {
				name string
				fn   func() error
			}{
				{"RemoveFactor", func() error {
					return errOf(e.svc.RemoveFactor(ctx, org, mfa.FactorRef{UserID: g.UserID, Kind: mfa.FactorTOTP}))
				}},
				{"RemoveOwnVoluntaryFactor", func() error { return errOf(e.svc.RemoveOwnVoluntaryFactor(ctx, mfa.FactorTOTP)) }},
			} {
				err := remove.fn()
				if tc.wantErr != nil {
					wantErr(t, err, tc.wantErr)
					if _, ok := e.factorOf(g.UserID, mfa.FactorTOTP); !ok {
						t.Fatalf("%s: refused removal removed the factor", remove.name)
					}
					continue
				}
				noErr(t, err)
				if _, ok := e.factorOf(g.UserID, mfa.FactorTOTP); ok {
					t.Fatalf("%s: factor still there", remove.name)
				}
				e.readyTOTP(g.UserID) // for the next path
			}
		})
	}
}

func TestStepUpAdminRemovingSomeoneElseUnaffected(t *testing.T) {
	e := newIssue10Env(t, 10*time.Minute, false)
	org := e.org()
	user := e.human(org)
	e.readyTOTP(user)
	e.clock.Advance(12 * time.Hour) // the admin's token is hours old
	noErr(t, errOf(e.svc.RemoveFactor(e.admin, org, mfa.FactorRef{UserID: user, Kind: mfa.FactorTOTP})))
}

func TestRevokeOtherTokensOnRemoval(t *testing.T) {
	e := newIssue10Env(t, 10*time.Minute, true)
	org := e.org()
	name := e.personWithPassword(org, "pw")
	ctx, mine := e.signIn(name, "pw")
	_, other := e.signIn(name, "pw")
	_, third := e.signIn(name, "pw")
	e.readyTOTP(mine.UserID)

	d, err := e.svc.RemoveOwnVoluntaryFactor(ctx, mfa.FactorTOTP)
	noErr(t, err)
	// The removal's details carry its own sequence; the revocations follow it.
	events := must(e.store.Load(context.Background(), "user", mine.UserID, d.Sequence-1))
	if events[0].Type != mfa.EventTOTPRemoved || len(events) != 5 {
		t.Fatalf("events after the removal: %d, first %s; want the removal then 2 token and 2 refresh revocations", len(events), events[0].Type)
	}
	for _, g := range []mfa.TokenGrant{other, third} {
		wantErr(t, errOf(e.svc.Authenticate(context.Background(), g.Token)), mfa.ErrTokenInvalid)
		wantErr(t, errOf(e.svc.RefreshGrant(context.Background(), g.RefreshToken, nil)), mfa.ErrRefreshTokenInvalid)
	}
	noErr(t, errOf(e.svc.Authenticate(context.Background(), mine.Token)))
	noErr(t, errOf(e.svc.RefreshGrant(context.Background(), mine.RefreshToken, nil)))

	// An admin's removal ends every token of the person.
	e.readyTOTP(mine.UserID)
	noErr(t, errOf(e.svc.RemoveFactor(e.admin, org, mfa.FactorRef{UserID: mine.UserID, Kind: mfa.FactorTOTP})))
	wantErr(t, errOf(e.svc.Authenticate(context.Background(), mine.Token)), mfa.ErrTokenInvalid)
	noErr(t, errOf(e.svc.Authenticate(context.Background(), e.boot.AdminToken)))
}

func TestNotificationsQueuedWithTheChange(t *testing.T) {
	e := newIssue10Env(t, 0, false)
	org := e.org()
	user := e.human(org)
	e.readyTOTP(user)
	ctx := mfa.WithOrigin(e.admin, mfa.Origin{Dialect: "zitadel", Method: "/zitadel.user.v2.UserService/RemoveTOTP", Transport: "rest"})
	noErr(t, errOf(e.svc.RemoveFactor(ctx, org, mfa.FactorRef{UserID: user, Kind: mfa.FactorTOTP})))
	noErr(t, errOf(e.svc.AddSecondFactor(e.admin, org, mfa.SecondFactorOTPSMS)))

	pending, next, err := e.svc.PendingNotifications(context.Background(), "", 0)
	noErr(t, err)
	if next != "" {
		t.Fatalf("a listing of all pending continues after %q", next)
	}
	var got []string
	for _, n := range pending {
		got = append(got, n.Action+" "+string(n.Factor)+string(n.PolicyType))
	}
	want := []string{"factor.added totp", "factor.removed totp", "policy.changed otp_sms"}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("pending = %v, want %v", got, want)
	}
	rm := pending[1]
	if rm.UserID != user || rm.OrgID != org || rm.Actor != e.boot.AdminUserID || rm.Via == nil || rm.Via.Dialect != "zitadel" ||
		!rm.OccurredAt.Equal(e.clock.Now()) || rm.ID == "" {
		t.Fatalf("removal notification = %+v", rm)
	}

	// Two dispatchers: one claim wins; the loser sees it claimed.
	until := e.clock.Now().Add(time.Minute)
	_, ok1 := must2(e.svc.ClaimNotification(context.Background(), rm.ID, 0, time.Time{}, until))
	_, ok2 := must2(e.svc.ClaimNotification(context.Background(), rm.ID, 1, time.Time{}, until))
	if !ok1 || ok2 {
		t.Fatalf("claims = %v, %v; want exactly the first", ok1, ok2)
	}
	// Node 0 restarted (its start is after its claim): it takes its own claim back; node 1 still may not.
	e.clock.Advance(time.Second)
	if _, ok := must2(e.svc.ClaimNotification(context.Background(), rm.ID, 1, e.clock.Now(), until)); ok {
		t.Fatalf("another node took over a live claim")
	}
	if _, ok := must2(e.svc.ClaimNotification(context.Background(), rm.ID, 0, e.clock.Now(), until)); !ok {
		t.Fatalf("a restarted node could not take back its own claim")
	}
	noErr(t, e.svc.FinishNotification(context.Background(), rm.ID, []mfa.Attempt{{Target: "t1", Status: 500}}, false, until))
	// After the round the lease is released; the retry waits for retryAt (the dispatcher's rule).
	n, ok := must2(e.svc.ClaimNotification(context.Background(), rm.ID, 1, time.Time{}, until))
	if !ok || n.Attempts != 1 || n.LastStatus != 500 {
		t.Fatalf("reclaim = %v %+v", ok, n)
	}
	noErr(t, e.svc.FinishNotification(context.Background(), rm.ID, []mfa.Attempt{{Target: "t1", Status: 204}}, true, time.Time{}))
	delivered := must(e.svc.ListNotifications(e.admin, "", mfa.NotificationDelivered, 0))
	if len(delivered) != 1 || delivered[0].ID != rm.ID || delivered[0].Attempts != 2 || !delivered[0].Acknowledged("t1") {
		t.Fatalf("delivered = %+v", delivered)
	}
	if _, ok := must2(e.svc.ClaimNotification(context.Background(), rm.ID, 0, time.Time{}, until)); ok {
		t.Fatalf("a delivered notification was claimed again")
	}
	replayed, stored, err := e.svc.Replay(context.Background(), "notification", rm.ID)
	noErr(t, err)
	if string(replayed) != string(stored) {
		t.Fatalf("replayed %s\nstored %s", replayed, stored)
	}

	// An organization's user manager sees only their organization's; a plain user nothing.
	other := e.org()
	e.readyTOTP(e.human(other))
	mgr := e.human(org)
	e.member(org, mgr, "ORG_USER_MANAGER")
	mine := must(e.svc.ListNotifications(e.as(mgr, org), "", mfa.NotificationPending, 0))
	for _, n := range mine {
		if n.OrgID != org {
			t.Fatalf("org manager sees %s's notification", n.OrgID)
		}
	}
	_, err = e.svc.ListNotifications(e.as(mgr, org), other, mfa.NotificationPending, 0)
	if err == nil {
		t.Fatalf("org manager listed another organization's notifications")
	}
	_, err = e.svc.ListNotifications(e.as(user, org), "", mfa.NotificationPending, 0)
	if err == nil {
		t.Fatalf("a user without a role listed notifications")
	}
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}
