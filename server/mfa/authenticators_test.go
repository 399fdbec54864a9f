package mfa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server/mfa"
)

// otpAuthenticator describes one of the two OTP kinds of the v3alpha
// resource API for the table tests below.
type otpAuthenticator struct {
	kind         mfa.FactorKind
	target       string // a new phone or address for the registration
	add          func(*mfa.Service, context.Context, string, string, string, mfa.OTPProof, ...mfa.FactorOption) (mfa.OTPRegistration, mfa.Details, error)
	verify       func(*mfa.Service, context.Context, string, string, string, string) (mfa.Details, error)
	notFound     error
	exists       error
	alreadyReady error
	// contact returns the user's phone or email as stored, and whether it
	// is verified.
	contact func(h humanDoc) (string, bool)
}

var otpAuthenticators = []otpAuthenticator{
	{
		kind: mfa.FactorOTPSMS, target: "+41 79 765 43 21",
		add: (*mfa.Service).AddOTPSMSAuthenticator, verify: (*mfa.Service).VerifyOTPSMSRegistration,
		notFound: mfa.ErrOTPSMSNotExisting, exists: mfa.ErrOTPSMSExists, alreadyReady: mfa.ErrOTPSMSAlreadyReady,
		contact: func(h humanDoc) (string, bool) { return h.Phone, h.PhoneVerified },
	},
	{
		kind: mfa.FactorOTPEmail, target: "new-address@example.org",
		add: (*mfa.Service).AddOTPEmailAuthenticator, verify: (*mfa.Service).VerifyOTPEmailRegistration,
		notFound: mfa.ErrOTPEmailNotExisting, exists: mfa.ErrOTPEmailExists, alreadyReady: mfa.ErrOTPEmailAlreadyReady,
		contact: func(h humanDoc) (string, bool) { return h.Email, h.EmailVerified },
	},
}

// normalized is the target as the core stores it.
func (k otpAuthenticator) normalized() string {
	if k.kind == mfa.FactorOTPSMS {
		return "+41797654321"
	}
	return k.target
}

// humanDoc is the part of the stored user document the tests read.
type humanDoc struct {
	Email         string `json:"email"`
	EmailVerified bool   `json:"emailVerified"`
	Phone         string `json:"phone"`
	PhoneVerified bool   `json:"phoneVerified"`
}

func (e *testEnv) humanDoc(userID string) humanDoc {
	e.t.Helper()
	doc := must(e.store.Get(context.Background(), "user", userID))
	var u struct {
		Human humanDoc `json:"human"`
	}
	if err := json.Unmarshal(doc.Data, &u); err != nil {
		e.t.Fatal(err)
	}
	return u.Human
}

// replayMatches fails unless folding the user's events again gives the
// stored document.
func (e *testEnv) replayMatches(userID string) {
	e.t.Helper()
	replayed, stored, err := e.svc.Replay(context.Background(), "user", userID)
	noErr(e.t, err)
	var r, s map[string]any
	noErr(e.t, json.Unmarshal(replayed, &r))
	noErr(e.t, json.Unmarshal(stored, &s))
	if !reflect.DeepEqual(r, s) {
		e.t.Fatalf("replayed document differs from the stored one\nreplayed: %s\nstored:   %s", replayed, stored)
	}
}

// otpReg unwraps an (OTPRegistration, Details, error) result.
func otpReg(t *testing.T) func(mfa.OTPRegistration, mfa.Details, error) mfa.OTPRegistration {
	return func(reg mfa.OTPRegistration, _ mfa.Details, err error) mfa.OTPRegistration {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return reg
	}
}

// otherCode returns a well-formed code that is not code.
func otherCode(code string) string {
	if code == "00000000" {
		return "11111111"
	}
	return "00000000"
}

