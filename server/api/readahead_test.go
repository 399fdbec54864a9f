package api

import (
	"testing"

	mgmt "github.com/factorgate/factorgate/gen/zitadel/management"
	userv2 "github.com/factorgate/factorgate/gen/zitadel/user/v2"
)

// The person a call acts on is its request's top-level user_id; calls
// without one name nobody (and read nobody ahead).
func TestRequestUserIDIsTheTopLevelUserID(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  any
		want string
	}{
		{"user.v2 RemoveTOTP", &userv2.RemoveTOTPRequest{UserId: "163840776835432705"}, "163840776835432705"},
		{"management RemoveHumanAuthFactorU2F", &mgmt.RemoveHumanAuthFactorU2FRequest{UserId: "42", TokenId: "7"}, "42"},
		{"user_id empty", &userv2.ListAuthenticationFactorsRequest{}, ""},
		{"no user_id field", &mgmt.GetLoginPolicyRequest{}, ""},
		{"not a proto message", struct{ UserID string }{"42"}, ""},
		{"nil", nil, ""},
	} {
		if got := requestUserID(tc.req); got != tc.want {
			t.Errorf("%s: requestUserID = %q, want %q", tc.name, got, tc.want)
		}
	}
}
