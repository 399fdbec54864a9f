package mfa_test

import (
	"slices"
	"testing"

	"github.com/factorgate/factorgate/server/mfa"
)

func (e *testEnv) secondFactors(orgID string) []mfa.SecondFactor {
	e.t.Helper()
	fs, err := e.svc.ListSecondFactors(e.admin, orgID)
	if err != nil {
		e.t.Fatalf("ListSecondFactors: %v", err)
	}
	return fs
}

func wantFactors(t *testing.T, got []mfa.SecondFactor, want ...mfa.SecondFactor) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("second factors = %v, want %v", got, want)
	}
}

func TestOrgSecondFactors(t *testing.T) {
	defaults := mfa.DefaultLoginPolicy().SecondFactors

	t.Run("without a custom policy the default applies", func(t *testing.T) {
		e := newTestEnv(t)
		org := e.org()
		wantFactors(t, e.secondFactors(org), defaults...)
		pol := must(e.svc.GetLoginPolicy(e.admin, org))
		if !pol.IsDefault {
			t.Fatalf("GetLoginPolicy: IsDefault = false")
		}
	})

	t.Run("remove answers NotFound without a custom policy, even for a default factor", func(t *testing.T) {
		e := newTestEnv(t)
		org := e.org()
		if !slices.Contains(defaults, mfa.SecondFactorTOTP) {
			t.Fatalf("test assumes the default policy allows TOTP")
		}
		seq := e.seq("org", org)
		_, err := e.svc.RemoveSecondFactor(e.admin, org, mfa.SecondFactorTOTP)
		wantErr(t, err, mfa.ErrOrgMFANotExisting)
		if e.seq("org", org) != seq {
			t.Fatalf("a failed removal wrote an event")
		}
	})

	t.Run("add works without a custom policy", func(t *testing.T) {
		e := newTestEnv(t)
		org := e.org()
		seq := e.seq("org", org)
		d, err := e.svc.AddSecondFactor(e.admin, org, mfa.SecondFactorOTPEmail)
		if err != nil {
			t.Fatalf("AddSecondFactor: %v", err)
		}
		if d.ResourceOwner != org || d.Sequence != seq+1 || !d.EventDate.Equal(e.clock.Now()) {
			t.Fatalf("details = %+v", d)
		}
		_, err = e.svc.AddSecondFactor(e.admin, org, mfa.SecondFactorOTPEmail)
		wantErr(t, err, mfa.ErrOrgMFAExists)
		// The list still shows the default: there is no custom policy.
		wantFactors(t, e.secondFactors(org), defaults...)
		noErr(t, errOf(e.svc.RemoveSecondFactor(e.admin, org, mfa.SecondFactorOTPEmail)))
		_, err = e.svc.RemoveSecondFactor(e.admin, org, mfa.SecondFactorOTPEmail)
		wantErr(t, err, mfa.ErrOrgMFANotExisting)
	})

	t.Run("custom policy, then reset", func(t *testing.T) {
		e := newTestEnv(t)
		org := e.org()
		pol := mfa.DefaultLoginPolicy()
		pol.ForceMFA = true
		pol.SecondFactors = []mfa.SecondFactor{mfa.SecondFactorTOTP}
		noErr(t, errOf(e.svc.AddCustomLoginPolicy(e.admin, org, pol)))
		_, err := e.svc.AddCustomLoginPolicy(e.admin, org, pol)
		wantErr(t, err, mfa.ErrPolicyExists)

		wantFactors(t, e.secondFactors(org), mfa.SecondFactorTOTP)
		got := must(e.svc.GetLoginPolicy(e.admin, org))
		if got.IsDefault || !got.Policy.ForceMFA || got.Details.ResourceOwner != org {
			t.Fatalf("GetLoginPolicy = %+v", got)
		}
		_, err = e.svc.AddSecondFactor(e.admin, org, mfa.SecondFactorTOTP)
		wantErr(t, err, mfa.ErrOrgMFAExists)
		noErr(t, errOf(e.svc.AddSecondFactor(e.admin, org, mfa.SecondFactorU2F)))
		wantFactors(t, e.secondFactors(org), mfa.SecondFactorTOTP, mfa.SecondFactorU2F)
		noErr(t, errOf(e.svc.RemoveSecondFactor(e.admin, org, mfa.SecondFactorTOTP)))
		wantFactors(t, e.secondFactors(org), mfa.SecondFactorU2F)

		noErr(t, errOf(e.svc.ResetLoginPolicyToDefault(e.admin, org)))
		wantFactors(t, e.secondFactors(org), defaults...)
		_, err = e.svc.ResetLoginPolicyToDefault(e.admin, org)
		wantErr(t, err, mfa.ErrPolicyNotFoundReset)
		// The reset also dropped the organization's own list.
		_, err = e.svc.RemoveSecondFactor(e.admin, org, mfa.SecondFactorU2F)
		wantErr(t, err, mfa.ErrOrgMFANotExisting)
	})

	t.Run("update keeps the second factors", func(t *testing.T) {
		e := newTestEnv(t)
		org := e.org()
		pol := mfa.DefaultLoginPolicy()
		_, err := e.svc.UpdateCustomLoginPolicy(e.admin, org, pol)
		wantErr(t, err, mfa.ErrPolicyNotFoundUpdate)
		noErr(t, errOf(e.svc.AddCustomLoginPolicy(e.admin, org, pol)))
		_, err = e.svc.UpdateCustomLoginPolicy(e.admin, org, pol)
		wantErr(t, err, mfa.ErrPolicyNotChanged)
		pol.ForceMFA = true
		pol.SecondFactors = nil
		noErr(t, errOf(e.svc.UpdateCustomLoginPolicy(e.admin, org, pol)))
		wantFactors(t, e.secondFactors(org), defaults...)
	})

	t.Run("recovery codes and unknown types are invalid", func(t *testing.T) {
		e := newTestEnv(t)
		org := e.org()
		for _, f := range []mfa.SecondFactor{mfa.SecondFactorRecoveryCodes, "", "sms"} {
			_, err := e.svc.AddSecondFactor(e.admin, org, f)
			wantErr(t, err, mfa.ErrOrgMFAAddInvalid)
			_, err = e.svc.RemoveSecondFactor(e.admin, org, f)
			wantErr(t, err, mfa.ErrOrgMFARemoveInvalid)
		}
		pol := mfa.DefaultLoginPolicy()
		pol.SecondFactors = append(pol.SecondFactors, mfa.SecondFactorRecoveryCodes)
		_, err := e.svc.AddCustomLoginPolicy(e.admin, org, pol)
		wantErr(t, err, mfa.ErrOrgMFAAddInvalid)
	})

	t.Run("organization context and permission", func(t *testing.T) {
		e := newTestEnv(t)
		org := e.org()
		_, err := e.svc.AddSecondFactor(e.admin, "", mfa.SecondFactorTOTP)
		wantErr(t, err, mfa.ErrResourceOwnerMissingAdd)
		_, err = e.svc.RemoveSecondFactor(e.admin, "", mfa.SecondFactorTOTP)
		wantErr(t, err, mfa.ErrResourceOwnerMissing)
		_, err = e.svc.AddSecondFactor(e.admin, "404", mfa.SecondFactorTOTP)
		wantErr(t, err, mfa.ErrOrgNotFound)

		manager := e.human(org)
		e.member(org, manager, "ORG_USER_MANAGER")
		_, err = e.svc.AddSecondFactor(e.as(manager, org), org, mfa.SecondFactorTOTP)
		wantErr(t, err, mfa.ErrNoPermissionCmd)
		settings := e.human(org)
		e.member(org, settings, "ORG_SETTINGS_MANAGER")
		noErr(t, errOf(e.svc.AddSecondFactor(e.as(settings, org), org, mfa.SecondFactorTOTP)))
	})
}

