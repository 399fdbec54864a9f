package server_test

import (
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	mgmt "github.com/factorgate/factorgate/gen/zitadel/management"
	"github.com/factorgate/factorgate/gen/zitadel/policy"
)

// UpdateCustomLoginPolicy changes the custom policy's settings, keeps its
// second factors, refuses a no-op and needs a custom policy.
func TestUpdateCustomLoginPolicy(t *testing.T) {
	e := mustRunServer(t)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			org := e.newOrg("update-" + tr.name)
			update := &mgmt.UpdateCustomLoginPolicyRequest{AllowUsernamePassword: true, ForceMfa: true,
				PasswordCheckLifetime: durationpb.New(time.Hour)}
			updateOp := newOp[mgmt.UpdateCustomLoginPolicyRequest, mgmt.UpdateCustomLoginPolicyResponse](
				"/zitadel.management.v1.ManagementService/UpdateCustomLoginPolicy", update, http.MethodPut, "/management/v1/policies/login", jsonBody(update))

			if got := tr.call(e, updateOp, e.admin, org); got.code != codes.NotFound || got.detailID != "Org-M0sif" {
				t.Fatalf("update without a custom policy: %v %q, want NotFound Org-M0sif", got.code, got.message)
			}
			add := &mgmt.AddCustomLoginPolicyRequest{AllowUsernamePassword: true,
				SecondFactors: []policy.SecondFactorType{policy.SecondFactorType_SECOND_FACTOR_TYPE_U2F}}
			if got := tr.call(e, newOp[mgmt.AddCustomLoginPolicyRequest, mgmt.AddCustomLoginPolicyResponse](
				"/zitadel.management.v1.ManagementService/AddCustomLoginPolicy", add, http.MethodPost, "/management/v1/policies/login", jsonBody(add)), e.admin, org); got.code != codes.OK {
				t.Fatalf("add: %v %q", got.code, got.message)
			}
			if got := tr.call(e, updateOp, e.admin, org); got.code != codes.OK {
				t.Fatalf("update: %v %q", got.code, got.message)
			}
			get := newOp[mgmt.GetLoginPolicyRequest, mgmt.GetLoginPolicyResponse](
				"/zitadel.management.v1.ManagementService/GetLoginPolicy", &mgmt.GetLoginPolicyRequest{}, http.MethodGet, "/management/v1/policies/login", "")
			got := tr.call(e, get, e.admin, org)
			pol := got.resp.(*mgmt.GetLoginPolicyResponse).GetPolicy()
			if got.code != codes.OK || !pol.GetForceMfa() || pol.GetPasswordCheckLifetime().AsDuration() != time.Hour || pol.GetIsDefault() ||
				len(pol.GetSecondFactors()) != 1 || pol.GetSecondFactors()[0] != policy.SecondFactorType_SECOND_FACTOR_TYPE_U2F {
				t.Fatalf("after update: %v %+v", got.code, pol)
			}
			if got := tr.call(e, updateOp, e.admin, org); got.code != codes.FailedPrecondition || got.detailID != "Org-5M9vdd" {
				t.Fatalf("same update again: %v %q, want FailedPrecondition Org-5M9vdd", got.code, got.message)
			}
		})
	}
}
