package mfa_test

import (
	"strings"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server/mfa"
)

// A security-key registration is a ceremony with a deadline, as an OTP
// registration code is: completed within its lifetime it succeeds; after
// it, the same (otherwise valid) answer is InvalidArgument and writes
// nothing, and a new registration works.
func TestU2FRegistrationExpires(t *testing.T) {
	e := newTestEnv(t)
	user := e.human(e.org())
	key := newSecurityKey(testRPID)

	reg := must(u2fReg(e.svc.RegisterU2F(e.admin, "", user, "")))
	e.clock.Advance(mfa.U2FRegistrationLifetime)
	if _, err := e.svc.VerifyU2FRegistration(e.admin, "", user, reg.ID, key.attest(t, reg.Options, nil), "in time"); err != nil {
		t.Fatalf("verified at the end of the lifetime: %v", err)
	}

	late := must(u2fReg(e.svc.RegisterU2F(e.admin, "", user, "")))
	e.clock.Advance(mfa.U2FRegistrationLifetime + time.Second)
	before := e.seq("user", user)
	other := newSecurityKey(testRPID)
	_, err := e.svc.VerifyU2FRegistration(e.admin, "", user, late.ID, other.attest(t, late.Options, nil), "late")
	wantErr(t, err, mfa.ErrU2FInvalid)
	if got := e.seq("user", user); got != before {
		t.Fatalf("an expired ceremony wrote events: sequence %d → %d", before, got)
	}
	again := must(u2fReg(e.svc.RegisterU2F(e.admin, "", user, "")))
	noErr(t, errOf(e.svc.VerifyU2FRegistration(e.admin, "", user, again.ID, other.attest(t, again.Options, nil), "again")))
}

// ZITADEL accepts a chosen user id of up to 200 characters; WebAuthn's
// user handle holds at most 64 bytes. A longer id gets a handle derived
// from it, so such a person can enroll a key like anyone else, over every
// call that starts a ceremony.
func TestU2FLongUserIDEnrolls(t *testing.T) {
	e := newTestEnv(t)
	org := e.org()
	name := uniqueName("long")
	d, err := e.svc.AddHumanUser(e.admin, org, mfa.HumanInput{UserID: strings.Repeat("7", 200), Username: name,
		GivenName: "Ada", FamilyName: "Lovelace", Email: name + "@example.com", EmailVerified: true})
	noErr(t, err)
	e.enrollU2F(d.ID, newSecurityKey(testRPID), "long id's key")
	reg, _, err := e.svc.StartWebAuthNRegistration(e.admin, "", d.ID, "", mfa.AttachmentAny)
	noErr(t, err)
	noErr(t, errOf(e.svc.VerifyWebAuthNRegistration(e.admin, "", d.ID, reg.ID, newSecurityKey(testRPID).attest(t, reg.Options, nil), "second")))
	if n := len(e.factors(d.ID)); n != 2 {
		t.Fatalf("%d factors, want the two keys", n)
	}
}

// A credential id is registered once in the whole instance (WebAuthn §7.1:
// "registered to any user"): credential ids are public (they are sent in
// every exclude and allow list), and anyone can mint a key pair under a
// chosen one. Another user's registration of a key with that id, in any
// organization, is InvalidArgument and writes nothing. Once the key is
// removed, its id may be registered again.
func TestU2FCredentialIDRegisteredOnceAcrossUsers(t *testing.T) {
	e := newTestEnv(t)
	orgA, orgB := e.org(), e.org()
	alice, mallory := e.human(orgA), e.human(orgB)
	aliceKey := newSecurityKey(testRPID)
	aliceFactor := e.enrollU2F(alice, aliceKey, "alice's key")

	forged := newSecurityKey(testRPID)
	forged.cred.ID = append([]byte(nil), aliceKey.cred.ID...)
	self := e.as(mallory, orgB)
	reg := must(u2fReg(e.svc.RegisterU2F(self, orgB, mallory, "")))
	before := e.seq("user", mallory)
	_, err := e.svc.VerifyU2FRegistration(self, orgB, mallory, reg.ID, forged.attest(t, reg.Options, nil), "forged")
	wantErr(t, err, mfa.ErrU2FInvalid)
	if got := e.seq("user", mallory); got != before {
		t.Fatalf("the refused registration wrote events: sequence %d → %d", before, got)
	}

	noErr(t, errOf(e.svc.RemoveFactor(e.admin, orgA, mfa.FactorRef{UserID: alice, Kind: mfa.FactorU2F, ID: aliceFactor})))
	reg = must(u2fReg(e.svc.RegisterU2F(self, orgB, mallory, "")))
	noErr(t, errOf(e.svc.VerifyU2FRegistration(self, orgB, mallory, reg.ID, forged.attest(t, reg.Options, nil), "after the removal")))
}