func TestInstanceSecondFactors(t *testing.T) {
	e := newTestEnv(t)
	defaults := mfa.DefaultLoginPolicy().SecondFactors
	list := func() []mfa.SecondFactor {
		fs, _, err := e.svc.ListDefaultSecondFactors(e.admin)
		if err != nil {
			t.Fatalf("ListDefaultSecondFactors: %v", err)
		}
		return fs
	}
	wantFactors(t, list(), defaults...)

	_, err := e.svc.AddDefaultSecondFactor(e.admin, mfa.SecondFactorTOTP)
	wantErr(t, err, mfa.ErrInstanceMFAExists)

	seq := e.seq("instance", e.boot.InstanceID)
	d, err := e.svc.AddDefaultSecondFactor(e.admin, mfa.SecondFactorOTPSMS)
	if err != nil {
		t.Fatalf("AddDefaultSecondFactor: %v", err)
	}
	if d.ResourceOwner != e.boot.InstanceID || d.Sequence != seq+1 {
		t.Fatalf("details = %+v", d)
	}
	wantFactors(t, list(), append(slices.Clone(defaults), mfa.SecondFactorOTPSMS)...)
	// Organizations without a custom policy follow the default.
	wantFactors(t, e.secondFactors(e.org()), append(slices.Clone(defaults), mfa.SecondFactorOTPSMS)...)

	noErr(t, errOf(e.svc.RemoveDefaultSecondFactor(e.admin, mfa.SecondFactorOTPSMS)))
	_, err = e.svc.RemoveDefaultSecondFactor(e.admin, mfa.SecondFactorOTPSMS)
	wantErr(t, err, mfa.ErrInstanceMFANotExisting)
	wantFactors(t, list(), defaults...)

	_, err = e.svc.AddDefaultSecondFactor(e.admin, mfa.SecondFactorRecoveryCodes)
	wantErr(t, err, mfa.ErrInstanceMFAAddInvalid)
	_, err = e.svc.RemoveDefaultSecondFactor(e.admin, mfa.SecondFactorRecoveryCodes)
	wantErr(t, err, mfa.ErrInstanceMFARemoveInval)

	// An organization owner is no instance administrator.
	org := e.org()
	owner := e.human(org)
	e.member(org, owner, "ORG_OWNER")
	_, err = e.svc.AddDefaultSecondFactor(e.as(owner, org), mfa.SecondFactorOTPEmail)
	wantErr(t, err, mfa.ErrNoPermissionCmd)
}
