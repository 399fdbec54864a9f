package compat

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/zitadel-go/v3/pkg/client"
	"github.com/zitadel/zitadel-go/v3/pkg/client/middleware"
	"github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/admin"
	"github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/management"
	zmessage "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/message"
	objectv2 "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/object/v2"
	orgv2 "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/org/v2"
	"github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/policy"
	userv2 "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user/v2"
	"github.com/zitadel/zitadel-go/v3/pkg/zitadel"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// walkTimeout bounds every RPC of the walk-through together.
const walkTimeout = 45 * time.Second

// TestStockClientAgainstBinary drives the real factorgate binary, in its own
// process, with the stock zitadel-go v3.29.0 client exactly as a ZITADEL
// user would: client.New + zitadel.WithInsecure + client.PAT, the typed
// service clients, middleware.SetOrgID for the organization context. It
// covers provisioning, authorization and the login policies; the factors'
// life cycle (enroll, list, remove) is TestStockClientFactorLifecycle.
func TestStockClientAgainstBinary(t *testing.T) {
	srv := sharedFactorgate(t)
	ctx, cancel := context.WithTimeout(context.Background(), walkTimeout)
	t.Cleanup(cancel)
	adminClient := dialFactorgate(t, ctx, srv, srv.AdminPAT)

	var orgID, humanID, botID, botPAT string
	orgCtx := func() context.Context { return middleware.SetOrgID(ctx, orgID) }

	step := func(name string, f func(t *testing.T)) {
		if t.Failed() {
			return // later steps depend on earlier ones
		}
		t.Run(name, f)
	}

	step("unauthenticated", func(t *testing.T) {
		bogus := dialFactorgate(t, ctx, srv, "not-a-token")
		_, err := bogus.ManagementService().GetLoginPolicy(ctx, &management.GetLoginPolicyRequest{})
		// Auth errors are not translated in ZITADEL: the text is the key.
		wantZitadelError(t, err, codes.Unauthenticated, "AUTH-7fs1e", "Errors.Token.Invalid")
	})

	step("org.v2 AddOrganization", func(t *testing.T) {
		resp, err := adminClient.OrganizationServiceV2().AddOrganization(ctx, &orgv2.AddOrganizationRequest{Name: "acme-" + t.Name()})
		if err != nil {
			t.Fatalf("AddOrganization: %v", err)
		}
		orgID = resp.GetOrganizationId()
		if !isDecimalID(orgID) {
			t.Fatalf("organization_id %q is not a decimal id", orgID)
		}
		if d := resp.GetDetails(); d.GetSequence() == 0 || d.GetChangeDate() == nil {
			t.Errorf("details = %v, want a sequence and a change_date", d)
		}
	})

	step("user.v2 AddHumanUser", func(t *testing.T) {
		resp, err := adminClient.UserServiceV2().AddHumanUser(ctx, &userv2.AddHumanUserRequest{
			Username:     ptr("ada"),
			Organization: &objectv2.Organization{Org: &objectv2.Organization_OrgId{OrgId: orgID}},
			Profile:      &userv2.SetHumanProfile{GivenName: "Ada", FamilyName: "Lovelace"},
			Email:        &userv2.SetHumanEmail{Email: "ada@example.com", Verification: &userv2.SetHumanEmail_IsVerified{IsVerified: true}},
			Phone:        &userv2.SetHumanPhone{Phone: "+41791234567", Verification: &userv2.SetHumanPhone_IsVerified{IsVerified: true}},
		})
		if err != nil {
			t.Fatalf("AddHumanUser: %v", err)
		}
		humanID = resp.GetUserId()
		if !isDecimalID(humanID) {
			t.Fatalf("user_id %q is not a decimal id", humanID)
		}
		if got := resp.GetDetails().GetResourceOwner(); got != orgID {
			t.Errorf("details.resource_owner = %q, want the organization %q", got, orgID)
		}
	})

	step("management ListHumanAuthFactors empty", func(t *testing.T) {
		resp, err := adminClient.ManagementService().ListHumanAuthFactors(orgCtx(), &management.ListHumanAuthFactorsRequest{UserId: humanID})
		if err != nil {
			t.Fatalf("ListHumanAuthFactors: %v", err)
		}
		if len(resp.GetResult()) != 0 {
			t.Errorf("result = %v, want no factors", resp.GetResult())
		}
	})

	step("management RemoveHumanAuthFactorOTP not enrolled", func(t *testing.T) {
		_, err := adminClient.ManagementService().RemoveHumanAuthFactorOTP(orgCtx(), &management.RemoveHumanAuthFactorOTPRequest{UserId: humanID})
		wantZitadelError(t, err, codes.NotFound, "COMMAND-Hd9sd", "Multifactor OTP (OneTimePassword) doesn't exist")
	})

	step("management login policy second factors", func(t *testing.T) {
		mgmt := adminClient.ManagementService()
		pol, err := mgmt.GetLoginPolicy(orgCtx(), &management.GetLoginPolicyRequest{})
		if err != nil {
			t.Fatalf("GetLoginPolicy: %v", err)
		}
		if !pol.GetIsDefault() || !pol.GetPolicy().GetIsDefault() {
			t.Errorf("GetLoginPolicy of a new organization: is_default = %v, policy.is_default = %v, want both true",
				pol.GetIsDefault(), pol.GetPolicy().GetIsDefault())
		}

		sms := policy.SecondFactorType_SECOND_FACTOR_TYPE_OTP_SMS
		added, err := mgmt.AddSecondFactorToLoginPolicy(orgCtx(), &management.AddSecondFactorToLoginPolicyRequest{Type: sms})
		if err != nil {
			t.Fatalf("AddSecondFactorToLoginPolicy(OTP_SMS): %v", err)
		}
		ad := added.GetDetails()
		if ad.GetSequence() == 0 || ad.GetResourceOwner() != orgID || ad.GetCreationDate() == nil {
			t.Errorf("add details = %v, want a sequence, resource_owner %q and a creation_date", ad, orgID)
		}

		_, err = mgmt.AddSecondFactorToLoginPolicy(orgCtx(), &management.AddSecondFactorToLoginPolicyRequest{Type: sms})
		wantZitadelError(t, err, codes.AlreadyExists, "Org-2B0ps", "Multifactor already exists")

		removed, err := mgmt.RemoveSecondFactorFromLoginPolicy(orgCtx(), &management.RemoveSecondFactorFromLoginPolicyRequest{Type: sms})
		if err != nil {
			t.Fatalf("RemoveSecondFactorFromLoginPolicy(OTP_SMS): %v", err)
		}
		rd := removed.GetDetails()
		if rd.GetSequence() <= ad.GetSequence() {
			t.Errorf("remove details.sequence = %d, want more than the add's %d", rd.GetSequence(), ad.GetSequence())
		}
		if rd.GetResourceOwner() != orgID || rd.GetChangeDate() == nil {
			t.Errorf("remove details = %v, want resource_owner %q and a change_date", rd, orgID)
		}

		_, err = mgmt.RemoveSecondFactorFromLoginPolicy(orgCtx(), &management.RemoveSecondFactorFromLoginPolicyRequest{Type: sms})
		wantZitadelError(t, err, codes.NotFound, "Org-3M9od", "Multifactor not existing")
	})

	step("management machine user and PAT", func(t *testing.T) {
		mgmt := adminClient.ManagementService()
		bot, err := mgmt.AddMachineUser(orgCtx(), &management.AddMachineUserRequest{UserName: "ci-bot", Name: "CI bot"})
		if err != nil {
			t.Fatalf("AddMachineUser: %v", err)
		}
		botID = bot.GetUserId()
		if !isDecimalID(botID) || bot.GetDetails().GetResourceOwner() != orgID {
			t.Fatalf("AddMachineUser = user_id %q, details %v; want a decimal id owned by %q", botID, bot.GetDetails(), orgID)
		}
		pat, err := mgmt.AddPersonalAccessToken(orgCtx(), &management.AddPersonalAccessTokenRequest{UserId: botID})
		if err != nil {
			t.Fatalf("AddPersonalAccessToken: %v", err)
		}
		botPAT = pat.GetToken()
		if botPAT == "" || pat.GetTokenId() == "" {
			t.Fatalf("AddPersonalAccessToken = token %q, token_id %q; want both", botPAT, pat.GetTokenId())
		}
	})

	step("membership decides authorization", func(t *testing.T) {
		botClient := dialFactorgate(t, ctx, srv, botPAT)
		remove := func() error {
			_, err := botClient.ManagementService().RemoveHumanAuthFactorOTP(orgCtx(), &management.RemoveHumanAuthFactorOTPRequest{UserId: humanID})
			return err
		}

		// A valid token without any membership (ZITADEL: AUTHZ-cdgFk).
		err := remove()
		if ed := errorDetail(err); ed != nil && ed.GetId() == "COMMAND-Hd9sd" {
			t.Fatalf("RemoveHumanAuthFactorOTP without membership got past authorization: %v", err)
		}
		wantZitadelError(t, err, codes.NotFound, "AUTHZ-cdgFk", "membership not found")

		_, err = adminClient.ManagementService().AddOrgMember(orgCtx(), &management.AddOrgMemberRequest{UserId: botID, Roles: []string{"ORG_USER_MANAGER"}})
		if err != nil {
			t.Fatalf("AddOrgMember(ORG_USER_MANAGER): %v", err)
		}

		// Now authorized: the call reaches the command, which finds no factor.
		wantZitadelError(t, remove(), codes.NotFound, "COMMAND-Hd9sd", "Multifactor OTP (OneTimePassword) doesn't exist")
		list, err := botClient.ManagementService().ListHumanAuthFactors(orgCtx(), &management.ListHumanAuthFactorsRequest{UserId: humanID})
		if err != nil || len(list.GetResult()) != 0 {
			t.Errorf("ListHumanAuthFactors as ORG_USER_MANAGER = %v, %v; want no factors", list.GetResult(), err)
		}

		// ORG_USER_MANAGER has no policy.write.
		_, err = botClient.ManagementService().AddSecondFactorToLoginPolicy(orgCtx(),
			&management.AddSecondFactorToLoginPolicyRequest{Type: policy.SecondFactorType_SECOND_FACTOR_TYPE_U2F})
		wantZitadelError(t, err, codes.PermissionDenied, "AUTH-5mWD2", "No matching permissions found")
	})

	step("admin default second factors", func(t *testing.T) {
		adm := adminClient.AdminService()
		before, err := adm.ListLoginPolicySecondFactors(ctx, &admin.ListLoginPolicySecondFactorsRequest{})
		if err != nil {
			t.Fatalf("ListLoginPolicySecondFactors: %v", err)
		}
		if got := before.GetDetails().GetTotalResult(); got != uint64(len(before.GetResult())) {
			t.Errorf("details.total_result = %d, want %d", got, len(before.GetResult()))
		}
		email := policy.SecondFactorType_SECOND_FACTOR_TYPE_OTP_EMAIL
		if slices.Contains(before.GetResult(), email) {
			t.Fatalf("a new instance's default already lists OTP_EMAIL: %v", before.GetResult())
		}

		added, err := adm.AddSecondFactorToLoginPolicy(ctx, &admin.AddSecondFactorToLoginPolicyRequest{Type: email})
		if err != nil {
			t.Fatalf("AddSecondFactorToLoginPolicy(OTP_EMAIL): %v", err)
		}
		ad := added.GetDetails()
		if ad.GetSequence() == 0 || ad.GetResourceOwner() == "" || ad.GetResourceOwner() == orgID || ad.GetCreationDate() == nil {
			t.Errorf("add details = %v, want a sequence, the instance as resource_owner and a creation_date", ad)
		}
		during, err := adm.ListLoginPolicySecondFactors(ctx, &admin.ListLoginPolicySecondFactorsRequest{})
		if err != nil || !slices.Contains(during.GetResult(), email) {
			t.Errorf("after adding, ListLoginPolicySecondFactors = %v, %v; want OTP_EMAIL listed", during.GetResult(), err)
		}

		removed, err := adm.RemoveSecondFactorFromLoginPolicy(ctx, &admin.RemoveSecondFactorFromLoginPolicyRequest{Type: email})
		if err != nil {
			t.Fatalf("RemoveSecondFactorFromLoginPolicy(OTP_EMAIL): %v", err)
		}
		rd := removed.GetDetails()
		if rd.GetSequence() <= ad.GetSequence() || rd.GetResourceOwner() != ad.GetResourceOwner() || rd.GetChangeDate() == nil {
			t.Errorf("remove details = %v, want a sequence above %d, resource_owner %q and a change_date", rd, ad.GetSequence(), ad.GetResourceOwner())
		}
		after, err := adm.ListLoginPolicySecondFactors(ctx, &admin.ListLoginPolicySecondFactorsRequest{})
		if err != nil || !slices.Equal(after.GetResult(), before.GetResult()) {
			t.Errorf("after removing, ListLoginPolicySecondFactors = %v, %v; want %v again", after.GetResult(), err, before.GetResult())
		}

		_, err = adm.RemoveSecondFactorFromLoginPolicy(ctx, &admin.RemoveSecondFactorFromLoginPolicyRequest{Type: email})
		wantZitadelError(t, err, codes.NotFound, "INSTANCE-3M9od", "Multifactor not existing")
	})

	step("validation", func(t *testing.T) {
		_, err := adminClient.ManagementService().RemoveHumanAuthFactorOTP(orgCtx(),
			&management.RemoveHumanAuthFactorOTPRequest{UserId: strings.Repeat("1", 201)})
		st, _ := status.FromError(err)
		const want = "invalid RemoveHumanAuthFactorOTPRequest.UserId: value length must be between 1 and 200 runes, inclusive"
		if st.Code() != codes.InvalidArgument || st.Message() != want {
			t.Errorf("user_id of 201 characters: %v, want InvalidArgument %q", err, want)
		}
		if len(st.Details()) != 0 {
			t.Errorf("validation error details = %v, want none (as ZITADEL)", st.Details())
		}
	})
}

