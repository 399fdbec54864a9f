package server_test

import (
	"testing"

	"github.com/factorgate/factorgate/gen/zitadel/admin"
	mgmt "github.com/factorgate/factorgate/gen/zitadel/management"
)

// The default login policy's details are the policy's own: the sequence
// and date of its last change, as the change answered them. An instance
// event that is not a policy change (a new instance member) leaves them
// alone, on every call that shows the default policy.
func TestDefaultPolicyDetailsAreThePolicysOwn(t *testing.T) {
	e := mustRunServer(t)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			added := e.mustCall(t, tr, adminAddSecondFactor(sfOTPEmail), e.admin, "", success)
			t.Cleanup(func() { tr.call(e, adminRemoveSecondFactor(sfOTPEmail), e.admin, "") })
			want := added.resp.(*admin.AddSecondFactorToLoginPolicyResponse).GetDetails()
			wantDate := want.GetChangeDate().AsTime() // an add answers its date as the creation date
			if want.GetChangeDate() == nil {
				wantDate = want.GetCreationDate().AsTime()
			}

			bot, _ := e.machineToken(e.org)
			if _, err := e.core.AddIAMMember(e.ctx, bot, []string{"IAM_OWNER_VIEWER"}); err != nil {
				t.Fatal(err)
			}
			got := e.mustCall(t, tr, adminGetLoginPolicy(), e.admin, "", success).resp.(*admin.GetLoginPolicyResponse).GetPolicy().GetDetails()
			if got.GetSequence() != want.GetSequence() || !got.GetChangeDate().AsTime().Equal(wantDate) {
				t.Errorf("admin GetLoginPolicy after AddIAMMember: sequence %d changed %v, want the change's %d %v",
					got.GetSequence(), got.GetChangeDate().AsTime(), want.GetSequence(), wantDate)
			}
			org := e.mustCall(t, tr, mgmtGetLoginPolicy(), e.admin, e.org, success).resp.(*mgmt.GetLoginPolicyResponse).GetPolicy().GetDetails()
			if org.GetSequence() != want.GetSequence() {
				t.Errorf("management GetLoginPolicy (on the default): sequence %d, want %d", org.GetSequence(), want.GetSequence())
			}
		})
	}
}
