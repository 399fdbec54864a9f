package server_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/factorgate/factorgate/gen/zitadel/admin"
	mgmt "github.com/factorgate/factorgate/gen/zitadel/management"
	"github.com/factorgate/factorgate/gen/zitadel/object"
	"github.com/factorgate/factorgate/gen/zitadel/policy"
)

// Login policies: the organization's (management.v1, in the org context of
// x-zitadel-orgid) and the instance default (admin.v1), over every transport.

const (
	mgmtSvc  = "/zitadel.management.v1.ManagementService/"
	adminSvc = "/zitadel.admin.v1.AdminService/"

	sfOTP      = policy.SecondFactorType_SECOND_FACTOR_TYPE_OTP
	sfU2F      = policy.SecondFactorType_SECOND_FACTOR_TYPE_U2F
	sfOTPEmail = policy.SecondFactorType_SECOND_FACTOR_TYPE_OTP_EMAIL
	sfOTPSMS   = policy.SecondFactorType_SECOND_FACTOR_TYPE_OTP_SMS
	sfRecovery = policy.SecondFactorType_SECOND_FACTOR_TYPE_RECOVERY_CODES
	sfNone     = policy.SecondFactorType_SECOND_FACTOR_TYPE_UNSPECIFIED
)

// ---- the RPCs, each with its REST spelling ----

func mgmtGetLoginPolicy() op {
	return newOp[mgmt.GetLoginPolicyRequest, mgmt.GetLoginPolicyResponse](mgmtSvc+"GetLoginPolicy",
		&mgmt.GetLoginPolicyRequest{}, http.MethodGet, "/management/v1/policies/login", "")
}

func mgmtGetDefaultLoginPolicy() op {
	return newOp[mgmt.GetDefaultLoginPolicyRequest, mgmt.GetDefaultLoginPolicyResponse](mgmtSvc+"GetDefaultLoginPolicy",
		&mgmt.GetDefaultLoginPolicyRequest{}, http.MethodGet, "/management/v1/policies/default/login", "")
}

func mgmtListSecondFactors() op {
	return newOp[mgmt.ListLoginPolicySecondFactorsRequest, mgmt.ListLoginPolicySecondFactorsResponse](mgmtSvc+"ListLoginPolicySecondFactors",
		&mgmt.ListLoginPolicySecondFactorsRequest{}, http.MethodPost, "/management/v1/policies/login/second_factors/_search", "")
}

func mgmtAddSecondFactor(f policy.SecondFactorType) op {
	return newOp[mgmt.AddSecondFactorToLoginPolicyRequest, mgmt.AddSecondFactorToLoginPolicyResponse](mgmtSvc+"AddSecondFactorToLoginPolicy",
		&mgmt.AddSecondFactorToLoginPolicyRequest{Type: f}, http.MethodPost, "/management/v1/policies/login/second_factors", `{"type":`+enumJSON(f)+`}`)
}

// mgmtRemoveSecondFactor spells the type in the REST path by name (a
// number when the value is not defined), as ZITADEL's clients do.
func mgmtRemoveSecondFactor(f policy.SecondFactorType) op {
	return newOp[mgmt.RemoveSecondFactorFromLoginPolicyRequest, mgmt.RemoveSecondFactorFromLoginPolicyResponse](mgmtSvc+"RemoveSecondFactorFromLoginPolicy",
		&mgmt.RemoveSecondFactorFromLoginPolicyRequest{Type: f}, http.MethodDelete, "/management/v1/policies/login/second_factors/"+f.String(), "")
}

func mgmtAddCustomLoginPolicy(req *mgmt.AddCustomLoginPolicyRequest, body string) op {
	return newOp[mgmt.AddCustomLoginPolicyRequest, mgmt.AddCustomLoginPolicyResponse](mgmtSvc+"AddCustomLoginPolicy",
		req, http.MethodPost, "/management/v1/policies/login", body)
}

func mgmtResetLoginPolicy() op {
	return newOp[mgmt.ResetLoginPolicyToDefaultRequest, mgmt.ResetLoginPolicyToDefaultResponse](mgmtSvc+"ResetLoginPolicyToDefault",
		&mgmt.ResetLoginPolicyToDefaultRequest{}, http.MethodDelete, "/management/v1/policies/login", "")
}

