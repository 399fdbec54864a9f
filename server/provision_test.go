package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/factorgate/factorgate/gen/zitadel/admin"
	mgmt "github.com/factorgate/factorgate/gen/zitadel/management"
	objectv2 "github.com/factorgate/factorgate/gen/zitadel/object/v2"
	orgv2 "github.com/factorgate/factorgate/gen/zitadel/org/v2"
	userv2 "github.com/factorgate/factorgate/gen/zitadel/user/v2"
	"github.com/factorgate/factorgate/server/mfa"
)

// Provisioning through the APIs (not the core): organizations, people,
// machine users, their tokens and memberships.

// jsonOf is the REST body a ZITADEL client sends for req.
func jsonOf(req proto.Message) string {
	b, err := protojson.Marshal(req)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func humanReq(username, org string) *userv2.AddHumanUserRequest {
	r := &userv2.AddHumanUserRequest{
		Username: proto.String(username),
		Profile:  &userv2.SetHumanProfile{GivenName: "Grace", FamilyName: "Hopper"},
		Email:    &userv2.SetHumanEmail{Email: username + "@example.com", Verification: &userv2.SetHumanEmail_IsVerified{IsVerified: true}},
	}
	if org != "" {
		r.Organization = &objectv2.Organization{Org: &objectv2.Organization_OrgId{OrgId: org}}
	}
	return r
}

func addHumanUser(req *userv2.AddHumanUserRequest) op {
	return newOp[userv2.AddHumanUserRequest, userv2.AddHumanUserResponse]("/zitadel.user.v2.UserService/AddHumanUser",
		req, http.MethodPost, "/v2/users/human", jsonOf(req))
}

func addOrganization(req *orgv2.AddOrganizationRequest) op {
	return newOp[orgv2.AddOrganizationRequest, orgv2.AddOrganizationResponse]("/zitadel.org.v2.OrganizationService/AddOrganization",
		req, http.MethodPost, "/v2/organizations", jsonOf(req))
}

func addMachineUser(username string) op {
	req := &mgmt.AddMachineUserRequest{UserName: username, Name: "robot " + username}
	return newOp[mgmt.AddMachineUserRequest, mgmt.AddMachineUserResponse](mgmtSvc+"AddMachineUser",
		req, http.MethodPost, "/management/v1/users/machine", jsonOf(req))
}

func addPAT(userID string) op {
	return newOp[mgmt.AddPersonalAccessTokenRequest, mgmt.AddPersonalAccessTokenResponse](mgmtSvc+"AddPersonalAccessToken",
		&mgmt.AddPersonalAccessTokenRequest{UserId: userID}, http.MethodPost, "/management/v1/users/"+userID+"/pats", `{}`)
}

func addOrgMember(userID string, roles ...string) op {
	req := &mgmt.AddOrgMemberRequest{UserId: userID, Roles: roles}
	return newOp[mgmt.AddOrgMemberRequest, mgmt.AddOrgMemberResponse](mgmtSvc+"AddOrgMember",
		req, http.MethodPost, "/management/v1/orgs/me/members", jsonOf(req))
}

func addIAMMember(userID string, roles ...string) op {
	req := &admin.AddIAMMemberRequest{UserId: userID, Roles: roles}
	return newOp[admin.AddIAMMemberRequest, admin.AddIAMMemberResponse](adminSvc+"AddIAMMember",
		req, http.MethodPost, "/admin/v1/members", jsonOf(req))
}

func removeTOTP(userID string) op {
	return newOp[mgmt.RemoveHumanAuthFactorOTPRequest, mgmt.RemoveHumanAuthFactorOTPResponse](mgmtSvc+"RemoveHumanAuthFactorOTP",
		&mgmt.RemoveHumanAuthFactorOTPRequest{UserId: userID}, http.MethodDelete, "/management/v1/users/"+userID+"/auth_factors/otp", "")
}

// userOrg is the organization a user belongs to, from the read model.
func (e *env) userOrg(t *testing.T, userID string) string {
	t.Helper()
	d, err := e.srv.Store().Get(context.Background(), "user", userID)
	if err != nil {
		t.Fatalf("user %s: %v", userID, err)
	}
	return d.Owner
}

var (
	membershipNotFound = failure(codes.NotFound, 404, "membership not found", "AUTHZ-cdgFk")
	noPermission       = failure(codes.PermissionDenied, 403, "No matching permissions found", "AUTH-5mWD2")
	invalidRoles       = failure(codes.InvalidArgument, 400, "Roles are invalid", "Member-3m9ds")
)

// org.v2 AddOrganization with a new person as its administrator. ZITADEL
// declares HTTP 201 for it (http_response.success_code).
func TestAddOrganizationWithAdmin(t *testing.T) {
	e := mustRunServer(t)
	created := expect{code: codes.OK, http: http.StatusCreated}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			name := "acme-" + tr.name
			req := &orgv2.AddOrganizationRequest{Name: name, Admins: []*orgv2.AddOrganizationRequest_Admin{
				{UserType: &orgv2.AddOrganizationRequest_Admin_Human{Human: humanReq("boss-"+tr.name, "")}, Roles: []string{"ORG_OWNER"}},
			}}
			got := e.mustCall(t, tr, addOrganization(req), e.admin, "", created)
			r := got.resp.(*orgv2.AddOrganizationResponse)
			org := r.GetOrganizationId()
			if org == "" || len(r.GetCreatedAdmins()) != 1 || r.GetCreatedAdmins()[0].GetUserId() == "" {
				t.Fatalf("response %v: want an organization id and one created admin", r)
			}
			if got := e.userOrg(t, r.GetCreatedAdmins()[0].GetUserId()); got != org {
				t.Errorf("the admin was created in org %q, want the new org %q", got, org)
			}
			d := r.GetDetails()
			events, _ := e.srv.Store().Load(context.Background(), "org", org, 0)
			if len(events) == 0 || d.GetSequence() != events[len(events)-1].Sequence || d.GetResourceOwner() != org || d.GetChangeDate() == nil {
				t.Errorf("details %v: want the org's last sequence (%d events), resource owner %s and a change date", d, len(events), org)
			}
			// The organization exists for the org context of later calls.
			e.mustCall(t, tr, mgmtGetLoginPolicy(), e.admin, org, success)

			e.mustCall(t, tr, addOrganization(&orgv2.AddOrganizationRequest{Name: name}), e.admin, "",
				failure(codes.AlreadyExists, 409, "Organisation's name already taken", "COMMAND-Ab3gd"))
			bad := &orgv2.AddOrganizationRequest{Name: name + "-bad-role", Admins: []*orgv2.AddOrganizationRequest_Admin{
				{UserType: &orgv2.AddOrganizationRequest_Admin_Human{Human: humanReq("boss2-"+tr.name, "")}, Roles: []string{"IAM_OWNER"}},
			}}
			e.mustCall(t, tr, addOrganization(bad), e.admin, "", invalidRoles)
			e.mustCall(t, tr, addOrganization(&orgv2.AddOrganizationRequest{}), e.admin, "",
				expect{code: codes.InvalidArgument, http: 400, message: "invalid AddOrganizationRequest.Name: value length must be between 1 and 200 runes, inclusive"})
		})
	}
}

