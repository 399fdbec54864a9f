package mfa_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/factorgate/factorgate/server/mfa"
)

// factorKind describes one kind of factor for the removal tests: how to
// give a user one, and what a removal answers when it is missing.
type factorKind struct {
	kind     mfa.FactorKind
	notFound error
	// permissionFirst: the removal checks permission before existence
	// (OTP SMS and email); TOTP and U2F report a missing factor first.
	permissionFirst bool
	// give enrolls a ready factor and returns its id.
	give func(e *testEnv, userID string) string
}

var factorKinds = []factorKind{
	{mfa.FactorTOTP, mfa.ErrTOTPNotExisting, false, func(e *testEnv, u string) string {
		e.readyTOTP(u)
		f, _ := e.factorOf(u, mfa.FactorTOTP)
		return f.ID
	}},
	{mfa.FactorU2F, mfa.ErrU2FNotFound, false, func(e *testEnv, u string) string {
		return e.enrollU2F(u, newSecurityKey(testRPID), "key")
	}},
	{mfa.FactorOTPSMS, mfa.ErrOTPSMSNotExisting, true, func(e *testEnv, u string) string {
		id, _, err := e.svc.AddOTPSMS(e.admin, "", u)
		if err != nil {
			e.t.Fatalf("AddOTPSMS: %v", err)
		}
		return id
	}},
	{mfa.FactorOTPEmail, mfa.ErrOTPEmailNotExisting, true, func(e *testEnv, u string) string {
		id, _, err := e.svc.AddOTPEmail(e.admin, "", u)
		if err != nil {
			e.t.Fatalf("AddOTPEmail: %v", err)
		}
		return id
	}},
}