func adminGetLoginPolicy() op {
	return newOp[admin.GetLoginPolicyRequest, admin.GetLoginPolicyResponse](adminSvc+"GetLoginPolicy",
		&admin.GetLoginPolicyRequest{}, http.MethodGet, "/admin/v1/policies/login", "")
}

func adminListSecondFactors() op {
	return newOp[admin.ListLoginPolicySecondFactorsRequest, admin.ListLoginPolicySecondFactorsResponse](adminSvc+"ListLoginPolicySecondFactors",
		&admin.ListLoginPolicySecondFactorsRequest{}, http.MethodPost, "/admin/v1/policies/login/second_factors/_search", "")
}

func adminAddSecondFactor(f policy.SecondFactorType) op {
	return newOp[admin.AddSecondFactorToLoginPolicyRequest, admin.AddSecondFactorToLoginPolicyResponse](adminSvc+"AddSecondFactorToLoginPolicy",
		&admin.AddSecondFactorToLoginPolicyRequest{Type: f}, http.MethodPost, "/admin/v1/policies/login/second_factors", `{"type":`+enumJSON(f)+`}`)
}

func adminRemoveSecondFactor(f policy.SecondFactorType) op {
	return newOp[admin.RemoveSecondFactorFromLoginPolicyRequest, admin.RemoveSecondFactorFromLoginPolicyResponse](adminSvc+"RemoveSecondFactorFromLoginPolicy",
		&admin.RemoveSecondFactorFromLoginPolicyRequest{Type: f}, http.MethodDelete, "/admin/v1/policies/login/second_factors/"+f.String(), "")
}

// enumJSON is an enum value as JSON: its name, or its number when undefined.
func enumJSON(f policy.SecondFactorType) string {
	if _, ok := policy.SecondFactorType_name[int32(f)]; ok {
		return `"` + f.String() + `"`
	}
	return fmt.Sprint(int32(f))
}

// ---- steps: dependent calls made in order over one transport ----

type step struct {
	name  string
	op    op
	token string // bearer token ("" sends none)
	org   string // x-zitadel-orgid ("" sends none)
	want  expect
	check func(t *testing.T, got outcome)
}

// runSteps makes the calls in order and stops at the first that fails.
func (e *env) runSteps(t *testing.T, tr transport, steps []step) {
	t.Helper()
	for i, s := range steps {
		ok := t.Run(fmt.Sprintf("%02d_%s", i+1, strings.ReplaceAll(s.name, " ", "_")), func(t *testing.T) {
			got := e.mustCall(t, tr, s.op, s.token, s.org, s.want)
			if s.check != nil {
				s.check(t, got)
			}
		})
		if !ok {
			return
		}
	}
}

// ---- assertions ----

func wantFactors(t *testing.T, what string, got []policy.SecondFactorType, want ...policy.SecondFactorType) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Fatalf("%s: second factors %v, want %v", what, got, want)
	}
}

// wantDetails checks v1 object details against the last event of the
// aggregate: its per-aggregate sequence and resource owner, and its time as
// the creation date ("add" shape) or the change date ("change" shape).
func (e *env) wantDetails(t *testing.T, d *object.ObjectDetails, aggType, aggID, owner, eventType string, add bool) {
	t.Helper()
	events, err := e.srv.Store().Load(context.Background(), aggType, aggID, 0)
	if err != nil || len(events) == 0 {
		t.Fatalf("load %s %s: %d events, %v", aggType, aggID, len(events), err)
	}
	last := events[len(events)-1]
	if last.Type != eventType {
		t.Errorf("last event of %s %s is %q, want %q", aggType, aggID, last.Type, eventType)
	}
	if d.GetSequence() != last.Sequence {
		t.Errorf("details.sequence = %d, want %d (the %s's last event)", d.GetSequence(), last.Sequence, aggType)
	}
	if d.GetResourceOwner() != owner {
		t.Errorf("details.resourceOwner = %q, want %q", d.GetResourceOwner(), owner)
	}
	date, other, names := d.GetChangeDate(), d.GetCreationDate(), [2]string{"changeDate", "creationDate"}
	if add {
		date, other, names = d.GetCreationDate(), d.GetChangeDate(), [2]string{"creationDate", "changeDate"}
	}
	if date == nil || !date.AsTime().Equal(last.CreatedAt) {
		t.Errorf("details.%s = %v, want the event time %v", names[0], date.AsTime(), last.CreatedAt)
	}
	if other != nil {
		t.Errorf("details.%s is set (%v), want it unset", names[1], other.AsTime())
	}
}