// user.v2 AddHumanUser declares org_field "organization": the body's
// organization overrides x-zitadel-orgid, for the permission check and for
// where the user is created.
func TestAddHumanUserOrganizationField(t *testing.T) {
	e := mustRunServer(t)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			a, b := e.newOrg("header-org-"+tr.name), e.newOrg("body-org-"+tr.name)
			_, managerOfA := e.machineToken(a, "ORG_USER_MANAGER")
			_, managerOfB := e.machineToken(b, "ORG_USER_MANAGER")
			name := func(s string) string { return s + "-" + tr.name }
			cases := []struct {
				name    string
				req     *userv2.AddHumanUserRequest
				token   string
				want    expect
				wantOrg string
			}{
				{"body org wins over the header", humanReq(name("in-b"), b), e.admin, success, b},
				{"without a body org the header decides", humanReq(name("in-a"), ""), e.admin, success, a},
				{"permission is checked in the body org", humanReq(name("denied"), b), managerOfA, membershipNotFound, ""},
				{"a member of the body org needs nothing in the header org", humanReq(name("by-b"), b), managerOfB, success, b},
				{"body org that does not exist", humanReq(name("nowhere"), "777777777"), e.admin,
					failure(codes.PermissionDenied, 403, "Organisation doesn't exist", "AUTH-Bs7Ds"), ""},
				{"duplicate username", humanReq(name("in-b"), a), e.admin, failure(codes.AlreadyExists, 409, "User already exists", "COMMAND-k2m4s"), ""},
				{"the denied name was not taken", humanReq(name("denied"), a), e.admin, success, a},
			}
			for _, c := range cases {
				t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
					got := e.mustCall(t, tr, addHumanUser(c.req), c.token, a, c.want)
					if c.wantOrg == "" {
						return
					}
					r := got.resp.(*userv2.AddHumanUserResponse)
					if org := e.userOrg(t, r.GetUserId()); org != c.wantOrg {
						t.Errorf("user created in org %q, want %q", org, c.wantOrg)
					}
					if d := r.GetDetails(); d.GetResourceOwner() != c.wantOrg || d.GetSequence() == 0 || d.GetChangeDate() == nil {
						t.Errorf("details %v: want resource owner %s, a sequence and a change date", d, c.wantOrg)
					}
				})
			}
		})
	}
}

