package mfa_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server/mfa"
)

// TestReplay checks that the documents written with the events equal what
// folding the stored events again produces.
func TestReplay(t *testing.T) {
	e := newTestEnv(t)
	org := e.org()
	user := e.human(org, withVerifiedPhone)
	e.member(org, user, "ORG_USER_MANAGER")
	must(e.svc.AddIAMMember(e.admin, user, []string{"IAM_USER_MANAGER"}))

	// Factors of every kind, some removed again, with the clock moving.
	e.readyTOTP(user)
	e.clock.Advance(time.Minute)
	first := e.enrollU2F(user, newSecurityKey(testRPID), "first")
	e.enrollU2F(user, newSecurityKey(testRPID), "second")
	must3(t)(e.svc.RegisterTOTP(e.admin, "", e.human(org))) // another user, left pending
	must(u2fReg(e.svc.RegisterU2F(e.admin, "", user, "")))  // pending
	e.clock.Advance(time.Minute)
	_, _, err := e.svc.AddOTPSMS(e.admin, "", user)
	noErr(t, err)
	_, _, err = e.svc.AddOTPEmail(e.admin, "", user)
	noErr(t, err)
	for _, ref := range []mfa.FactorRef{
		{UserID: user, Kind: mfa.FactorTOTP},
		{UserID: user, Kind: mfa.FactorU2F, ID: first},
		{UserID: user, Kind: mfa.FactorOTPEmail},
	} {
		noErr(t, errOf(e.svc.RemoveFactor(e.admin, "", ref)))
	}
	e.readyTOTP(user) // enrolled again after removal

	// Policies.
	pol := mfa.DefaultLoginPolicy()
	pol.SecondFactors = []mfa.SecondFactor{mfa.SecondFactorTOTP}
	noErr(t, errOf(e.svc.AddSecondFactor(e.admin, org, mfa.SecondFactorOTPSMS)))
	noErr(t, errOf(e.svc.AddCustomLoginPolicy(e.admin, org, pol)))
	noErr(t, errOf(e.svc.AddSecondFactor(e.admin, org, mfa.SecondFactorU2F)))
	pol.ForceMFA = true
	noErr(t, errOf(e.svc.UpdateCustomLoginPolicy(e.admin, org, pol)))
	noErr(t, errOf(e.svc.RemoveSecondFactor(e.admin, org, mfa.SecondFactorTOTP)))
	noErr(t, errOf(e.svc.AddDefaultSecondFactor(e.admin, mfa.SecondFactorOTPEmail)))
	noErr(t, errOf(e.svc.RemoveDefaultSecondFactor(e.admin, mfa.SecondFactorTOTP)))
	reset := e.org()
	noErr(t, errOf(e.svc.AddCustomLoginPolicy(e.admin, reset, pol)))
	noErr(t, errOf(e.svc.ResetLoginPolicyToDefault(e.admin, reset)))

	for _, agg := range []struct{ typ, id string }{
		{"user", user},
		{"user", e.boot.AdminUserID},
		{"org", org},
		{"org", reset},
		{"org", e.boot.OrgID},
		{"instance", e.boot.InstanceID},
	} {
		t.Run(agg.typ+"/"+agg.id, func(t *testing.T) {
			replayed, stored, err := e.svc.Replay(context.Background(), agg.typ, agg.id)
			if err != nil {
				t.Fatalf("Replay: %v", err)
			}
			var r, s map[string]any
			noErr(t, json.Unmarshal(replayed, &r))
			noErr(t, json.Unmarshal(stored, &s))
			if !reflect.DeepEqual(r, s) {
				t.Fatalf("replayed document differs from the stored one\nreplayed: %s\nstored:   %s", replayed, stored)
			}
		})
	}

	_, _, err = e.svc.Replay(context.Background(), "token", "x")
	if err == nil {
		t.Fatalf("Replay of an unknown aggregate type succeeded")
	}
}