func TestOTPAuthenticators(t *testing.T) {
	for _, k := range otpAuthenticators {
		t.Run(string(k.kind), func(t *testing.T) {
			t.Run("return_code: added NOT_READY, verified with the code", func(t *testing.T) {
				// Given a person with a verified phone and email.
				e := newTestEnv(t)
				org := e.org()
				user := e.human(org, withVerifiedPhone)

				// When an OTP authenticator is added with the code returned.
				reg, d, err := k.add(e.svc, e.admin, org, user, k.target, mfa.ProofReturnCode)
				noErr(t, err)

				// Then the code has 8 digits, the factor waits, and the
				// contact is unchanged until the code is proven.
				if !regexp.MustCompile(`^[0-9]{8}$`).MatchString(reg.Code) || reg.Ready || reg.ID == "" {
					t.Fatalf("registration = %+v, want an 8-digit code, not ready", reg)
				}
				want := mfa.Details{ID: reg.ID, Sequence: e.seq("user", user), EventDate: e.clock.Now(), CreationDate: e.clock.Now(), ResourceOwner: org}
				if d != want {
					t.Fatalf("details = %+v, want %+v", d, want)
				}
				if f, _ := e.factorOf(user, k.kind); f.State != mfa.FactorNotReady || f.ID != reg.ID {
					t.Fatalf("factor = %+v, want NOT_READY %s", f, reg.ID)
				}
				if got, _ := k.contact(e.humanDoc(user)); got == k.normalized() {
					t.Fatalf("contact changed before verification")
				}

				// When a wrong code is tried, then it is refused and nothing
				// becomes ready.
				_, err = k.verify(e.svc, e.admin, org, user, reg.ID, otherCode(reg.Code))
				wantErr(t, err, mfa.ErrInvalidCode)
				if f, _ := e.factorOf(user, k.kind); f.State != mfa.FactorNotReady {
					t.Fatalf("factor = %+v after a wrong code", f)
				}

				// When the right code is given a minute later.
				e.clock.Advance(time.Minute)
				d, err = k.verify(e.svc, e.admin, org, user, reg.ID, reg.Code)
				noErr(t, err)

				// Then the factor is ready and the contact is verified.
				want = mfa.Details{ID: reg.ID, Sequence: e.seq("user", user), EventDate: e.clock.Now(), CreationDate: e.clock.Now().Add(-time.Minute), ResourceOwner: org}
				if d != want {
					t.Fatalf("verify details = %+v, want %+v", d, want)
				}
				if f, _ := e.factorOf(user, k.kind); f.State != mfa.FactorReady || f.ID != reg.ID {
					t.Fatalf("factor = %+v, want READY %s", f, reg.ID)
				}
				if got, verified := k.contact(e.humanDoc(user)); got != k.normalized() || !verified {
					t.Fatalf("contact = %q (verified %v), want %q verified", got, verified, k.normalized())
				}
				methods := must(e.svc.AuthMethods(e.admin, "", user))
				if len(methods) != 1 || methods[0] != mfa.AuthMethod(k.kind) {
					t.Fatalf("auth methods = %v, want [%s]", methods, k.kind)
				}

				// And verifying again, or adding again, is refused.
				_, err = k.verify(e.svc, e.admin, org, user, reg.ID, reg.Code)
				wantErr(t, err, k.alreadyReady)
				_, _, err = k.add(e.svc, e.admin, org, user, k.target, mfa.ProofReturnCode)
				wantErr(t, err, k.exists)
				e.replayMatches(user)
			})

			t.Run("the code is stored only as a keyed digest", func(t *testing.T) {
				e := newTestEnv(t)
				user := e.human(e.org())
				reg := otpReg(t)(k.add(e.svc, e.admin, "", user, k.target, mfa.ProofReturnCode))

				ctx := context.Background()
				code := []byte(reg.Code)
				for _, ev := range must(e.store.Load(ctx, "user", user, 0)) {
					if bytes.Contains(ev.Payload, code) {
						t.Fatalf("event %s payload contains the plain code: %s", ev.Type, ev.Payload)
					}
				}
				if doc := must(e.store.Get(ctx, "user", user)); bytes.Contains(doc.Data, code) || !bytes.Contains(doc.Data, []byte(`"codeDigest":"h1.`)) {
					t.Fatalf("stored document: %s", doc.Data)
				}
			})

			t.Run("send_code: no code in the answer, NOT_READY", func(t *testing.T) {
				e := newTestEnv(t)
				user := e.human(e.org())
				reg := otpReg(t)(k.add(e.svc, e.admin, "", user, k.target, mfa.ProofSendCode))
				if reg.Code != "" || reg.Ready {
					t.Fatalf("registration = %+v, want no code, not ready", reg)
				}
				if f, _ := e.factorOf(user, k.kind); f.State != mfa.FactorNotReady {
					t.Fatalf("factor = %+v, want NOT_READY", f)
				}
				events := must(e.store.Load(context.Background(), "user", user, 0))
				last := events[len(events)-1]
				if bytes.Contains(last.Payload, []byte("codeReturned")) {
					t.Fatalf("%s payload says the code was returned: %s", last.Type, last.Payload)
				}
				// A guessed code fails (with odds of 1 in 10^8 of a match).
				_, err := k.verify(e.svc, e.admin, "", user, reg.ID, "12345678")
				wantErr(t, err, mfa.ErrInvalidCode)
			})

			t.Run("is_verified: ready at once, the contact set verified", func(t *testing.T) {
				// Given a person with an unverified email and no phone.
				e := newTestEnv(t)
				org := e.org()
				user := e.human(org, withUnverifiedEmail)

				reg, d, err := k.add(e.svc, e.admin, org, user, k.target, mfa.ProofVerified)
				noErr(t, err)
				if !reg.Ready || reg.Code != "" || d.ID != reg.ID || d.Sequence != e.seq("user", user) {
					t.Fatalf("registration = %+v, details %+v", reg, d)
				}
				if f, _ := e.factorOf(user, k.kind); f.State != mfa.FactorReady || f.ID != reg.ID {
					t.Fatalf("factor = %+v, want READY %s", f, reg.ID)
				}
				if got, verified := k.contact(e.humanDoc(user)); got != k.normalized() || !verified {
					t.Fatalf("contact = %q (verified %v), want %q verified", got, verified, k.normalized())
				}
				// The v2 call sees the verified contact: it answers "exists",
				// not "not verified".
				add := (*mfa.Service).AddOTPSMS
				if k.kind == mfa.FactorOTPEmail {
					add = (*mfa.Service).AddOTPEmail
				}
				_, _, err = add(e.svc, e.admin, "", user)
				wantErr(t, err, k.exists)
				e.replayMatches(user)
			})

			t.Run("is_verified needs user.write, even for oneself; codes do not", func(t *testing.T) {
				e := newTestEnv(t)
				org := e.org()
				user := e.human(org)
				viewer := e.human(org)
				e.member(org, viewer, "ORG_OWNER_VIEWER")
				manager := e.human(org)
				e.member(org, manager, "ORG_USER_MANAGER")

				_, _, err := k.add(e.svc, e.as(user, org), "", user, k.target, mfa.ProofVerified)
				wantErr(t, err, mfa.ErrNoMembership) // no role at all
				_, _, err = k.add(e.svc, e.as(viewer, org), "", user, k.target, mfa.ProofVerified)
				wantErr(t, err, mfa.ErrNoPermissionCmd)
				if _, ok := e.factorOf(user, k.kind); ok {
					t.Fatalf("a factor was added without permission")
				}

				// Oneself with a code: allowed.
				reg := otpReg(t)(k.add(e.svc, e.as(user, org), "", user, k.target, mfa.ProofReturnCode))
				noErr(t, errOf(k.verify(e.svc, e.as(user, org), "", user, reg.ID, reg.Code)))
				// A manager may vouch for another user.
				other := e.human(org)
				otpReg(t)(k.add(e.svc, e.as(manager, org), "", other, k.target, mfa.ProofVerified))
			})

			t.Run("expired code", func(t *testing.T) {
				e := newTestEnv(t)
				user := e.human(e.org())
				reg := otpReg(t)(k.add(e.svc, e.admin, "", user, k.target, mfa.ProofReturnCode))
				e.clock.Advance(10 * time.Minute)
				_, err := k.verify(e.svc, e.admin, "", user, reg.ID, reg.Code)
				wantErr(t, err, mfa.ErrOTPCodeExpired)
				// A new registration gives a fresh code, valid until just
				// before its ten minutes are over.
				reg = otpReg(t)(k.add(e.svc, e.admin, "", user, k.target, mfa.ProofReturnCode))
				e.clock.Advance(10*time.Minute - time.Second)
				noErr(t, errOf(k.verify(e.svc, e.admin, "", user, reg.ID, reg.Code)))
			})

			t.Run("five wrong codes use the registration up", func(t *testing.T) {
				e := newTestEnv(t)
				user := e.human(e.org())
				reg := otpReg(t)(k.add(e.svc, e.admin, "", user, k.target, mfa.ProofReturnCode))
				for range 5 {
					_, err := k.verify(e.svc, e.admin, "", user, reg.ID, otherCode(reg.Code))
					wantErr(t, err, mfa.ErrInvalidCode)
				}
				_, err := k.verify(e.svc, e.admin, "", user, reg.ID, reg.Code)
				wantErr(t, err, mfa.ErrOTPCodeExhausted)
				e.replayMatches(user)
			})

			t.Run("a new registration replaces a pending one", func(t *testing.T) {
				e := newTestEnv(t)
				user := e.human(e.org())
				first := otpReg(t)(k.add(e.svc, e.admin, "", user, k.target, mfa.ProofReturnCode))
				second := otpReg(t)(k.add(e.svc, e.admin, "", user, k.target, mfa.ProofReturnCode))
				_, err := k.verify(e.svc, e.admin, "", user, first.ID, first.Code)
				wantErr(t, err, k.notFound)
				noErr(t, errOf(k.verify(e.svc, e.admin, "", user, second.ID, second.Code)))
				if n := len(e.factors(user)); n != 1 {
					t.Fatalf("%d factors, want 1", n)
				}
			})

			t.Run("the v2 call replaces a pending registration", func(t *testing.T) {
				e := newTestEnv(t)
				user := e.human(e.org(), withVerifiedPhone)
				pending := otpReg(t)(k.add(e.svc, e.admin, "", user, k.target, mfa.ProofReturnCode))
				add := (*mfa.Service).AddOTPSMS
				if k.kind == mfa.FactorOTPEmail {
					add = (*mfa.Service).AddOTPEmail
				}
				id := must(errFree(add(e.svc, e.admin, "", user)))
				fs := e.factors(user)
				if len(fs) != 1 || fs[0].ID != id || fs[0].State != mfa.FactorReady {
					t.Fatalf("factors = %+v, want only READY %s", fs, id)
				}
				_, err := k.verify(e.svc, e.admin, "", user, pending.ID, pending.Code)
				wantErr(t, err, k.notFound)
				e.replayMatches(user)
			})

			t.Run("not found: wrong id, other organization, unknown user", func(t *testing.T) {
				e := newTestEnv(t)
				orgA, orgB := e.org(), e.org()
				user := e.human(orgA)
				reg := otpReg(t)(k.add(e.svc, e.admin, orgA, user, k.target, mfa.ProofReturnCode))

				_, err := k.verify(e.svc, e.admin, orgA, user, reg.ID+"0", reg.Code)
				wantErr(t, err, k.notFound)
				_, err = k.verify(e.svc, e.admin, orgB, user, reg.ID, reg.Code)
				wantErr(t, err, k.notFound)
				_, _, err = k.add(e.svc, e.admin, orgB, user, k.target, mfa.ProofReturnCode)
				wantErr(t, err, k.notFound)
				_, _, err = k.add(e.svc, e.admin, "", "404", k.target, mfa.ProofReturnCode)
				wantErr(t, err, k.notFound)
				// Removal by a wrong id, or outside the organization.
				for _, c := range []struct{ org, id string }{{orgA, reg.ID + "0"}, {orgB, reg.ID}, {orgA, ""}} {
					_, err = e.svc.RemoveAuthenticator(e.admin, c.org, mfa.FactorRef{UserID: user, Kind: k.kind, ID: c.id})
					wantErr(t, err, k.notFound)
				}
				_, err = e.svc.RemoveFactor(e.admin, "", mfa.FactorRef{UserID: user, Kind: k.kind, ID: reg.ID + "0"})
				wantErr(t, err, k.notFound)
				_, err = e.svc.RemoveAuthenticator(e.admin, "", mfa.FactorRef{UserID: "404", Kind: k.kind, ID: "1"})
				wantErr(t, err, k.notFound)

				// The right id, in the right organization.
				d, err := e.svc.RemoveAuthenticator(e.admin, orgA, mfa.FactorRef{UserID: user, Kind: k.kind, ID: reg.ID})
				noErr(t, err)
				if d.ID != reg.ID || d.Sequence != e.seq("user", user) || d.ResourceOwner != orgA {
					t.Fatalf("removal details = %+v", d)
				}
				if _, ok := e.factorOf(user, k.kind); ok {
					t.Fatalf("factor still listed")
				}
			})

			t.Run("invalid contact", func(t *testing.T) {
				e := newTestEnv(t)
				user := e.human(e.org())
				bad := []string{"not a number", "1", "++41", ""} // a national number is Swiss, as ZITADEL parses it
				want := mfa.ErrInvalidPhone
				if k.kind == mfa.FactorOTPEmail {
					bad = []string{"not-an-address", "Ada <ada@example.com>", ""}
					want = mfa.ErrInvalidEmail
				}
				for _, b := range bad {
					_, _, err := k.add(e.svc, e.admin, "", user, b, mfa.ProofReturnCode)
					wantErr(t, err, want)
				}
			})
		})
	}

	t.Run("a machine user has no OTP", func(t *testing.T) {
		e := newTestEnv(t)
		_, _, err := e.svc.AddOTPSMSAuthenticator(e.admin, "", e.boot.AdminUserID, "+41791234567", mfa.ProofVerified)
		wantErr(t, err, mfa.ErrUserNotHuman)
	})
}