// dialFactorgate dials the server the way zitadel-go documents for a plain
// endpoint with a static token: no TLS, no discovery.
func dialFactorgate(t *testing.T, ctx context.Context, srv *factorgateProcess, pat string) *client.Client {
	t.Helper()
	c, err := client.New(ctx, zitadel.New(srv.Host, zitadel.WithInsecure(srv.Port)), client.WithAuth(client.PAT(pat)))
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// errorDetail is the zitadel.v1.ErrorDetail of a status, or nil.
func errorDetail(err error) *zmessage.ErrorDetail {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if ed, ok := d.(*zmessage.ErrorDetail); ok {
			return ed
		}
	}
	return nil
}

// wantZitadelError checks ZITADEL's error encoding: the code, the message
// "<text> (<id>)" and exactly one zitadel.v1.ErrorDetail{id, text}.
func wantZitadelError(t *testing.T, err error, code codes.Code, id, text string) {
	t.Helper()
	st, ok := status.FromError(err)
	if err == nil || !ok {
		t.Errorf("got %v, want a gRPC status %v %s", err, code, id)
		return
	}
	if st.Code() != code {
		t.Errorf("code = %v (%v), want %v", st.Code(), err, code)
	}
	if want := text + " (" + id + ")"; st.Message() != want {
		t.Errorf("message = %q, want %q", st.Message(), want)
	}
	details := st.Details()
	if len(details) != 1 {
		t.Errorf("details = %v, want one zitadel.v1.ErrorDetail", details)
		return
	}
	ed, ok := details[0].(*zmessage.ErrorDetail)
	if !ok {
		t.Errorf("detail is %T (%v), want *zmessage.ErrorDetail", details[0], details[0])
		return
	}
	if ed.GetId() != id || ed.GetMessage() != text {
		t.Errorf("ErrorDetail = {id %q, message %q}, want {id %q, message %q}", ed.GetId(), ed.GetMessage(), id, text)
	}
}

// isDecimalID reports whether s looks like a ZITADEL (sonyflake) id.
func isDecimalID(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func ptr[T any](v T) *T { return &v }