type detailsResp interface{ GetDetails() *object.ObjectDetails }

// ---- tests ----

// An organization without a custom policy sees the instance default; its
// own second-factor list is separate (reference pitfall 6).
func TestOrgLoginPolicyWithoutCustomPolicy(t *testing.T) {
	e := mustRunServer(t)
	instance := e.srv.Bootstrap().InstanceID
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			org := e.newOrg("default-" + tr.name)
			isDefault := func(t *testing.T, got outcome) {
				r := got.resp.(*mgmt.GetLoginPolicyResponse)
				if !r.GetIsDefault() || !r.GetPolicy().GetIsDefault() {
					t.Errorf("is_default = %v, policy.is_default = %v, want true", r.GetIsDefault(), r.GetPolicy().GetIsDefault())
				}
				wantFactors(t, "GetLoginPolicy", r.GetPolicy().GetSecondFactors(), sfOTP, sfU2F)
				if ro := r.GetPolicy().GetDetails().GetResourceOwner(); ro != instance {
					t.Errorf("policy.details.resourceOwner = %q, want the instance %q", ro, instance)
				}
			}
			e.runSteps(t, tr, []step{
				{name: "org policy is the default", op: mgmtGetLoginPolicy(), token: e.admin, org: org, want: success, check: isDefault},
				{name: "default policy", op: mgmtGetDefaultLoginPolicy(), token: e.admin, org: org, want: success,
					check: func(t *testing.T, got outcome) {
						p := got.resp.(*mgmt.GetDefaultLoginPolicyResponse).GetPolicy()
						wantFactors(t, "GetDefaultLoginPolicy", p.GetSecondFactors(), sfOTP, sfU2F)
						if !p.GetIsDefault() {
							t.Error("default policy: is_default false")
						}
					}},
				{name: "admin policy", op: adminGetLoginPolicy(), token: e.admin, want: success,
					check: func(t *testing.T, got outcome) {
						wantFactors(t, "admin GetLoginPolicy", got.resp.(*admin.GetLoginPolicyResponse).GetPolicy().GetSecondFactors(), sfOTP, sfU2F)
					}},
				{name: "list falls back to the default", op: mgmtListSecondFactors(), token: e.admin, org: org, want: success,
					check: func(t *testing.T, got outcome) {
						r := got.resp.(*mgmt.ListLoginPolicySecondFactorsResponse)
						wantFactors(t, "ListLoginPolicySecondFactors", r.GetResult(), sfOTP, sfU2F)
						if r.GetDetails().GetTotalResult() != 2 {
							t.Errorf("details.totalResult = %d, want 2", r.GetDetails().GetTotalResult())
						}
					}},
				{name: "remove a default factor is not found", op: mgmtRemoveSecondFactor(sfOTP), token: e.admin, org: org,
					want: failure(codes.NotFound, 404, "Multifactor not existing", "Org-3M9od")},
				{name: "add works without a custom policy", op: mgmtAddSecondFactor(sfOTPEmail), token: e.admin, org: org, want: success,
					check: func(t *testing.T, got outcome) {
						e.wantDetails(t, got.resp.(detailsResp).GetDetails(), "org", org, org, "org.policy.login.secondfactor.added", true)
					}},
				{name: "add twice already exists", op: mgmtAddSecondFactor(sfOTPEmail), token: e.admin, org: org,
					want: failure(codes.AlreadyExists, 409, "Multifactor already exists", "Org-2B0ps")},
				{name: "policy is still the default", op: mgmtGetLoginPolicy(), token: e.admin, org: org, want: success, check: isDefault},
				{name: "org header naming a missing org is denied", op: mgmtGetLoginPolicy(), token: e.admin, org: "424242424242",
					want: failure(codes.PermissionDenied, 403, "Organisation doesn't exist", "AUTH-Bs7Ds")},
			})
		})
	}
}