func TestResourceTOTPAndWebAuthN(t *testing.T) {
	t.Run("TOTP: details name the factor; wrong ids and other orgs are NotFound", func(t *testing.T) {
		e := newTestEnv(t)
		orgA, orgB := e.org(), e.org()
		user := e.human(orgA)

		reg, d, err := e.svc.StartTOTPRegistration(e.admin, orgA, user)
		noErr(t, err)
		if d.ID != reg.ID || !d.CreationDate.Equal(e.clock.Now()) || d.ResourceOwner != orgA {
			t.Fatalf("start details = %+v", d)
		}
		_, _, err = e.svc.StartTOTPRegistration(e.admin, orgB, user)
		wantErr(t, err, mfa.ErrTOTPNotExisting)
		_, _, err = e.svc.StartTOTPRegistration(e.admin, "", "404")
		wantErr(t, err, mfa.ErrTOTPNotExisting)
		for _, c := range []struct{ org, id string }{{orgA, reg.ID + "0"}, {orgA, ""}, {orgB, reg.ID}} {
			_, err = e.svc.VerifyTOTPRegistration(e.admin, c.org, user, c.id, e.totpCode(reg.Secret))
			wantErr(t, err, mfa.ErrTOTPNotExisting)
		}

		e.clock.Advance(time.Minute)
		d, err = e.svc.VerifyTOTPRegistration(e.admin, orgA, user, reg.ID, e.totpCode(reg.Secret))
		noErr(t, err)
		if d.ID != reg.ID || !d.CreationDate.Equal(e.clock.Now().Add(-time.Minute)) || !d.EventDate.Equal(e.clock.Now()) {
			t.Fatalf("verify details = %+v", d)
		}
		for _, c := range []struct{ org, id string }{{orgA, reg.ID + "0"}, {orgA, ""}, {orgB, reg.ID}} {
			_, err = e.svc.RemoveAuthenticator(e.admin, c.org, mfa.FactorRef{UserID: user, Kind: mfa.FactorTOTP, ID: c.id})
			wantErr(t, err, mfa.ErrTOTPNotExisting)
		}
		d, err = e.svc.RemoveAuthenticator(e.admin, orgA, mfa.FactorRef{UserID: user, Kind: mfa.FactorTOTP, ID: reg.ID})
		noErr(t, err)
		if d.ID != reg.ID || d.Sequence != e.seq("user", user) {
			t.Fatalf("remove details = %+v", d)
		}
	})

	t.Run("WebAuthN: attachment, wrong ids, full ceremony", func(t *testing.T) {
		e := newTestEnv(t)
		orgA, orgB := e.org(), e.org()
		user := e.human(orgA)
		key := newSecurityKey(testRPID)

		reg, d, err := e.svc.StartWebAuthNRegistration(e.admin, orgA, user, "", mfa.AttachmentCrossPlatform)
		noErr(t, err)
		if d.ID != reg.ID {
			t.Fatalf("start details = %+v", d)
		}
		var opts struct {
			PublicKey struct {
				AuthenticatorSelection struct {
					AuthenticatorAttachment string `json:"authenticatorAttachment"`
				} `json:"authenticatorSelection"`
			} `json:"publicKey"`
		}
		noErr(t, json.Unmarshal(reg.Options, &opts))
		if got := opts.PublicKey.AuthenticatorSelection.AuthenticatorAttachment; got != "cross-platform" {
			t.Fatalf("authenticatorAttachment = %q", got)
		}
		_, _, err = e.svc.StartWebAuthNRegistration(e.admin, "", user, "", "usb")
		if mfa.KindOf(err) != mfa.KindInvalidArgument {
			t.Fatalf("unknown attachment: %v", err)
		}
		_, _, err = e.svc.StartWebAuthNRegistration(e.admin, orgB, user, "", mfa.AttachmentAny)
		wantErr(t, err, mfa.ErrU2FNotFound)

		cred := key.attest(t, reg.Options, nil)
		for _, c := range []struct{ org, id string }{{orgA, reg.ID + "0"}, {orgA, ""}, {orgB, reg.ID}} {
			_, err = e.svc.VerifyWebAuthNRegistration(e.admin, c.org, user, c.id, cred, "key")
			wantErr(t, err, mfa.ErrU2FNotFound)
		}
		d, err = e.svc.VerifyWebAuthNRegistration(e.admin, orgA, user, reg.ID, cred, "key")
		noErr(t, err)
		if d.ID != reg.ID || d.Sequence != e.seq("user", user) {
			t.Fatalf("verify details = %+v", d)
		}
		if f, _ := e.factorOf(user, mfa.FactorU2F); f.State != mfa.FactorReady || f.Name != "key" {
			t.Fatalf("factor = %+v", f)
		}
		noErr(t, errOf(e.svc.RemoveAuthenticator(e.admin, orgA, mfa.FactorRef{UserID: user, Kind: mfa.FactorU2F, ID: reg.ID})))
		e.replayMatches(user)
	})
}

// errFree drops the details of an (id, Details, error) result.
func errFree(id string, _ mfa.Details, err error) (string, error) { return id, err }
