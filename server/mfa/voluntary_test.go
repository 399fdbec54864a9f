package mfa_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/factorgate/factorgate/server/eventstore"
	"github.com/factorgate/factorgate/server/mfa"
)

// forceMFA gives orgID a custom login policy that forces MFA.
func (e *testEnv) forceMFA(orgID string) {
	e.t.Helper()
	pol := mfa.DefaultLoginPolicy()
	pol.ForceMFA = true
	if _, err := e.svc.AddCustomLoginPolicy(e.admin, orgID, pol); err != nil {
		e.t.Fatalf("AddCustomLoginPolicy: %v", err)
	}
}

func (e *testEnv) pendingTOTP(userID string) {
	e.t.Helper()
	if _, _, err := e.svc.RegisterTOTP(e.admin, "", userID); err != nil {
		e.t.Fatalf("RegisterTOTP: %v", err)
	}
}

func (e *testEnv) readySMS(userID string) {
	e.t.Helper()
	if _, _, err := e.svc.AddOTPSMS(e.admin, "", userID); err != nil {
		e.t.Fatalf("AddOTPSMS: %v", err)
	}
}

func TestRemoveOwnVoluntaryFactor(t *testing.T) {
	t.Run("given no forced MFA, when the user removes their last factor, then it is gone", func(t *testing.T) {
		e := newTestEnv(t)
		org := e.org()
		user := e.human(org)
		e.readyTOTP(user)
		seq := e.seq("user", user)

		d, err := e.svc.RemoveOwnVoluntaryFactor(e.as(user, org), mfa.FactorTOTP)
		noErr(t, err)
		if d.Sequence != seq+1 || d.ResourceOwner != org {
			t.Fatalf("details = %+v, want sequence %d in %s", d, seq+1, org)
		}
		if _, ok := e.factorOf(user, mfa.FactorTOTP); ok {
			t.Fatal("TOTP still listed")
		}
		events := must(e.store.Load(context.Background(), "user", user, seq))
		if len(events) != 1 || events[0].Type != mfa.EventTOTPRemoved || events[0].Creator != user {
			t.Fatalf("events = %+v, want one %s by the user", events, mfa.EventTOTPRemoved)
		}
	})

	t.Run("given forced MFA, when the user removes their last ready factor, then FailedPrecondition and nothing is written", func(t *testing.T) {
		e := newTestEnv(t)
		org := e.org()
		e.forceMFA(org)
		user := e.human(org, withVerifiedPhone)
		e.readySMS(user)
		seq := e.seq("user", user)

		_, err := e.svc.RemoveOwnVoluntaryFactor(e.as(user, org), mfa.FactorOTPSMS)
		wantErr(t, err, mfa.ErrMandatoryFactor)
		if mfa.KindOf(err) != mfa.KindFailedPrecondition {
			t.Fatalf("kind = %v, want failed_precondition", mfa.KindOf(err))
		}
		if got := e.seq("user", user); got != seq {
			t.Fatalf("sequence = %d, want %d (nothing written)", got, seq)
		}
		if _, ok := e.factorOf(user, mfa.FactorOTPSMS); !ok {
			t.Fatal("SMS factor gone")
		}
	})

	t.Run("given forced MFA and a U2F key besides, when the user removes TOTP, then it is removed (U2F counts as a ready factor)", func(t *testing.T) {
		e := newTestEnv(t)
		org := e.org()
		e.forceMFA(org)
		user := e.human(org)
		e.readyTOTP(user)
		e.enrollU2F(user, newSecurityKey(testRPID), "key")

		noErr(t, errOf(e.svc.RemoveOwnVoluntaryFactor(e.as(user, org), mfa.FactorTOTP)))
		if _, ok := e.factorOf(user, mfa.FactorU2F); !ok {
			t.Fatal("U2F gone")
		}
	})

	t.Run("given forced MFA, when the user removes a pending TOTP next to a ready SMS, then it is removed", func(t *testing.T) {
		e := newTestEnv(t)
		org := e.org()
		e.forceMFA(org)
		user := e.human(org, withVerifiedPhone)
		e.readySMS(user)
		e.pendingTOTP(user)

		noErr(t, errOf(e.svc.RemoveOwnVoluntaryFactor(e.as(user, org), mfa.FactorTOTP)))
	})

	t.Run("given forced MFA and only a pending TOTP, when the user removes it, then it is removed (not ready, not mandatory)", func(t *testing.T) {
		e := newTestEnv(t)
		org := e.org()
		e.forceMFA(org)
		user := e.human(org)
		e.pendingTOTP(user)

		noErr(t, errOf(e.svc.RemoveOwnVoluntaryFactor(e.as(user, org), mfa.FactorTOTP)))
	})

	t.Run("given a channel the user does not have, then the kind's NotFound and nothing is written", func(t *testing.T) {
		e := newTestEnv(t)
		org := e.org()
		e.forceMFA(org)
		user := e.human(org)
		e.readyTOTP(user)
		seq := e.seq("user", user)
		for kind, want := range map[mfa.FactorKind]error{
			mfa.FactorOTPSMS: mfa.ErrOTPSMSNotExisting, mfa.FactorOTPEmail: mfa.ErrOTPEmailNotExisting,
		} {
			_, err := e.svc.RemoveOwnVoluntaryFactor(e.as(user, org), kind)
			wantErr(t, err, want)
		}
		if got := e.seq("user", user); got != seq {
			t.Fatalf("sequence = %d, want %d", got, seq)
		}
	})

	t.Run("given a machine user's token, then Unauthenticated", func(t *testing.T) {
		e := newTestEnv(t)
		ctx := mfa.WithPrincipal(context.Background(), &mfa.Principal{UserID: e.boot.AdminUserID, OrgID: e.boot.OrgID, Machine: true})
		_, err := e.svc.RemoveOwnVoluntaryFactor(ctx, mfa.FactorTOTP)
		wantErr(t, err, mfa.ErrNotAPerson)
	})

	t.Run("given no principal, then Unauthenticated", func(t *testing.T) {
		e := newTestEnv(t)
		_, err := e.svc.RemoveOwnVoluntaryFactor(context.Background(), mfa.FactorTOTP)
		if mfa.KindOf(err) != mfa.KindUnauthenticated {
			t.Fatalf("error = %v, want unauthenticated", err)
		}
	})
}

