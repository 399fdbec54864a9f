package mfa_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server/mfa"
)

func TestTOTPEnrolment(t *testing.T) {
	t.Run("register then verify makes the factor ready", func(t *testing.T) {
		e := newTestEnv(t)
		user := e.human(e.org())

		reg, d, err := e.svc.RegisterTOTP(e.admin, "", user)
		if err != nil {
			t.Fatalf("RegisterTOTP: %v", err)
		}
		if reg.ID == "" || reg.Secret == "" || !strings.HasPrefix(reg.URI, "otpauth://totp/") {
			t.Fatalf("registration = %+v", reg)
		}
		if d.Sequence != e.seq("user", user) {
			t.Fatalf("details sequence = %d, want %d", d.Sequence, e.seq("user", user))
		}
		if f, _ := e.factorOf(user, mfa.FactorTOTP); f.State != mfa.FactorNotReady || f.ID != reg.ID {
			t.Fatalf("after register: factor = %+v, want NOT_READY %s", f, reg.ID)
		}

		d, err = e.svc.VerifyTOTP(e.admin, "", user, reg.ID, e.totpCode(reg.Secret))
		if err != nil {
			t.Fatalf("VerifyTOTP: %v", err)
		}
		if f, _ := e.factorOf(user, mfa.FactorTOTP); f.State != mfa.FactorReady {
			t.Fatalf("after verify: factor = %+v, want READY", f)
		}
		if !d.EventDate.Equal(e.clock.Now()) || !d.CreationDate.IsZero() {
			t.Fatalf("details = %+v, want event date %v and no creation date", d, e.clock.Now())
		}
	})

	t.Run("a code one period old is still accepted", func(t *testing.T) {
		e := newTestEnv(t)
		user := e.human(e.org())
		reg := must3(t)(e.svc.RegisterTOTP(e.admin, "", user))
		code := e.totpCode(reg.Secret)
		e.clock.Advance(30 * time.Second)
		if _, err := e.svc.VerifyTOTP(e.admin, "", user, "", code); err != nil {
			t.Fatalf("VerifyTOTP with last period's code: %v", err)
		}
	})

	t.Run("wrong code", func(t *testing.T) {
		e := newTestEnv(t)
		user := e.human(e.org())
		reg := must3(t)(e.svc.RegisterTOTP(e.admin, "", user))
		_, err := e.svc.VerifyTOTP(e.admin, "", user, reg.ID, wrongCode(t, e, reg.Secret))
		wantErr(t, err, mfa.ErrInvalidCode)
		if f, _ := e.factorOf(user, mfa.FactorTOTP); f.State != mfa.FactorNotReady {
			t.Fatalf("factor = %+v, want still NOT_READY", f)
		}
	})

	t.Run("verify without registration", func(t *testing.T) {
		e := newTestEnv(t)
		user := e.human(e.org())
		_, err := e.svc.VerifyTOTP(e.admin, "", user, "", "123456")
		wantErr(t, err, mfa.ErrTOTPNotStarted)
	})

	t.Run("verify again, register again", func(t *testing.T) {
		e := newTestEnv(t)
		user := e.human(e.org())
		reg := must3(t)(e.svc.RegisterTOTP(e.admin, "", user))
		noErr(t, errOf(e.svc.VerifyTOTP(e.admin, "", user, reg.ID, e.totpCode(reg.Secret))))

		_, err := e.svc.VerifyTOTP(e.admin, "", user, reg.ID, e.totpCode(reg.Secret))
		wantErr(t, err, mfa.ErrTOTPVerified)
		_, _, err = e.svc.RegisterTOTP(e.admin, "", user)
		wantErr(t, err, mfa.ErrTOTPAlreadyReady)
	})

	t.Run("a new registration replaces an unverified one", func(t *testing.T) {
		e := newTestEnv(t)
		user := e.human(e.org())
		first := must3(t)(e.svc.RegisterTOTP(e.admin, "", user))
		second := must3(t)(e.svc.RegisterTOTP(e.admin, "", user))
		_, err := e.svc.VerifyTOTP(e.admin, "", user, first.ID, e.totpCode(second.Secret))
		wantErr(t, err, mfa.ErrTOTPNotStarted)
		noErr(t, errOf(e.svc.VerifyTOTP(e.admin, "", user, second.ID, e.totpCode(second.Secret))))
		if n := len(e.factors(user)); n != 1 {
			t.Fatalf("%d factors, want 1", n)
		}
	})

	t.Run("the secret is stored sealed only", func(t *testing.T) {
		e := newTestEnv(t)
		user := e.human(e.org())
		reg := must3(t)(e.svc.RegisterTOTP(e.admin, "", user))
		noErr(t, errOf(e.svc.VerifyTOTP(e.admin, "", user, reg.ID, e.totpCode(reg.Secret))))

		ctx := context.Background()
		secret := []byte(reg.Secret)
		events := must(e.store.Load(ctx, "user", user, 0))
		sawSealed := false
		for _, ev := range events {
			if bytes.Contains(ev.Payload, secret) {
				t.Fatalf("event %s payload contains the plain secret: %s", ev.Type, ev.Payload)
			}
			if ev.Type == mfa.EventTOTPAdded && bytes.Contains(ev.Payload, []byte(`"secret":"v1.`)) {
				sawSealed = true
			}
		}
		if !sawSealed {
			t.Fatalf("no %s event with a sealed secret", mfa.EventTOTPAdded)
		}
		doc := must(e.store.Get(ctx, "user", user))
		if bytes.Contains(doc.Data, secret) {
			t.Fatalf("stored user document contains the plain secret")
		}
	})

	t.Run("permission: self allowed, other org's manager not", func(t *testing.T) {
		e := newTestEnv(t)
		orgA, orgB := e.org(), e.org()
		user := e.human(orgA)
		stranger := e.human(orgB)
		e.member(orgB, stranger, "ORG_USER_MANAGER")

		_, _, err := e.svc.RegisterTOTP(e.as(stranger, orgB), "", user)
		wantErr(t, err, mfa.ErrNoMembership)
		_, _, err = e.svc.RegisterTOTP(e.admin, orgB, user) // user outside the org context
		wantErr(t, err, mfa.ErrUserNotFoundPrecond)
		reg := must3(t)(e.svc.RegisterTOTP(e.as(user, orgA), "", user))
		noErr(t, errOf(e.svc.VerifyTOTP(e.as(user, orgA), orgA, user, reg.ID, e.totpCode(reg.Secret))))
	})
}