func TestRemoveFactor(t *testing.T) {
	for _, fk := range factorKinds {
		t.Run(string(fk.kind), func(t *testing.T) {
			// ref names the factor as the vendor APIs do: U2F by id, the
			// others by kind alone.
			ref := func(userID, id string) mfa.FactorRef {
				if fk.kind != mfa.FactorU2F {
					id = ""
				}
				return mfa.FactorRef{UserID: userID, Kind: fk.kind, ID: id}
			}

			t.Run("success, then NotFound", func(t *testing.T) {
				e := newTestEnv(t)
				org := e.org()
				user := e.human(org, withVerifiedPhone)
				id := fk.give(e, user)
				seq := e.seq("user", user)

				d, err := e.svc.RemoveFactor(e.admin, "", ref(user, id))
				if err != nil {
					t.Fatalf("RemoveFactor: %v", err)
				}
				want := mfa.Details{ID: user, Sequence: seq + 1, EventDate: e.clock.Now(), ResourceOwner: org}
				if d != want {
					t.Fatalf("details = %+v, want %+v", d, want)
				}
				if _, ok := e.factorOf(user, fk.kind); ok {
					t.Fatalf("factor still listed")
				}

				_, err = e.svc.RemoveFactor(e.admin, "", ref(user, id))
				wantErr(t, err, fk.notFound)
				if e.seq("user", user) != seq+1 {
					t.Fatalf("a failed removal wrote an event")
				}
			})

			t.Run("org context of another org", func(t *testing.T) {
				e := newTestEnv(t)
				orgA, orgB := e.org(), e.org()
				user := e.human(orgA, withVerifiedPhone)
				id := fk.give(e, user)
				// A manager of both organizations passes every permission check.
				both := e.human(orgB)
				e.member(orgA, both, "ORG_USER_MANAGER")
				e.member(orgB, both, "ORG_USER_MANAGER")
				// A manager of the user's organization only.
				managerA := e.human(orgA)
				e.member(orgA, managerA, "ORG_USER_MANAGER")

				_, err := e.svc.RemoveFactor(e.admin, orgB, ref(user, id))
				wantErr(t, err, fk.notFound)
				_, err = e.svc.RemoveFactor(e.as(both, orgB), orgB, ref(user, id))
				wantErr(t, err, fk.notFound)
				_, err = e.svc.RemoveFactor(e.as(managerA, orgA), orgB, ref(user, id))
				if fk.permissionFirst {
					wantErr(t, err, mfa.ErrNoMembership) // checked against the context org
				} else {
					wantErr(t, err, fk.notFound)
				}
				// In the right context it works.
				noErr(t, errOf(e.svc.RemoveFactor(e.as(managerA, orgA), orgA, ref(user, id))))
			})

			t.Run("caller without user.write", func(t *testing.T) {
				e := newTestEnv(t)
				orgA, orgB := e.org(), e.org()
				user := e.human(orgA, withVerifiedPhone)
				stranger := e.human(orgB) // manages another org only
				e.member(orgB, stranger, "ORG_USER_MANAGER")
				viewer := e.human(orgA) // has a role in the user's org, but no user.write
				e.member(orgA, viewer, "ORG_OWNER_VIEWER")

				// No factor yet.
				_, err := e.svc.RemoveFactor(e.as(stranger, orgB), "", ref(user, "404"))
				if fk.permissionFirst {
					wantErr(t, err, mfa.ErrNoMembership)
				} else {
					wantErr(t, err, fk.notFound)
				}
				_, err = e.svc.RemoveFactor(e.as(viewer, orgA), "", ref(user, "404"))
				if fk.permissionFirst {
					wantErr(t, err, mfa.ErrNoPermissionCmd)
				} else {
					wantErr(t, err, fk.notFound)
				}

				id := fk.give(e, user)
				_, err = e.svc.RemoveFactor(e.as(stranger, orgB), "", ref(user, id))
				wantErr(t, err, mfa.ErrNoMembership)
				_, err = e.svc.RemoveFactor(e.as(viewer, orgA), "", ref(user, id))
				wantErr(t, err, mfa.ErrNoPermissionCmd)
				if _, ok := e.factorOf(user, fk.kind); !ok {
					t.Fatalf("factor removed without permission")
				}
			})

			t.Run("self-removal needs no role", func(t *testing.T) {
				e := newTestEnv(t)
				org := e.org()
				user := e.human(org, withVerifiedPhone)
				id := fk.give(e, user)
				d, err := e.svc.RemoveFactor(e.as(user, org), org, ref(user, id))
				if err != nil {
					t.Fatalf("self-removal: %v", err)
				}
				if d.ResourceOwner != org {
					t.Fatalf("resource owner = %q, want %q", d.ResourceOwner, org)
				}
			})

			t.Run("unknown user", func(t *testing.T) {
				e := newTestEnv(t)
				_, err := e.svc.RemoveFactor(e.admin, "", ref("404", "404"))
				if fk.permissionFirst {
					wantErr(t, err, mfa.ErrOTPUserNotFound) // no org to check permission in
				} else {
					wantErr(t, err, fk.notFound)
				}
				_, err = e.svc.RemoveFactor(e.admin, e.boot.OrgID, ref("404", "404"))
				wantErr(t, err, fk.notFound)
			})
		})
	}

	t.Run("U2F needs the right id", func(t *testing.T) {
		e := newTestEnv(t)
		user := e.human(e.org())
		id := e.enrollU2F(user, newSecurityKey(testRPID), "key")
		for _, wrong := range []string{"", "404", id + "0"} {
			_, err := e.svc.RemoveFactor(e.admin, "", mfa.FactorRef{UserID: user, Kind: mfa.FactorU2F, ID: wrong})
			wantErr(t, err, mfa.ErrU2FNotFound)
		}
		noErr(t, errOf(e.svc.RemoveFactor(e.admin, "", mfa.FactorRef{UserID: user, Kind: mfa.FactorU2F, ID: id})))
	})

	t.Run("removing one U2F key keeps the other", func(t *testing.T) {
		e := newTestEnv(t)
		user := e.human(e.org())
		first := e.enrollU2F(user, newSecurityKey(testRPID), "first")
		second := e.enrollU2F(user, newSecurityKey(testRPID), "second")
		noErr(t, errOf(e.svc.RemoveFactor(e.admin, "", mfa.FactorRef{UserID: user, Kind: mfa.FactorU2F, ID: first})))
		fs := e.factors(user)
		if len(fs) != 1 || fs[0].ID != second {
			t.Fatalf("factors = %+v, want only %s", fs, second)
		}
	})

	t.Run("a not yet verified factor can be removed", func(t *testing.T) {
		e := newTestEnv(t)
		user := e.human(e.org())
		must3(t)(e.svc.RegisterTOTP(e.admin, "", user))
		noErr(t, errOf(e.svc.RemoveFactor(e.admin, "", mfa.FactorRef{UserID: user, Kind: mfa.FactorTOTP})))
	})

	t.Run("unknown kind", func(t *testing.T) {
		e := newTestEnv(t)
		_, err := e.svc.RemoveFactor(e.admin, "", mfa.FactorRef{UserID: e.boot.AdminUserID, Kind: "password"})
		if mfa.KindOf(err) != mfa.KindInvalidArgument {
			t.Fatalf("error = %v, want invalid argument", err)
		}
	})
}

func TestRemoveFactorRace(t *testing.T) {
	e := newTestEnv(t)
	user := e.human(e.org())
	e.readyTOTP(user)
	seq := e.seq("user", user)

	const n = 32
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = e.svc.RemoveFactor(e.admin, "", mfa.FactorRef{UserID: user, Kind: mfa.FactorTOTP})
		})
	}
	close(start)
	wg.Wait()

	var ok, notFound int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, mfa.ErrTOTPNotExisting):
			notFound++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 || notFound != n-1 {
		t.Fatalf("%d successes and %d NotFound, want 1 and %d", ok, notFound, n-1)
	}
	if got := e.seq("user", user); got != seq+1 {
		t.Fatalf("user sequence = %d, want %d (one removal event)", got, seq+1)
	}
	events := must(e.store.Load(context.Background(), "user", user, seq))
	if len(events) != 1 || events[0].Type != mfa.EventTOTPRemoved {
		t.Fatalf("events after the race = %+v", events)
	}
}