// A custom policy from creation to reset.
func TestCustomLoginPolicyLifecycle(t *testing.T) {
	e := mustRunServer(t)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			org := e.newOrg("custom-" + tr.name)
			custom := mgmtAddCustomLoginPolicy(&mgmt.AddCustomLoginPolicyRequest{
				AllowUsernamePassword: true, ForceMfa: true, SecondFactors: []policy.SecondFactorType{sfOTP, sfOTPSMS},
			}, `{"allowUsernamePassword":true,"forceMfa":true,"secondFactors":["SECOND_FACTOR_TYPE_OTP","SECOND_FACTOR_TYPE_OTP_SMS"]}`)
			policyIs := func(isDefault bool, factors ...policy.SecondFactorType) func(t *testing.T, got outcome) {
				return func(t *testing.T, got outcome) {
					r := got.resp.(*mgmt.GetLoginPolicyResponse)
					if r.GetIsDefault() != isDefault || r.GetPolicy().GetIsDefault() != isDefault {
						t.Errorf("is_default = %v, policy.is_default = %v, want %v", r.GetIsDefault(), r.GetPolicy().GetIsDefault(), isDefault)
					}
					if !isDefault && !r.GetPolicy().GetForceMfa() {
						t.Error("custom policy lost force_mfa")
					}
					if !isDefault && r.GetPolicy().GetDetails().GetResourceOwner() != org {
						t.Errorf("policy.details.resourceOwner = %q, want the org %q", r.GetPolicy().GetDetails().GetResourceOwner(), org)
					}
					wantFactors(t, "GetLoginPolicy", r.GetPolicy().GetSecondFactors(), factors...)
				}
			}
			e.runSteps(t, tr, []step{
				{name: "add custom policy", op: custom, token: e.admin, org: org, want: success,
					check: func(t *testing.T, got outcome) {
						e.wantDetails(t, got.resp.(detailsResp).GetDetails(), "org", org, org, "org.policy.login.added", true)
					}},
				{name: "get shows the custom policy", op: mgmtGetLoginPolicy(), token: e.admin, org: org, want: success,
					check: policyIs(false, sfOTP, sfOTPSMS)},
				{name: "add again already exists", op: custom, token: e.admin, org: org,
					want: failure(codes.AlreadyExists, 409, "Login Policy already exists", "Org-Dgfb2")},
				{name: "remove a listed factor", op: mgmtRemoveSecondFactor(sfOTPSMS), token: e.admin, org: org, want: success,
					check: func(t *testing.T, got outcome) {
						e.wantDetails(t, got.resp.(detailsResp).GetDetails(), "org", org, org, "org.policy.login.secondfactor.removed", false)
					}},
				{name: "list shows the rest", op: mgmtListSecondFactors(), token: e.admin, org: org, want: success,
					check: func(t *testing.T, got outcome) {
						wantFactors(t, "ListLoginPolicySecondFactors", got.resp.(*mgmt.ListLoginPolicySecondFactorsResponse).GetResult(), sfOTP)
					}},
				{name: "remove it again is not found", op: mgmtRemoveSecondFactor(sfOTPSMS), token: e.admin, org: org,
					want: failure(codes.NotFound, 404, "Multifactor not existing", "Org-3M9od")},
				{name: "reset to default", op: mgmtResetLoginPolicy(), token: e.admin, org: org, want: success,
					check: func(t *testing.T, got outcome) {
						e.wantDetails(t, got.resp.(detailsResp).GetDetails(), "org", org, org, "org.policy.login.removed", false)
					}},
				{name: "get is the default again", op: mgmtGetLoginPolicy(), token: e.admin, org: org, want: success,
					check: policyIs(true, sfOTP, sfU2F)},
				{name: "reset again is not found", op: mgmtResetLoginPolicy(), token: e.admin, org: org,
					want: failure(codes.NotFound, 404, "Login Policy not found", "Org-GHB37")},
				{name: "reset cleared the org's own factors", op: mgmtRemoveSecondFactor(sfOTP), token: e.admin, org: org,
					want: failure(codes.NotFound, 404, "Multifactor not existing", "Org-3M9od")},
			})
		})
	}
}