// wrongCode returns a six-digit code that is valid in none of the accepted
// periods.
func wrongCode(t *testing.T, e *testEnv, secret string) string {
	t.Helper()
	valid := map[string]bool{}
	for _, off := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		e.clock.Advance(off)
		valid[e.totpCode(secret)] = true
		e.clock.Advance(-off)
	}
	for n := 0; ; n++ {
		c := fmt.Sprintf("%06d", n)
		if !valid[c] {
			return c
		}
	}
}

func TestOTPSMSAndEmail(t *testing.T) {
	t.Run("SMS needs a verified phone", func(t *testing.T) {
		e := newTestEnv(t)
		org := e.org()
		for _, opts := range [][]humanOpt{nil, {withUnverifiedPhone}} {
			user := e.human(org, opts...)
			_, _, err := e.svc.AddOTPSMS(e.admin, "", user)
			wantErr(t, err, mfa.ErrPhoneNotVerified)
		}
	})

	t.Run("email needs a verified email", func(t *testing.T) {
		e := newTestEnv(t)
		user := e.human(e.org(), withUnverifiedEmail)
		_, _, err := e.svc.AddOTPEmail(e.admin, "", user)
		wantErr(t, err, mfa.ErrEmailNotVerified)
	})

	tests := []struct {
		kind   mfa.FactorKind
		add    func(*mfa.Service, context.Context, string, string, ...mfa.FactorOption) (string, mfa.Details, error)
		exists error
	}{
		{mfa.FactorOTPSMS, (*mfa.Service).AddOTPSMS, mfa.ErrOTPSMSExists},
		{mfa.FactorOTPEmail, (*mfa.Service).AddOTPEmail, mfa.ErrOTPEmailExists},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind)+" added ready, once", func(t *testing.T) {
			e := newTestEnv(t)
			org := e.org()
			user := e.human(org, withVerifiedPhone)
			id, d, err := tt.add(e.svc, e.as(user, org), "", user) // self: no role needed
			if err != nil {
				t.Fatalf("add: %v", err)
			}
			if d.ResourceOwner != org || d.Sequence != e.seq("user", user) {
				t.Fatalf("details = %+v", d)
			}
			if f, ok := e.factorOf(user, tt.kind); !ok || f.State != mfa.FactorReady || f.ID != id {
				t.Fatalf("factor = %+v (found %v), want READY %s", f, ok, id)
			}
			_, _, err = tt.add(e.svc, e.admin, "", user)
			wantErr(t, err, tt.exists)
		})
	}

	t.Run("unknown user", func(t *testing.T) {
		e := newTestEnv(t)
		_, _, err := e.svc.AddOTPSMS(e.admin, "", "404")
		wantErr(t, err, mfa.ErrUserNotFound)
	})
}