// Request validation of AddHumanUser (protoc-gen-validate, as ZITADEL).
func TestAddHumanUserValidation(t *testing.T) {
	e := mustRunServer(t)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			badEmail := humanReq("bad-email-"+tr.name, "")
			badEmail.Email.Email = "not-an-email"
			noProfile := humanReq("no-profile-"+tr.name, "")
			noProfile.Profile = nil
			cases := []struct {
				name string
				req  *userv2.AddHumanUserRequest
				msg  string
			}{
				{"invalid email", badEmail, "invalid AddHumanUserRequest.Email: embedded message failed validation | caused by: invalid SetHumanEmail.Email: value must be a valid email address | caused by: mail: missing '@' or angle-addr"},
				{"missing profile", noProfile, "invalid AddHumanUserRequest.Profile: value is required"},
			}
			for _, c := range cases {
				t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
					e.mustCall(t, tr, addHumanUser(c.req), e.admin, "", expect{code: codes.InvalidArgument, http: 400, message: c.msg})
				})
			}

			// A phone must be a number, as ZITADEL's PHONE-so0wa says
			// (libphonenumber's parse, Switzerland the region of a national
			// number); it is stored in E.164, and a refused person takes no
			// username.
			phone := func(number string) *userv2.AddHumanUserRequest {
				r := humanReq("phone-"+tr.name, "")
				r.Phone = &userv2.SetHumanPhone{Phone: number, Verification: &userv2.SetHumanPhone_IsVerified{IsVerified: true}}
				return r
			}
			for _, bad := range []string{"abc", "not a number", "1", "++41"} {
				e.mustCall(t, tr, addHumanUser(phone(bad)), e.admin, "", failure(codes.InvalidArgument, 400, "Phone is invalid", "PHONE-so0wa"))
			}
			got := e.mustCall(t, tr, addHumanUser(phone("079 123 45 67")), e.admin, "", success) // national: Switzerland
			user := got.resp.(*userv2.AddHumanUserResponse).GetUserId()
			e.addOTP(user, mfa.FactorOTPSMS)
			if fs, err := e.core.ListUserFactors(e.ctx, "", user); err != nil || len(fs) != 1 || fs[0].Contact != "+41791234567" {
				t.Errorf("the SMS factor of the verified phone: %+v (%v), want one with +41791234567", fs, err)
			}
		})
	}
}

// A machine user made through management.v1 gets a token that works, and
// a membership that reaches its organization and no other.
func TestMachineUserTokenAndMembership(t *testing.T) {
	e := mustRunServer(t)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			home, other := e.newOrg("home-"+tr.name), e.newOrg("elsewhere-"+tr.name)
			person, stranger := e.newHuman(home), e.newHuman(other)
			e.enrollTOTP(person)
			e.enrollTOTP(stranger)

			got := e.mustCall(t, tr, addMachineUser("robot-"+tr.name), e.admin, home, success)
			robot := got.resp.(*mgmt.AddMachineUserResponse).GetUserId()
			if robot == "" || e.userOrg(t, robot) != home {
				t.Fatalf("machine user %q not created in the org context %s", robot, home)
			}
			e.mustCall(t, tr, addMachineUser("robot-"+tr.name), e.admin, home, failure(codes.AlreadyExists, 409, "User already exists", "COMMAND-k2m4s"))

			got = e.mustCall(t, tr, addPAT(robot), e.admin, home, success)
			token := got.resp.(*mgmt.AddPersonalAccessTokenResponse).GetToken()
			if token == "" || got.resp.(*mgmt.AddPersonalAccessTokenResponse).GetTokenId() == "" {
				t.Fatalf("no token in %v", got.resp)
			}
			// The token authenticates (no 401); without a membership the
			// caller has no permission yet.
			e.mustCall(t, tr, removeTOTP(person), token, "", membershipNotFound)

			e.mustCall(t, tr, addOrgMember(robot, "ORG_USER_MANAGER"), e.admin, home, success)
			e.mustCall(t, tr, addOrgMember(robot, "ORG_OWNER"), e.admin, home, failure(codes.AlreadyExists, 409, "Member already exists", "Org-PtXi1"))
			e.mustCall(t, tr, addOrgMember(robot, "NO_SUCH_ROLE"), e.admin, other, invalidRoles)
			e.mustCall(t, tr, addOrgMember(robot, "IAM_OWNER"), e.admin, other, invalidRoles)

			// Now it manages users at home ...
			e.mustCall(t, tr, removeTOTP(person), token, "", success)
			if fs := e.factors(person); len(fs) != 0 {
				t.Errorf("factor still there after removal: %+v", fs)
			}
			// ... but not elsewhere: invisible from its own org context, no
			// membership in the other org's context.
			e.mustCall(t, tr, removeTOTP(stranger), token, "", failure(codes.NotFound, 404, "Multifactor OTP (OneTimePassword) doesn't exist", "COMMAND-Hd9sd"))
			e.mustCall(t, tr, removeTOTP(stranger), token, other, membershipNotFound)
			if fs := e.factors(stranger); len(fs) != 1 {
				t.Errorf("the other org's factor was touched: %+v", fs)
			}
			// A user manager cannot grant memberships.
			e.mustCall(t, tr, addOrgMember(person, "ORG_OWNER"), token, "", noPermission)

			// Tokens are for machine users only.
			e.mustCall(t, tr, addPAT(person), e.admin, home, failure(codes.FailedPrecondition, 400, "The User must be technical", "COMMAND-Dggw2"))
			// A user of another org is not found in this org context.
			e.mustCall(t, tr, addPAT(robot), e.admin, other, failure(codes.NotFound, 404, "User could not be found", "COMMAND-M0dsf"))
		})
	}
}