// The instance default policy through admin.v1. Each transport leaves the
// instance as it found it.
func TestDefaultLoginPolicySecondFactors(t *testing.T) {
	e := mustRunServer(t)
	instance := e.srv.Bootstrap().InstanceID
	plainOrg := e.newOrg("follows-the-default")
	listIs := func(factors ...policy.SecondFactorType) func(t *testing.T, got outcome) {
		return func(t *testing.T, got outcome) {
			r := got.resp.(*admin.ListLoginPolicySecondFactorsResponse)
			wantFactors(t, "admin ListLoginPolicySecondFactors", r.GetResult(), factors...)
			if r.GetDetails().GetTotalResult() != uint64(len(factors)) {
				t.Errorf("details.totalResult = %d, want %d", r.GetDetails().GetTotalResult(), len(factors))
			}
		}
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			e.runSteps(t, tr, []step{
				{name: "list", op: adminListSecondFactors(), token: e.admin, want: success, check: listIs(sfOTP, sfU2F)},
				{name: "add", op: adminAddSecondFactor(sfOTPEmail), token: e.admin, want: success,
					check: func(t *testing.T, got outcome) {
						e.wantDetails(t, got.resp.(detailsResp).GetDetails(), "instance", instance, instance, "instance.policy.login.secondfactor.added", true)
					}},
				{name: "list shows it", op: adminListSecondFactors(), token: e.admin, want: success, check: listIs(sfOTP, sfU2F, sfOTPEmail)},
				{name: "an org on the default sees it", op: mgmtGetLoginPolicy(), token: e.admin, org: plainOrg, want: success,
					check: func(t *testing.T, got outcome) {
						wantFactors(t, "org GetLoginPolicy", got.resp.(*mgmt.GetLoginPolicyResponse).GetPolicy().GetSecondFactors(), sfOTP, sfU2F, sfOTPEmail)
					}},
				{name: "add twice already exists", op: adminAddSecondFactor(sfOTPEmail), token: e.admin,
					want: failure(codes.AlreadyExists, 409, "Errors.Instance.MFA.AlreadyExists", "INSTANCE-2B0ps")},
				{name: "remove", op: adminRemoveSecondFactor(sfOTPEmail), token: e.admin, want: success,
					check: func(t *testing.T, got outcome) {
						e.wantDetails(t, got.resp.(detailsResp).GetDetails(), "instance", instance, instance, "instance.policy.login.secondfactor.removed", false)
					}},
				{name: "remove twice is not found", op: adminRemoveSecondFactor(sfOTPEmail), token: e.admin,
					want: failure(codes.NotFound, 404, "Multifactor not existing", "INSTANCE-3M9od")},
				{name: "list is back", op: adminListSecondFactors(), token: e.admin, want: success, check: listIs(sfOTP, sfU2F)},
			})
		})
	}
}

// Request validation (before the handler) and the core's own check of
// types it does not implement.
func TestSecondFactorTypeValidation(t *testing.T) {
	e := mustRunServer(t)
	invalid := func(msg string) expect { return expect{code: codes.InvalidArgument, http: 400, message: msg} }
	notInList := "value must not be in list [SECOND_FACTOR_TYPE_UNSPECIFIED]"
	undefined := "value must be one of the defined enum values"
	// The gateway parses an enum in the path itself and rejects an undefined
	// number before the call reaches the server (as ZITADEL's gateway does).
	restPath99 := invalid("type mismatch, parameter: type, error: 99 is not valid")
	cases := []struct {
		name string
		op   op
		want expect
		rest *expect // when REST answers differently
	}{
		{name: "mgmt remove unspecified", op: mgmtRemoveSecondFactor(sfNone), want: invalid("invalid RemoveSecondFactorFromLoginPolicyRequest.Type: " + notInList)},
		{name: "mgmt remove undefined", op: mgmtRemoveSecondFactor(99), want: invalid("invalid RemoveSecondFactorFromLoginPolicyRequest.Type: " + undefined), rest: &restPath99},
		{name: "mgmt add unspecified", op: mgmtAddSecondFactor(sfNone), want: invalid("invalid AddSecondFactorToLoginPolicyRequest.Type: " + notInList)},
		{name: "mgmt add undefined", op: mgmtAddSecondFactor(99), want: invalid("invalid AddSecondFactorToLoginPolicyRequest.Type: " + undefined)},
		{name: "admin remove unspecified", op: adminRemoveSecondFactor(sfNone), want: invalid("invalid RemoveSecondFactorFromLoginPolicyRequest.Type: " + notInList)},
		{name: "admin remove undefined", op: adminRemoveSecondFactor(99), want: invalid("invalid RemoveSecondFactorFromLoginPolicyRequest.Type: " + undefined), rest: &restPath99},
		{name: "admin add undefined", op: adminAddSecondFactor(99), want: invalid("invalid AddSecondFactorToLoginPolicyRequest.Type: " + undefined)},
		{name: "mgmt remove recovery codes", op: mgmtRemoveSecondFactor(sfRecovery), want: failure(codes.InvalidArgument, 400, "Multifactor invalid", "Org-55n8s")},
		{name: "mgmt add recovery codes", op: mgmtAddSecondFactor(sfRecovery), want: failure(codes.InvalidArgument, 400, "Multifactor invalid", "Org-5m9fs")},
		{name: "admin remove recovery codes", op: adminRemoveSecondFactor(sfRecovery), want: failure(codes.InvalidArgument, 400, "Multifactor invalid", "INSTANCE-55n8s")},
		{name: "admin add recovery codes", op: adminAddSecondFactor(sfRecovery),
			want: failure(codes.InvalidArgument, 400, "Errors.Instance.LoginPolicy.MFA.Unspecified", "INSTANCE-5m9fs")},
	}
	for _, c := range cases {
		for _, tr := range transports {
			t.Run(c.name+"/"+tr.name, func(t *testing.T) {
				w := c.want
				if tr.name == "rest" && c.rest != nil {
					w = *c.rest
				}
				e.mustCall(t, tr, c.op, e.admin, e.org, w)
			})
		}
	}
	// Validation runs after authorization: without a token it is 401.
	for _, tr := range transports {
		t.Run("unauthenticated invalid request/"+tr.name, func(t *testing.T) {
			e.mustCall(t, tr, mgmtRemoveSecondFactor(sfNone), "", e.org, expect{code: codes.Unauthenticated, http: 401, message: "auth header missing"})
		})
	}
}