// must3 unwraps a (value, Details, error) result.
func must3(t *testing.T) func(reg mfa.TOTPRegistration, _ mfa.Details, err error) mfa.TOTPRegistration {
	return func(reg mfa.TOTPRegistration, _ mfa.Details, err error) mfa.TOTPRegistration {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return reg
	}
}

// A factor may carry its owner's name for it (OneLogin's display_name):
// kept as given, through verification, at most 255 characters; a longer one
// is InvalidArgument and writes nothing. A code-proven OTP registration
// takes none.
func TestFactorNames(t *testing.T) {
	e := newTestEnv(t)
	org := e.org()
	user := e.human(org, withVerifiedPhone)
	ctx := e.as(user, org)

	long := strings.Repeat("é", mfa.MaxFactorName+1)
	before := e.seq("user", user)
	if _, _, err := e.svc.RegisterTOTP(ctx, "", user, mfa.Named(long)); mfa.KindOf(err) != mfa.KindInvalidArgument {
		t.Fatalf("RegisterTOTP with a 256-character name: %v, want InvalidArgument", err)
	}
	if _, _, err := e.svc.AddOTPSMS(ctx, "", user, mfa.Named(long)); mfa.KindOf(err) != mfa.KindInvalidArgument {
		t.Fatalf("AddOTPSMS with a 256-character name: %v, want InvalidArgument", err)
	}
	if _, _, err := e.svc.AddOTPEmailAuthenticator(e.admin, "", user, "ada@example.org", mfa.ProofReturnCode, mfa.Named("Mail")); mfa.KindOf(err) != mfa.KindInvalidArgument {
		t.Fatalf("a named registration proven by a code: %v, want InvalidArgument", err)
	}
	if got := e.seq("user", user); got != before {
		t.Fatalf("refused calls wrote events: sequence %d → %d", before, got)
	}

	reg, _, err := e.svc.RegisterTOTP(ctx, "", user, mfa.Named("Phone app"))
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := e.factorOf(user, mfa.FactorTOTP); f.Name != "Phone app" || f.State != mfa.FactorNotReady {
		t.Fatalf("pending TOTP = %+v, want named \"Phone app\"", f)
	}
	if _, err := e.svc.VerifyTOTP(ctx, "", user, reg.ID, e.totpCode(reg.Secret)); err != nil {
		t.Fatal(err)
	}
	if f, _ := e.factorOf(user, mfa.FactorTOTP); f.Name != "Phone app" || f.State != mfa.FactorReady {
		t.Fatalf("verified TOTP = %+v, want the name kept", f)
	}
	if _, _, err := e.svc.AddOTPSMS(ctx, "", user, mfa.Named(strings.Repeat("é", mfa.MaxFactorName))); err != nil {
		t.Fatal(err)
	}
	if f, _ := e.factorOf(user, mfa.FactorOTPSMS); f.Name != strings.Repeat("é", mfa.MaxFactorName) {
		t.Fatalf("OTP SMS = %+v, want the 255-character name", f)
	}
	if _, _, err := e.svc.AddOTPEmailAuthenticator(e.admin, "", user, "ada@example.org", mfa.ProofVerified, mfa.Named("Mail")); err != nil {
		t.Fatal(err)
	}
	if f, _ := e.factorOf(user, mfa.FactorOTPEmail); f.Name != "Mail" {
		t.Fatalf("OTP email = %+v, want named \"Mail\"", f)
	}
}
