package mfa_test

import (
	"context"
	"errors"
	"testing"

	"github.com/factorgate/factorgate/server/mfa"
)

func TestAddOTPWithPassword(t *testing.T) {
	newEnv := func(t *testing.T, opts ...humanOpt) (*testEnv, string, string, context.Context) {
		e := newTestEnv(t)
		org := e.org()
		name := uniqueName("cr")
		in := mfa.HumanInput{Username: name, GivenName: "A", FamilyName: "B", Email: name + "@example.com",
			EmailVerified: true, Password: "correct horse"}
		for _, o := range opts {
			o(&in)
		}
		d, err := e.svc.AddHumanUser(e.admin, org, in)
		noErr(t, err)
		app := mfa.WithPrincipal(context.Background(), &mfa.Principal{UserID: e.boot.AdminUserID, OrgID: org, Machine: true})
		return e, d.ID, name, app
	}

	t.Run("given the password and a verified phone, when an application adds SMS, then it is ready and the person is its creator", func(t *testing.T) {
		e, user, name, app := newEnv(t, withVerifiedPhone)
		seq := e.seq("user", user)
		id, d, err := e.svc.AddOTPWithPassword(app, name, "correct horse", mfa.FactorOTPSMS, "+41 79 123 45 67")
		noErr(t, err)
		if id != user || d.Sequence != seq+1 {
			t.Fatalf("user %s, details %+v", id, d)
		}
		f, ok := e.factorOf(user, mfa.FactorOTPSMS)
		if !ok || f.State != mfa.FactorReady {
			t.Fatalf("factor = %+v, %v", f, ok)
		}
		events := must(e.store.Load(context.Background(), "user", user, seq))
		if len(events) != 1 || events[0].Type != mfa.EventOTPSMSAdded || events[0].Creator != user {
			t.Fatalf("events = %+v", events)
		}
	})

	t.Run("given email, when added without an address, then it is ready", func(t *testing.T) {
		e, user, name, app := newEnv(t)
		noErr(t, errOf3(e.svc.AddOTPWithPassword(app, name, "correct horse", mfa.FactorOTPEmail, "")))
		if _, ok := e.factorOf(user, mfa.FactorOTPEmail); !ok {
			t.Fatal("no OTP email")
		}
	})

	t.Run("refusals write nothing", func(t *testing.T) {
		e, user, name, app := newEnv(t, withUnverifiedPhone)
		seq := e.seq("user", user)
		person := mfa.WithPrincipal(context.Background(), &mfa.Principal{UserID: user, OrgID: "x"})
		otherOrgApp := mfa.WithPrincipal(context.Background(), &mfa.Principal{UserID: "app", OrgID: e.org(), Machine: true})
		for _, c := range []struct {
			name    string
			ctx     context.Context
			pw      string
			kind    mfa.FactorKind
			address string
			want    error
		}{
			{"a person's token", person, "correct horse", mfa.FactorOTPEmail, "", mfa.ErrNotAnApplication},
			{"a wrong password", app, "wrong", mfa.FactorOTPEmail, "", mfa.ErrInvalidCredentials},
			{"an application of another organization", otherOrgApp, "correct horse", mfa.FactorOTPEmail, "", mfa.ErrInvalidCredentials},
			{"an unverified phone", app, "correct horse", mfa.FactorOTPSMS, "", mfa.ErrPhoneNotVerified},
			{"another email address", app, "correct horse", mfa.FactorOTPEmail, "other@example.com", mfa.ErrChannelAddress},
		} {
			_, _, err := e.svc.AddOTPWithPassword(c.ctx, name, c.pw, c.kind, c.address)
			if err == nil || !errors.Is(err, c.want) {
				t.Errorf("%s: %v, want %v", c.name, err, c.want)
			}
		}
		if got := e.seq("user", user); got != seq {
			t.Fatalf("sequence %d → %d", seq, got)
		}
	})
}

func errOf3[A, B any](_ A, _ B, err error) error { return err }