// REST spells the enum in the path by name or by number.
func TestRemoveSecondFactorRESTPath(t *testing.T) {
	e := mustRunServer(t)
	for _, path := range []string{"SECOND_FACTOR_TYPE_OTP", "1"} {
		t.Run(path, func(t *testing.T) {
			org := e.newOrg("rest-path-" + path)
			e.mustCall(t, transports[2], mgmtAddSecondFactor(sfOTP), e.admin, org, success)
			o := mgmtRemoveSecondFactor(sfOTP)
			o.path = "/management/v1/policies/login/second_factors/" + path
			got := e.mustCall(t, transports[2], o, e.admin, org, success)
			e.wantDetails(t, got.resp.(detailsResp).GetDetails(), "org", org, org, "org.policy.login.secondfactor.removed", false)
			e.mustCall(t, transports[2], o, e.admin, org, failure(codes.NotFound, 404, "Multifactor not existing", "Org-3M9od"))
		})
	}
}

// policy.read is not policy.write; org roles do not reach the instance.
func TestLoginPolicyPermissions(t *testing.T) {
	e := mustRunServer(t)
	_, userManager := e.machineToken(e.org, "ORG_USER_MANAGER") // policy.read, no policy.write
	_, orgOwner := e.machineToken(e.org, "ORG_OWNER")           // every org permission, no instance one
	denied := failure(codes.PermissionDenied, 403, "No matching permissions found", "AUTH-5mWD2")
	cases := []struct {
		name  string
		op    op
		token string
		want  expect
	}{
		{"user manager reads the org policy", mgmtGetLoginPolicy(), userManager, success},
		{"user manager lists second factors", mgmtListSecondFactors(), userManager, success},
		{"user manager cannot add", mgmtAddSecondFactor(sfOTPSMS), userManager, denied},
		{"user manager cannot remove", mgmtRemoveSecondFactor(sfOTP), userManager, denied},
		{"user manager cannot add a custom policy", mgmtAddCustomLoginPolicy(&mgmt.AddCustomLoginPolicyRequest{}, `{}`), userManager, denied},
		{"user manager cannot reset", mgmtResetLoginPolicy(), userManager, denied},
		{"org owner cannot read the instance policy", adminGetLoginPolicy(), orgOwner, denied},
		{"org owner cannot list instance factors", adminListSecondFactors(), orgOwner, denied},
		{"org owner cannot add to the instance", adminAddSecondFactor(sfOTPSMS), orgOwner, denied},
		{"org owner cannot remove from the instance", adminRemoveSecondFactor(sfOTP), orgOwner, denied},
	}
	for _, c := range cases {
		for _, tr := range transports {
			t.Run(c.name+"/"+tr.name, func(t *testing.T) {
				e.mustCall(t, tr, c.op, c.token, "", c.want)
			})
		}
	}
	// Nothing changed.
	for _, tr := range transports {
		t.Run("instance unchanged/"+tr.name, func(t *testing.T) {
			got := e.mustCall(t, tr, adminListSecondFactors(), e.admin, "", success)
			wantFactors(t, "instance", got.resp.(*admin.ListLoginPolicySecondFactorsResponse).GetResult(), sfOTP, sfU2F)
		})
	}
}