// pairedStore holds the first two appends until both have arrived, so two
// commands are sure to read the same state before either writes.
type pairedStore struct {
	eventstore.Store
	mu      sync.Mutex
	arrived int
	both    chan struct{}
}

func (p *pairedStore) Append(ctx context.Context, b eventstore.Batch) ([]eventstore.Event, error) {
	p.mu.Lock()
	p.arrived++
	n := p.arrived
	if n == 2 {
		close(p.both)
	}
	p.mu.Unlock()
	if n <= 2 {
		<-p.both
	}
	return p.Store.Append(ctx, b)
}

func TestRemoveOwnVoluntaryFactorRace(t *testing.T) {
	// Given forced MFA and a user with TOTP and SMS, when both are removed
	// at once (each command having read the state with two ready factors),
	// then exactly one succeeds and the other is refused as mandatory.
	e := newTestEnv(t)
	org := e.org()
	e.forceMFA(org)
	user := e.human(org, withVerifiedPhone)
	e.readyTOTP(user)
	e.readySMS(user)
	seq := e.seq("user", user)

	paired := &pairedStore{Store: e.store, both: make(chan struct{})}
	svc := newServiceOn(t, paired, e.clock)
	must(svc.Bootstrap(context.Background(), mfa.BootstrapOptions{}))

	kinds := []mfa.FactorKind{mfa.FactorTOTP, mfa.FactorOTPSMS}
	errs := make([]error, len(kinds))
	var wg sync.WaitGroup
	for i, k := range kinds {
		wg.Go(func() { _, errs[i] = svc.RemoveOwnVoluntaryFactor(e.as(user, org), k) })
	}
	wg.Wait()

	var ok, refused int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, mfa.ErrMandatoryFactor):
			refused++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 || refused != 1 {
		t.Fatalf("%d removed and %d refused, want 1 and 1", ok, refused)
	}
	if got := e.seq("user", user); got != seq+1 {
		t.Fatalf("sequence = %d, want %d (one removal)", got, seq+1)
	}
	if len(e.factors(user)) != 1 {
		t.Fatalf("factors = %+v, want one left", e.factors(user))
	}
}
