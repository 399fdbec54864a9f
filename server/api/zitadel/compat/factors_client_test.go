package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/zitadel/zitadel-go/v3/pkg/client"
	"github.com/zitadel/zitadel-go/v3/pkg/client/middleware"
	"github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/auth"
	"github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/change"
	"github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/management"
	"github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/object"
	objectv2 "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/object/v2"
	objectv2beta "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/object/v2beta"
	orgv2 "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/org/v2"
	userv1 "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user"
	userv2 "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user/v2"
	userv2beta "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user/v2beta"
	"google.golang.org/grpc/codes"
)

// TestStockClientFactorLifecycle runs the whole life cycle of every factor
// the stock client can drive without a browser: enroll, see it listed as
// ready, remove it, and remove it again (NotFound), through user.v2,
// user.v2beta, management.v1 and auth.v1 self-service with the person's own
// token from the password grant; then a machine user's client secret
// (management.v1 GenerateMachineSecret) and the client credentials grant.
// U2F needs a WebAuthn authenticator and stays with the main module's tests.
func TestStockClientFactorLifecycle(t *testing.T) {
	srv := sharedFactorgate(t)
	ctx, cancel := context.WithTimeout(context.Background(), walkTimeout)
	t.Cleanup(cancel)
	adminClient := dialFactorgate(t, ctx, srv, srv.AdminPAT)

	const username, password = "grace", "correct horse battery staple"
	var orgID, personID string
	orgCtx := func() context.Context { return middleware.SetOrgID(ctx, orgID) }
	step := func(name string, f func(t *testing.T)) {
		if t.Failed() {
			return // later steps depend on earlier ones
		}
		t.Run(name, f)
	}
	// listV2 is the person's factors as user.v2 lists them.
	listV2 := func(t *testing.T) []*userv2.AuthFactor {
		t.Helper()
		resp, err := adminClient.UserServiceV2().ListAuthenticationFactors(ctx, &userv2.ListAuthenticationFactorsRequest{UserId: personID})
		if err != nil {
			t.Fatalf("ListAuthenticationFactors: %v", err)
		}
		return resp.GetResult()
	}

	step("setup: an organization and a person with verified email and phone and a password", func(t *testing.T) {
		org, err := adminClient.OrganizationServiceV2().AddOrganization(ctx, &orgv2.AddOrganizationRequest{Name: "factors-" + t.Name()})
		if err != nil {
			t.Fatalf("AddOrganization: %v", err)
		}
		orgID = org.GetOrganizationId()
		person, err := adminClient.UserServiceV2().AddHumanUser(ctx, &userv2.AddHumanUserRequest{
			Username:     ptr(username),
			Organization: &objectv2.Organization{Org: &objectv2.Organization_OrgId{OrgId: orgID}},
			Profile:      &userv2.SetHumanProfile{GivenName: "Grace", FamilyName: "Hopper"},
			Email:        &userv2.SetHumanEmail{Email: "grace@example.com", Verification: &userv2.SetHumanEmail_IsVerified{IsVerified: true}},
			Phone:        &userv2.SetHumanPhone{Phone: "+41791234568", Verification: &userv2.SetHumanPhone_IsVerified{IsVerified: true}},
			PasswordType: &userv2.AddHumanUserRequest_Password{Password: &userv2.Password{Password: password}},
		})
		if err != nil {
			t.Fatalf("AddHumanUser: %v", err)
		}
		personID = person.GetUserId()
		if got := listV2(t); len(got) != 0 {
			t.Fatalf("a new person has factors: %v", got)
		}
	})

	step("user.v2 TOTP: register, verify, list, remove, remove again", func(t *testing.T) {
		v2 := adminClient.UserServiceV2()
		reg, err := v2.RegisterTOTP(ctx, &userv2.RegisterTOTPRequest{UserId: personID})
		if err != nil {
			t.Fatalf("RegisterTOTP: %v", err)
		}
		if reg.GetSecret() == "" || !strings.HasPrefix(reg.GetUri(), "otpauth://totp/") || !strings.Contains(reg.GetUri(), "secret="+reg.GetSecret()) {
			t.Fatalf("RegisterTOTP = uri %q, secret %q; want an otpauth URI carrying the secret", reg.GetUri(), reg.GetSecret())
		}
		wantV2Details(t, "RegisterTOTP", reg.GetDetails(), orgID, 0)
		if f := findV2(listV2(t), isTOTPv2); f != nil && f.GetState() == userv2.AuthFactorState_AUTH_FACTOR_STATE_READY {
			t.Errorf("an unverified TOTP is listed as ready: %v", f)
		}

		_, err = v2.VerifyTOTPRegistration(ctx, &userv2.VerifyTOTPRegistrationRequest{UserId: personID, Code: wrongCode(t, reg.GetSecret())})
		wantZitadelError(t, err, codes.InvalidArgument, "EVENT-8isk2", "Invalid code")

		ver, err := v2.VerifyTOTPRegistration(ctx, &userv2.VerifyTOTPRegistrationRequest{UserId: personID, Code: currentCode(t, reg.GetSecret())})
		if err != nil {
			t.Fatalf("VerifyTOTPRegistration: %v", err)
		}
		wantV2Details(t, "VerifyTOTPRegistration", ver.GetDetails(), orgID, reg.GetDetails().GetSequence())

		factors := listV2(t)
		if len(factors) != 1 || !isTOTPv2(factors[0]) || factors[0].GetState() != userv2.AuthFactorState_AUTH_FACTOR_STATE_READY {
			t.Fatalf("ListAuthenticationFactors after verification = %v, want one READY otp", factors)
		}
		_, err = v2.RegisterTOTP(ctx, &userv2.RegisterTOTPRequest{UserId: personID})
		wantZitadelError(t, err, codes.AlreadyExists, "COMMAND-do9se", "Multifactor OTP (OneTimePassword) is already set up")

		rm, err := v2.RemoveTOTP(ctx, &userv2.RemoveTOTPRequest{UserId: personID})
		if err != nil {
			t.Fatalf("RemoveTOTP: %v", err)
		}
		wantV2Details(t, "RemoveTOTP", rm.GetDetails(), orgID, ver.GetDetails().GetSequence())
		if f := findV2(listV2(t), isTOTPv2); f != nil {
			t.Errorf("TOTP still listed after its removal: %v", f)
		}

		_, err = v2.RemoveTOTP(ctx, &userv2.RemoveTOTPRequest{UserId: personID})
		wantZitadelError(t, err, codes.NotFound, "COMMAND-Hd9sd", "Multifactor OTP (OneTimePassword) doesn't exist")
	})

	step("user.v2 OTP SMS and OTP email: add, list, remove, remove again", func(t *testing.T) {
		v2 := adminClient.UserServiceV2()

		sms, err := v2.AddOTPSMS(ctx, &userv2.AddOTPSMSRequest{UserId: personID})
		if err != nil {
			t.Fatalf("AddOTPSMS: %v", err)
		}
		wantV2Details(t, "AddOTPSMS", sms.GetDetails(), orgID, 0)
		_, err = v2.AddOTPSMS(ctx, &userv2.AddOTPSMSRequest{UserId: personID})
		wantZitadelError(t, err, codes.AlreadyExists, "COMMAND-Ad3g2", "Multifactor OTP (OneTimePassword) is already set up")

		email, err := v2.AddOTPEmail(ctx, &userv2.AddOTPEmailRequest{UserId: personID})
		if err != nil {
			t.Fatalf("AddOTPEmail: %v", err)
		}
		wantV2Details(t, "AddOTPEmail", email.GetDetails(), orgID, sms.GetDetails().GetSequence())
		_, err = v2.AddOTPEmail(ctx, &userv2.AddOTPEmailRequest{UserId: personID})
		wantZitadelError(t, err, codes.AlreadyExists, "COMMAND-MKL2s", "Multifactor OTP (OneTimePassword) is already set up")

		factors := listV2(t)
		for _, is := range []func(*userv2.AuthFactor) bool{isSMSv2, isEmailv2} {
			if f := findV2(factors, is); f == nil || f.GetState() != userv2.AuthFactorState_AUTH_FACTOR_STATE_READY {
				t.Errorf("ListAuthenticationFactors = %v, want READY otp_sms and otp_email", factors)
			}
		}

		rmSMS, err := v2.RemoveOTPSMS(ctx, &userv2.RemoveOTPSMSRequest{UserId: personID})
		if err != nil {
			t.Fatalf("RemoveOTPSMS: %v", err)
		}
		wantV2Details(t, "RemoveOTPSMS", rmSMS.GetDetails(), orgID, email.GetDetails().GetSequence())
		_, err = v2.RemoveOTPSMS(ctx, &userv2.RemoveOTPSMSRequest{UserId: personID})
		wantZitadelError(t, err, codes.NotFound, "COMMAND-Sr3h3", "Multifactor OTP (OneTimePassword) doesn't exist")

		rmEmail, err := v2.RemoveOTPEmail(ctx, &userv2.RemoveOTPEmailRequest{UserId: personID})
		if err != nil {
			t.Fatalf("RemoveOTPEmail: %v", err)
		}
		wantV2Details(t, "RemoveOTPEmail", rmEmail.GetDetails(), orgID, rmSMS.GetDetails().GetSequence())
		_, err = v2.RemoveOTPEmail(ctx, &userv2.RemoveOTPEmailRequest{UserId: personID})
		wantZitadelError(t, err, codes.NotFound, "COMMAND-b312D", "Multifactor OTP (OneTimePassword) doesn't exist")

		if got := listV2(t); len(got) != 0 {
			t.Errorf("factors after removing both: %v, want none", got)
		}
	})

	step("user.v2 OTP SMS and email need a verified phone and email", func(t *testing.T) {
		v2 := adminClient.UserServiceV2()
		unverified, err := v2.AddHumanUser(ctx, &userv2.AddHumanUserRequest{
			Username:     ptr("unverified-" + username),
			Organization: &objectv2.Organization{Org: &objectv2.Organization_OrgId{OrgId: orgID}},
			Profile:      &userv2.SetHumanProfile{GivenName: "Una", FamilyName: "Verified"},
			Email:        &userv2.SetHumanEmail{Email: "una@example.com"},
			Phone:        &userv2.SetHumanPhone{Phone: "+41791234569"},
		})
		if err != nil {
			t.Fatalf("AddHumanUser: %v", err)
		}
		_, err = v2.AddOTPSMS(ctx, &userv2.AddOTPSMSRequest{UserId: unverified.GetUserId()})
		wantZitadelError(t, err, codes.FailedPrecondition, "COMMAND-Q54j2", "Multifactor OTP (OneTimePassword) isn't ready")
		_, err = v2.AddOTPEmail(ctx, &userv2.AddOTPEmailRequest{UserId: unverified.GetUserId()})
		wantZitadelError(t, err, codes.FailedPrecondition, "COMMAND-KLJ2d", "Multifactor OTP (OneTimePassword) isn't ready")
	})

	step("management.v1 RemoveHumanAuthFactorOTP of an enrolled person", func(t *testing.T) {
		enrollTOTPv2(t, ctx, adminClient, personID)
		mgmt := adminClient.ManagementService()
		list, err := mgmt.ListHumanAuthFactors(orgCtx(), &management.ListHumanAuthFactorsRequest{UserId: personID})
		if err != nil {
			t.Fatalf("ListHumanAuthFactors: %v", err)
		}
		if r := list.GetResult(); len(r) != 1 || r[0].GetOtp() == nil || r[0].GetState() != userv1.AuthFactorState_AUTH_FACTOR_STATE_READY {
			t.Fatalf("ListHumanAuthFactors = %v, want one READY otp", r)
		}
		rm, err := mgmt.RemoveHumanAuthFactorOTP(orgCtx(), &management.RemoveHumanAuthFactorOTPRequest{UserId: personID})
		if err != nil {
			t.Fatalf("RemoveHumanAuthFactorOTP: %v", err)
		}
		wantV1ChangeDetails(t, "RemoveHumanAuthFactorOTP", rm.GetDetails(), orgID)
		list, err = mgmt.ListHumanAuthFactors(orgCtx(), &management.ListHumanAuthFactorsRequest{UserId: personID})
		if err != nil || len(list.GetResult()) != 0 {
			t.Errorf("ListHumanAuthFactors after the removal = %v, %v; want none", list.GetResult(), err)
		}
		_, err = mgmt.RemoveHumanAuthFactorOTP(orgCtx(), &management.RemoveHumanAuthFactorOTPRequest{UserId: personID})
		wantZitadelError(t, err, codes.NotFound, "COMMAND-Hd9sd", "Multifactor OTP (OneTimePassword) doesn't exist")
	})

	step("management.v1 ListUserChanges: the removal in the person's history", func(t *testing.T) {
		hist, err := adminClient.ManagementService().ListUserChanges(orgCtx(), &management.ListUserChangesRequest{UserId: personID,
			Query: &change.ChangeQuery{Limit: 1}})
		if err != nil {
			t.Fatalf("ListUserChanges: %v", err)
		}
		r := hist.GetResult()
		if len(r) != 1 || r[0].GetEventType().GetKey() != "EventTypes.user.human.mfa.otp.removed" || r[0].GetEditorId() == "" ||
			r[0].GetChangeDate() == nil || r[0].GetResourceOwnerId() != orgID || r[0].GetSequence() == 0 ||
			!strings.Contains(r[0].GetEventType().GetLocalizedMessage(), "via zitadel grpc /zitadel.management.v1.ManagementService/RemoveHumanAuthFactorOTP") {
			t.Errorf("ListUserChanges newest = %v, want the management.v1 removal of OTP", r)
		}
	})

	step("auth.v1 self-service with the person's own token", func(t *testing.T) {
		status, body := tokenRequest(t, ctx, srv, url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}, "", "")
		token, _ := body["access_token"].(string)
		if status != http.StatusOK || token == "" || body["token_type"] != "Bearer" {
			t.Fatalf("password grant: %d %v", status, body)
		}
		me := dialFactorgate(t, ctx, srv, token).AuthService()

		added, err := me.AddMyAuthFactorOTP(ctx, &auth.AddMyAuthFactorOTPRequest{})
		if err != nil {
			t.Fatalf("AddMyAuthFactorOTP: %v", err)
		}
		if added.GetSecret() == "" || !strings.HasPrefix(added.GetUrl(), "otpauth://totp/") {
			t.Fatalf("AddMyAuthFactorOTP = url %q, secret %q; want an otpauth URL and a secret", added.GetUrl(), added.GetSecret())
		}
		if d := added.GetDetails(); d.GetResourceOwner() != orgID || d.GetSequence() == 0 {
			t.Errorf("AddMyAuthFactorOTP details = %v, want a sequence and resource_owner %q", d, orgID)
		}
		if _, err := me.VerifyMyAuthFactorOTP(ctx, &auth.VerifyMyAuthFactorOTPRequest{Code: currentCode(t, added.GetSecret())}); err != nil {
			t.Fatalf("VerifyMyAuthFactorOTP: %v", err)
		}
		mine, err := me.ListMyAuthFactors(ctx, &auth.ListMyAuthFactorsRequest{})
		if err != nil {
			t.Fatalf("ListMyAuthFactors: %v", err)
		}
		if r := mine.GetResult(); len(r) != 1 || r[0].GetOtp() == nil || r[0].GetState() != userv1.AuthFactorState_AUTH_FACTOR_STATE_READY {
			t.Fatalf("ListMyAuthFactors = %v, want one READY otp", r)
		}
		// The same factor, seen by user.v2: the token acted on its own user.
		if f := findV2(listV2(t), isTOTPv2); f == nil || f.GetState() != userv2.AuthFactorState_AUTH_FACTOR_STATE_READY {
			t.Errorf("user.v2 does not list the self-enrolled TOTP as ready: %v", f)
		}

		rm, err := me.RemoveMyAuthFactorOTP(ctx, &auth.RemoveMyAuthFactorOTPRequest{})
		if err != nil {
			t.Fatalf("RemoveMyAuthFactorOTP: %v", err)
		}
		wantV1ChangeDetails(t, "RemoveMyAuthFactorOTP", rm.GetDetails(), orgID)
		if mine, err := me.ListMyAuthFactors(ctx, &auth.ListMyAuthFactorsRequest{}); err != nil || len(mine.GetResult()) != 0 {
			t.Errorf("ListMyAuthFactors after the removal = %v, %v; want none", mine.GetResult(), err)
		}
		_, err = me.RemoveMyAuthFactorOTP(ctx, &auth.RemoveMyAuthFactorOTPRequest{})
		wantZitadelError(t, err, codes.NotFound, "COMMAND-Hd9sd", "Multifactor OTP (OneTimePassword) doesn't exist")

		// A person without a membership cannot manage others.
		_, err = dialFactorgate(t, ctx, srv, token).ManagementService().ListHumanAuthFactors(orgCtx(),
			&management.ListHumanAuthFactorsRequest{UserId: personID})
		wantZitadelError(t, err, codes.NotFound, "AUTHZ-cdgFk", "membership not found")
	})

	step("user.v2beta TOTP: register, verify, remove, remove again", func(t *testing.T) {
		beta := adminClient.UserService()
		reg, err := beta.RegisterTOTP(ctx, &userv2beta.RegisterTOTPRequest{UserId: personID})
		if err != nil {
			t.Fatalf("RegisterTOTP (v2beta): %v", err)
		}
		if reg.GetSecret() == "" || !strings.HasPrefix(reg.GetUri(), "otpauth://totp/") {
			t.Fatalf("RegisterTOTP (v2beta) = uri %q, secret %q", reg.GetUri(), reg.GetSecret())
		}
		_, err = beta.VerifyTOTPRegistration(ctx, &userv2beta.VerifyTOTPRegistrationRequest{UserId: personID, Code: wrongCode(t, reg.GetSecret())})
		wantZitadelError(t, err, codes.InvalidArgument, "EVENT-8isk2", "Invalid code")
		ver, err := beta.VerifyTOTPRegistration(ctx, &userv2beta.VerifyTOTPRegistrationRequest{UserId: personID, Code: currentCode(t, reg.GetSecret())})
		if err != nil {
			t.Fatalf("VerifyTOTPRegistration (v2beta): %v", err)
		}
		if f := findV2(listV2(t), isTOTPv2); f == nil || f.GetState() != userv2.AuthFactorState_AUTH_FACTOR_STATE_READY {
			t.Errorf("after the v2beta verification, user.v2 lists %v, want a READY otp", f)
		}
		rm, err := beta.RemoveTOTP(ctx, &userv2beta.RemoveTOTPRequest{UserId: personID})
		if err != nil {
			t.Fatalf("RemoveTOTP (v2beta): %v", err)
		}
		wantV2betaDetails(t, "RemoveTOTP (v2beta)", rm.GetDetails(), orgID, ver.GetDetails().GetSequence())
		_, err = beta.RemoveTOTP(ctx, &userv2beta.RemoveTOTPRequest{UserId: personID})
		wantZitadelError(t, err, codes.NotFound, "COMMAND-Hd9sd", "Multifactor OTP (OneTimePassword) doesn't exist")
	})

	step("management.v1 GenerateMachineSecret and the client credentials grant", func(t *testing.T) {
		mgmt := adminClient.ManagementService()
		bot, err := mgmt.AddMachineUser(orgCtx(), &management.AddMachineUserRequest{UserName: "factors-bot", Name: "factors bot"})
		if err != nil {
			t.Fatalf("AddMachineUser: %v", err)
		}
		if _, err := mgmt.AddOrgMember(orgCtx(), &management.AddOrgMemberRequest{UserId: bot.GetUserId(), Roles: []string{"ORG_USER_MANAGER"}}); err != nil {
			t.Fatalf("AddOrgMember: %v", err)
		}
		sec, err := mgmt.GenerateMachineSecret(orgCtx(), &management.GenerateMachineSecretRequest{UserId: bot.GetUserId()})
		if err != nil {
			t.Fatalf("GenerateMachineSecret: %v", err)
		}
		if sec.GetClientId() != "factors-bot" || sec.GetClientSecret() == "" {
			t.Fatalf("GenerateMachineSecret = client_id %q, client_secret %q; want the username and a secret", sec.GetClientId(), sec.GetClientSecret())
		}
		wantV1ChangeDetails(t, "GenerateMachineSecret", sec.GetDetails(), orgID)

		_, err = mgmt.GenerateMachineSecret(orgCtx(), &management.GenerateMachineSecretRequest{UserId: personID})
		wantZitadelError(t, err, codes.FailedPrecondition, "COMMAND-Dggw2", "The User must be technical")

		status, body := tokenRequest(t, ctx, srv, url.Values{"grant_type": {"client_credentials"}}, sec.GetClientId(), sec.GetClientSecret())
		token, _ := body["access_token"].(string)
		if status != http.StatusOK || token == "" {
			t.Fatalf("client credentials grant: %d %v", status, body)
		}
		if status, body := tokenRequest(t, ctx, srv, url.Values{"grant_type": {"client_credentials"}}, sec.GetClientId(), sec.GetClientSecret()+"x"); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
			t.Errorf("a wrong client secret: %d %v, want 401 invalid_client", status, body)
		}

		enrollTOTPv2(t, ctx, adminClient, personID)
		botMgmt := dialFactorgate(t, ctx, srv, token).ManagementService()
		rm, err := botMgmt.RemoveHumanAuthFactorOTP(orgCtx(), &management.RemoveHumanAuthFactorOTPRequest{UserId: personID})
		if err != nil {
			t.Fatalf("RemoveHumanAuthFactorOTP with the client-credentials token: %v", err)
		}
		wantV1ChangeDetails(t, "RemoveHumanAuthFactorOTP", rm.GetDetails(), orgID)
	})
}