// admin.v1 AddIAMMember gives instance roles, which reach the admin API.
func TestAddIAMMember(t *testing.T) {
	e := mustRunServer(t)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			org := e.newOrg("iam-" + tr.name)
			user, token := e.machineToken(org, "ORG_OWNER")
			e.mustCall(t, tr, adminGetLoginPolicy(), token, "", noPermission)
			e.mustCall(t, tr, addIAMMember(user, "IAM_OWNER_VIEWER"), token, "", noPermission) // org owners cannot promote themselves

			e.mustCall(t, tr, addIAMMember(user, "ORG_OWNER"), e.admin, "", invalidRoles)
			e.mustCall(t, tr, addIAMMember(user, "IAM_OWNER_VIEWER"), e.admin, "", success)
			e.mustCall(t, tr, addIAMMember(user, "IAM_OWNER"), e.admin, "", failure(codes.AlreadyExists, 409, "Member already exists", "Org-PtXi1"))

			e.mustCall(t, tr, adminGetLoginPolicy(), token, "", success)
			e.mustCall(t, tr, adminListSecondFactors(), token, "", success)
			e.mustCall(t, tr, adminAddSecondFactor(sfOTPSMS), token, "", noPermission) // a viewer still cannot write
		})
	}
}

// A malformed REST body is a client error with a google.rpc.Status body,
// never a 500.
func TestRESTMalformedBody(t *testing.T) {
	e := mustRunServer(t)
	cases := []struct{ name, path, body string }{
		{"truncated JSON", "/v2/users/human", `{"username":`},
		{"not JSON", "/management/v1/policies/login/second_factors", `type=OTP`},
		{"wrong field type", "/management/v1/policies/login/second_factors", `{"type":true}`},
		{"unknown enum name", "/admin/v1/policies/login/second_factors", `{"type":"SECOND_FACTOR_TYPE_SMOKE_SIGNALS"}`},
		{"array instead of object", "/v2/organizations", `[]`},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.base+c.path, strings.NewReader(c.body))
			req.Header.Set("Authorization", "Bearer "+e.admin)
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var st struct {
				Code    *int             `json:"code"`
				Message string           `json:"message"`
				Details *json.RawMessage `json:"details"`
			}
			if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if res.StatusCode != http.StatusBadRequest || st.Code == nil || *st.Code != int(codes.InvalidArgument) || st.Message == "" {
				t.Fatalf("got HTTP %d, code %v, message %q; want 400 with code 3 and a message", res.StatusCode, st.Code, st.Message)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
		})
	}
}

// Unknown JSON fields are discarded, as ZITADEL's gateway does.
func TestRESTUnknownFieldsIgnored(t *testing.T) {
	e := mustRunServer(t)
	rest := transports[2]
	body := `{"username":"unknown-fields","favouriteColour":"teal","profile":{"givenName":"Ada","familyName":"Byron","shoeSize":42},` +
		`"email":{"email":"unknown-fields@example.com","isVerified":true,"extra":{"deep":[1,2]}}}`
	o := addHumanUser(&userv2.AddHumanUserRequest{})
	o.restBody = body
	got := e.mustCall(t, rest, o, e.admin, "", success)
	if id := got.resp.(*userv2.AddHumanUserResponse).GetUserId(); e.userOrg(t, id) != e.org {
		t.Errorf("user %s not created in the caller's org", id)
	}
	o = mgmtAddSecondFactor(sfOTPSMS)
	o.restBody = `{"type":"SECOND_FACTOR_TYPE_OTP_SMS","comment":"ignored"}`
	e.mustCall(t, rest, o, e.admin, "", success)
}