// One organization's custom policy does not leak into another's.
func TestLoginPolicyOrgIsolation(t *testing.T) {
	e := mustRunServer(t)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			a, b := e.newOrg("iso-a-"+tr.name), e.newOrg("iso-b-"+tr.name)
			getIs := func(isDefault bool, factors ...policy.SecondFactorType) func(t *testing.T, got outcome) {
				return func(t *testing.T, got outcome) {
					r := got.resp.(*mgmt.GetLoginPolicyResponse)
					if r.GetIsDefault() != isDefault {
						t.Errorf("is_default = %v, want %v", r.GetIsDefault(), isDefault)
					}
					wantFactors(t, "GetLoginPolicy", r.GetPolicy().GetSecondFactors(), factors...)
				}
			}
			e.runSteps(t, tr, []step{
				{name: "A adds a custom policy", op: mgmtAddCustomLoginPolicy(&mgmt.AddCustomLoginPolicyRequest{SecondFactors: []policy.SecondFactorType{sfU2F, sfOTPEmail}},
					`{"secondFactors":["SECOND_FACTOR_TYPE_U2F","SECOND_FACTOR_TYPE_OTP_EMAIL"]}`), token: e.admin, org: a, want: success},
				{name: "A removes U2F", op: mgmtRemoveSecondFactor(sfU2F), token: e.admin, org: a, want: success},
				{name: "A sees its policy", op: mgmtGetLoginPolicy(), token: e.admin, org: a, want: success, check: getIs(false, sfOTPEmail)},
				{name: "B still has the default", op: mgmtGetLoginPolicy(), token: e.admin, org: b, want: success, check: getIs(true, sfOTP, sfU2F)},
				{name: "B cannot remove what only A had", op: mgmtRemoveSecondFactor(sfOTPEmail), token: e.admin, org: b,
					want: failure(codes.NotFound, 404, "Multifactor not existing", "Org-3M9od")},
				{name: "B has no custom policy to reset", op: mgmtResetLoginPolicy(), token: e.admin, org: b,
					want: failure(codes.NotFound, 404, "Login Policy not found", "Org-GHB37")},
				{name: "A is untouched by B's calls", op: mgmtGetLoginPolicy(), token: e.admin, org: a, want: success, check: getIs(false, sfOTPEmail)},
			})
		})
	}
}

// Racing changes of one second factor: one wins, the others get the
// answer the winner's write implies.
func TestRacingSecondFactorChanges(t *testing.T) {
	e := mustRunServer(t)
	race := func(t *testing.T, tr transport, o op, org string, loser codes.Code) {
		t.Helper()
		const n = 12
		results := make([]outcome, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() { defer wg.Done(); results[i] = tr.call(e, o, e.admin, org) }()
		}
		wg.Wait()
		won, lost := 0, 0
		for _, r := range results {
			switch r.code {
			case codes.OK:
				won++
			case loser:
				lost++
			default:
				t.Errorf("unexpected outcome %v %q", r.code, r.message)
			}
		}
		if won != 1 || lost != n-1 {
			t.Fatalf("%s: %d successes and %d %v, want 1 and %d", o.method, won, lost, loser, n-1)
		}
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			org := e.newOrg("race-" + tr.name)
			race(t, tr, mgmtAddSecondFactor(sfOTPSMS), org, codes.AlreadyExists)
			race(t, tr, mgmtRemoveSecondFactor(sfOTPSMS), org, codes.NotFound)
			events, err := e.srv.Store().Load(context.Background(), "org", org, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(events); got != 3 { // org added, one factor added, one removed
				t.Errorf("org has %d events, want 3", got)
			}
		})
	}
}