// enrollTOTPv2 registers and verifies TOTP for a user through user.v2.
func enrollTOTPv2(t *testing.T, ctx context.Context, c *client.Client, userID string) {
	t.Helper()
	reg, err := c.UserServiceV2().RegisterTOTP(ctx, &userv2.RegisterTOTPRequest{UserId: userID})
	if err != nil {
		t.Fatalf("RegisterTOTP: %v", err)
	}
	if _, err := c.UserServiceV2().VerifyTOTPRegistration(ctx, &userv2.VerifyTOTPRegistrationRequest{UserId: userID, Code: currentCode(t, reg.GetSecret())}); err != nil {
		t.Fatalf("VerifyTOTPRegistration: %v", err)
	}
}

// currentCode is the RFC 6238 code of secret now, as an authenticator app
// shows it.
func currentCode(t *testing.T, secret string) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatalf("totp.GenerateCode: %v", err)
	}
	return code
}

// wrongCode is a six-digit code that is valid for secret in none of the
// time steps a server may accept around now.
func wrongCode(t *testing.T, secret string) string {
	t.Helper()
	valid := map[string]bool{}
	now := time.Now()
	for skew := -2; skew <= 2; skew++ {
		valid[currentCodeAt(t, secret, now.Add(time.Duration(skew)*30*time.Second))] = true
	}
	for n := 0; ; n++ {
		if c := fmt.Sprintf("%06d", n); !valid[c] {
			return c
		}
	}
}

func currentCodeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatalf("totp.GenerateCode: %v", err)
	}
	return code
}

// tokenRequest posts a form to POST /oauth/v2/token with plain net/http
// (optionally with HTTP Basic client authentication) and decodes the JSON
// answer.
func tokenRequest(t *testing.T, ctx context.Context, srv *factorgateProcess, form url.Values, basicUser, basicPass string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+srv.Addr+"/oauth/v2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(basicUser, basicPass)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /oauth/v2/token: %v", err)
	}
	defer res.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("POST /oauth/v2/token answered %d with a non-JSON body: %v", res.StatusCode, err)
	}
	return res.StatusCode, body
}

func isTOTPv2(f *userv2.AuthFactor) bool  { return f.GetOtp() != nil }
func isSMSv2(f *userv2.AuthFactor) bool   { return f.GetOtpSms() != nil }
func isEmailv2(f *userv2.AuthFactor) bool { return f.GetOtpEmail() != nil }

func findV2(fs []*userv2.AuthFactor, is func(*userv2.AuthFactor) bool) *userv2.AuthFactor {
	for _, f := range fs {
		if is(f) {
			return f
		}
	}
	return nil
}

// wantV2Details checks user.v2 details of a change: a sequence above after
// (the sequence of an earlier change of the same user, or 0), the
// organization as resource owner, a change date and no creation date.
func wantV2Details(t *testing.T, call string, d *objectv2.Details, owner string, after uint64) {
	t.Helper()
	if d.GetSequence() <= after || d.GetResourceOwner() != owner || d.GetChangeDate() == nil || d.GetCreationDate() != nil {
		t.Errorf("%s details = %v, want a sequence above %d, resource_owner %q, a change_date and no creation_date", call, d, after, owner)
	}
}

// wantV2betaDetails is wantV2Details for zitadel.object.v2beta.Details.
func wantV2betaDetails(t *testing.T, call string, d *objectv2beta.Details, owner string, after uint64) {
	t.Helper()
	if d.GetSequence() <= after || d.GetResourceOwner() != owner || d.GetChangeDate() == nil || d.GetCreationDate() != nil {
		t.Errorf("%s details = %v, want a sequence above %d, resource_owner %q, a change_date and no creation_date", call, d, after, owner)
	}
}

// wantV1ChangeDetails checks ZITADEL's v1 "change" details: a sequence, the
// organization as resource owner, a change date and no creation date.
func wantV1ChangeDetails(t *testing.T, call string, d *object.ObjectDetails, owner string) {
	t.Helper()
	if d.GetSequence() == 0 || d.GetResourceOwner() != owner || d.GetChangeDate() == nil || d.GetCreationDate() != nil {
		t.Errorf("%s details = %v, want a sequence, resource_owner %q, a change_date and no creation_date", call, d, owner)
	}
}
