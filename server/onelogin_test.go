package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	oneloginv1 "github.com/factorgate/factorgate/gen/factorgate/onelogin/v1"
	"github.com/factorgate/factorgate/server/mfa"
)

// OneLogin's bodies (reference/onelogin.md §3, §7, §11), compared byte for
// byte. {placeholders} are filled in with the ids of the test's data.
const (
	v1AuthFailure   = `{"status":{"error":true,"code":401,"type":"Unauthorized","message":"Authentication Failure"}}`
	v1Insufficient  = `{"status":{"error":true,"code":401,"type":"Unauthorized","message":"Insufficient Permission"}}`
	v1UserNotFound  = `{"status":{"error":true,"code":404,"type":"not found","message":"User for id {id} was not found"}}`
	v1FactorMissing = `{"status":{"error":true,"code":400,"type":"bad request","message":"Factor could not be found"}}`
	v1UserNotExist  = `{"status":{"error":true,"code":400,"type":"bad request","message":"User does not exist"}}`
	v1Success       = `{"status":{"error":false,"code":200,"type":"success","message":"Success"}}`
	v1NoRoute       = `{"status":{"error":true,"code":404,"type":"Not Found","message":"No Route Exists"}}`

	v2Unauthorized = `{"statusCode":401,"name":"UnauthorizedError","message":"This request requires Authentication"}`
	v2Forbidden    = `{"statusCode":403,"name":"ForbiddenError","message":"Insufficient Permission"}`
	v2NotFound     = `{"statusCode":404,"name":"NotFoundError","message":"The resource can't be found or the server has not found anything matching the Request-URI"}`
)

// olEnv is a server with one person in the first organization (TOTP and
// SMS enrolled), one in another organization, and API credentials of
// every scope in the first organization.
type olEnv struct {
	*env
	user, other      string
	totpID, smsID    string
	tokens           map[string]string // scope → access token
	clientID, secret string            // the Manage All credential
}

func newOLEnv(t *testing.T) *olEnv {
	t.Helper()
	e := &olEnv{env: mustRunServer(t), tokens: map[string]string{}}
	e.user = e.newHuman(e.org)
	e.enrollTOTP(e.user)
	e.addOTP(e.user, mfa.FactorOTPSMS)
	for _, f := range e.factors(e.user) {
		switch f.Kind {
		case mfa.FactorTOTP:
			e.totpID = f.ID
		case mfa.FactorOTPSMS:
			e.smsID = f.ID
		}
	}
	other := e.newOrg("other-" + time.Now().Format("150405.000000"))
	e.other = e.newHuman(other)
	e.enrollTOTP(e.other)
	for _, scope := range []string{mfa.ScopeAuthenticationOnly, mfa.ScopeReadUsers, mfa.ScopeManageUsers, mfa.ScopeReadAll, mfa.ScopeManageAll} {
		cred, _, err := e.core.CreateAPICredential(e.ctx, e.org, scope)
		if err != nil {
			t.Fatalf("CreateAPICredential(%q): %v", scope, err)
		}
		e.tokens[scope] = e.token(t, cred.ClientID, cred.Secret)
		if scope == mfa.ScopeManageAll {
			e.clientID, e.secret = cred.ClientID, cred.Secret
		}
	}
	return e
}

// token gets an access token from the token endpoint with OneLogin's
// custom client header.
func (e *olEnv) token(t *testing.T, id, secret string) string {
	t.Helper()
	code, body, _ := e.do(t, http.MethodPost, "/auth/oauth2/v2/token", "client_id:"+id+", client_secret:"+secret, `{"grant_type":"client_credentials"}`)
	if code != http.StatusOK {
		t.Fatalf("token: %d %s", code, body)
	}
	var r struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.AccessToken == "" {
		t.Fatalf("token body %s: %v", body, err)
	}
	return r.AccessToken
}

// do makes one HTTP call with auth as the Authorization header.
func (e *olEnv) do(t *testing.T, method, path, auth, body string) (int, string, http.Header) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(raw), res.Header
}

func (e *olEnv) bearer(scope string) string { return "bearer:" + e.tokens[scope] }

// fill replaces {user}, {other}, {totp}, {sms} and {id} in a golden body.
func (e *olEnv) fill(s, id string) string {
	return strings.NewReplacer("{user}", e.user, "{other}", e.other, "{totp}", e.totpID, "{sms}", e.smsID, "{id}", id).Replace(s)
}

// olCase is one call and the exact answer it must get.
type olCase struct {
	name       string
	method     string
	path       string // with {user}, {totp}, … placeholders
	auth       string
	body       string
	wantStatus int
	want       string // golden body, with placeholders
	id         string // fills {id} in want
}

func (e *olEnv) run(t *testing.T, cases []olCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body, hdr := e.do(t, c.method, e.fill(c.path, c.id), c.auth, c.body)
			want := e.fill(c.want, c.id)
			if code != c.wantStatus || body != want {
				t.Fatalf("%s %s: got %d %s\nwant %d %s", c.method, c.path, code, body, c.wantStatus, want)
			}
			if body != "" && hdr.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q, want application/json", hdr.Get("Content-Type"))
			}
		})
	}
}

// Bad ids name nothing: a word, a negative number, one above 2^53 − 1 (the
// largest id factorgate issues) and one above int64.
var badIDs = []struct{ name, id string }{
	{"Word", "abc"}, {"Negative", "-1"}, {"Above2To53", "9007199254740993"}, {"AboveInt64", "99999999999999999999"},
}

// errorCases are the errors every endpoint answers the same way: no
// token, a bad token, a token without the scope, a missing user, a user of
// another organization, bad user ids. notFound is the endpoint's body for
// a user it cannot see.
func errorCases(method, pathFmt, body, wrongScopeAuth, wrongScopeName, wrongScopeWant string, wrongScopeStatus int,
	noAuthWant string, notFoundName string, notFoundStatus int, notFoundWant string, goodAuth string) []olCase {
	path := func(user string) string { return strings.Replace(pathFmt, "{u}", user, 1) }
	cases := []olCase{
		{name: "NoToken_401", method: method, path: path("{user}"), body: body, wantStatus: 401, want: noAuthWant},
		{name: "BadToken_401", method: method, path: path("{user}"), auth: "bearer: fg_not-a-token", body: body, wantStatus: 401, want: noAuthWant},
		{name: "NotBearer_401", method: method, path: path("{user}"), auth: "Basic Zm9vOmJhcg==", body: body, wantStatus: 401, want: noAuthWant},
		{name: wrongScopeName, method: method, path: path("{user}"), auth: wrongScopeAuth, body: body, wantStatus: wrongScopeStatus, want: wrongScopeWant},
		{name: "MissingUser_" + notFoundName, method: method, path: path("1"), auth: goodAuth, body: body, wantStatus: notFoundStatus, want: notFoundWant, id: "1"},
		{name: "UserOfAnotherOrg_" + notFoundName, method: method, path: path("{other}"), auth: goodAuth, body: body, wantStatus: notFoundStatus, want: notFoundWant, id: "{other}"},
	}
	for _, b := range badIDs {
		cases = append(cases, olCase{name: "BadUserID" + b.name + "_" + notFoundName, method: method, path: path(b.id), auth: goodAuth,
			body: body, wantStatus: notFoundStatus, want: notFoundWant, id: b.id})
	}
	return cases
}

func TestOneLoginV1Golden(t *testing.T) {
	e := newOLEnv(t)
	manage, read := e.bearer(mfa.ScopeManageUsers), e.bearer(mfa.ScopeReadUsers)
	authOnly := e.bearer(mfa.ScopeAuthenticationOnly)
	fix := func(cs []olCase) []olCase { // {other} in the {id} of a message
		for i := range cs {
			if cs[i].id == "{other}" {
				cs[i].id = e.other
			}
		}
		return cs
	}

	t.Run("AuthFactors", func(t *testing.T) {
		available := `{"status":{"error":false,"code":200,"type":"success","message":"Success"},"data":{"auth_factors":[{"name":"Google Authenticator","factor_id":1},{"name":"OneLogin SMS","factor_id":2}]}}`
		e.run(t, []olCase{
			{name: "Success_ReadUsers", method: "GET", path: "/api/1/users/{user}/auth_factors", auth: read, wantStatus: 200, want: available},
			{name: "SingularPathOfPythonSDK4_Success", method: "GET", path: "/api/1/users/{user}/auth_factor", auth: read, wantStatus: 200, want: available},
		})
		e.run(t, fix(errorCases("GET", "/api/1/users/{u}/auth_factors", "", authOnly, "AuthenticationOnlyScope_401InsufficientPermission", v1Insufficient, 401,
			v1AuthFailure, "404UserNotFound", 404, v1UserNotFound, read)))
	})

	devices := `{"status":{"error":false,"code":200,"type":"success","message":"Success"},"data":{"otp_devices":[` +
		`{"id":{totp},"active":true,"default":true,"auth_factor_name":"Google Authenticator","type_display_name":"Google Authenticator","user_display_name":"Google Authenticator","needs_trigger":false},` +
		`{"id":{sms},"active":true,"default":false,"auth_factor_name":"OneLogin SMS","type_display_name":"SMS","user_display_name":"SMS","needs_trigger":true,"phone_number":"+41791234567"}]}}`
	t.Run("OtpDevices", func(t *testing.T) {
		e.run(t, []olCase{
			{name: "Success_ReadUsers", method: "GET", path: "/api/1/users/{user}/otp_devices", auth: read, wantStatus: 200, want: devices},
			{name: "Success_ReadAll", method: "GET", path: "/api/1/users/{user}/otp_devices", auth: e.bearer(mfa.ScopeReadAll), wantStatus: 200, want: devices},
			{name: "Success_ManageAll", method: "GET", path: "/api/1/users/{user}/otp_devices", auth: e.bearer(mfa.ScopeManageAll), wantStatus: 200, want: devices},
		})
		e.run(t, fix(errorCases("GET", "/api/1/users/{u}/otp_devices", "", authOnly, "AuthenticationOnlyScope_401InsufficientPermission", v1Insufficient, 401,
			v1AuthFailure, "404UserNotFound", 404, v1UserNotFound, read)))
	})

	t.Run("Enroll", func(t *testing.T) {
		body := `{"factor_id":2,"display_name":"Work phone","number":"+41791112233","verified":true}`
		e.run(t, fix(errorCases("POST", "/api/1/users/{u}/otp_devices", body, read, "ReadUsersScope_401InsufficientPermission", v1Insufficient, 401,
			v1AuthFailure, "404UserNotFound", 404, v1UserNotFound, manage)))
		e.run(t, []olCase{
			{name: "SMSNotVerified_400", method: "POST", path: "/api/1/users/{user}/otp_devices", auth: manage, body: `{"factor_id":2,"display_name":"x","number":"+41791112233"}`,
				wantStatus: 400, want: `{"status":{"error":true,"code":400,"type":"bad request","message":"factorgate sends no SMS: enroll with verified=true"}}`},
			{name: "SMSAlreadyEnrolled_400", method: "POST", path: "/api/1/users/{user}/otp_devices", auth: manage, body: body,
				wantStatus: 400, want: `{"status":{"error":true,"code":400,"type":"bad request","message":"Factor is already enrolled"}}`},
			{name: "UnknownFactorID_400", method: "POST", path: "/api/1/users/{user}/otp_devices", auth: manage, body: `{"factor_id":99,"display_name":"x"}`,
				wantStatus: 400, want: `{"status":{"error":true,"code":400,"type":"bad request","message":"Invalid factor_id"}}`},
			{name: "NotJSON_400", method: "POST", path: "/api/1/users/{user}/otp_devices", auth: manage, body: `{"factor_id":`,
				wantStatus: 400, want: `{"status":{"error":true,"code":400,"type":"bad request","message":"Request Failure"}}`},
			// display_name is required (OneLogin's docs); the message and the
			// limit of 255 characters are factorgate's (unverified).
			{name: "NoDisplayName_400_MessageUnverified", method: "POST", path: "/api/1/users/{user}/otp_devices", auth: manage, body: `{"factor_id":1}`,
				wantStatus: 400, want: `{"status":{"error":true,"code":400,"type":"bad request","message":"display_name is required, at most 255 characters"}}`},
			{name: "BlankDisplayName_400_MessageUnverified", method: "POST", path: "/api/1/users/{user}/otp_devices", auth: manage, body: `{"factor_id":1,"display_name":"  "}`,
				wantStatus: 400, want: `{"status":{"error":true,"code":400,"type":"bad request","message":"display_name is required, at most 255 characters"}}`},
			{name: "DisplayNameOf256Characters_400_LimitUnverified", method: "POST", path: "/api/1/users/{user}/otp_devices", auth: manage,
				body:       `{"factor_id":1,"display_name":"` + strings.Repeat("é", 256) + `"}`,
				wantStatus: 400, want: `{"status":{"error":true,"code":400,"type":"bad request","message":"display_name is required, at most 255 characters"}}`},
		})
	})

	t.Run("Verify", func(t *testing.T) {
		body := `{"otp_token":"123456"}`
		e.run(t, fix(errorCases("POST", "/api/1/users/{u}/otp_devices/{totp}/verify", body, read, "ReadUsersScope_401InsufficientPermission", v1Insufficient, 401,
			v1AuthFailure, "400UserDoesNotExist", 400, v1UserNotExist, manage)))
		e.run(t, []olCase{
			{name: "MissingFactor_400FactorNotFound", method: "POST", path: "/api/1/users/{user}/otp_devices/1/verify", auth: manage, body: body, wantStatus: 400, want: v1FactorMissing},
			{name: "BadDeviceID_400FactorNotFound", method: "POST", path: "/api/1/users/{user}/otp_devices/abc/verify", auth: manage, body: body, wantStatus: 400, want: v1FactorMissing},
			{name: "ActiveDevice_400", method: "POST", path: "/api/1/users/{user}/otp_devices/{totp}/verify", auth: manage, body: body,
				wantStatus: 400, want: `{"status":{"error":true,"code":400,"type":"bad request","message":"Factor is already verified"}}`},
		})
	})

	t.Run("Remove", func(t *testing.T) {
		cases := fix(errorCases("DELETE", "/api/1/users/{u}/otp_devices/{totp}", "", read, "ReadUsersScope_401InsufficientPermission", v1Insufficient, 401,
			v1AuthFailure, "400FactorNotFound", 400, v1FactorMissing, manage))
		cases = append(cases,
			olCase{name: "OtherOrgsDevice_400FactorNotFound", method: "DELETE", path: "/api/1/users/{other}/otp_devices/" + e.factors(e.other)[0].ID, auth: manage, wantStatus: 400, want: v1FactorMissing},
			olCase{name: "MissingFactor_400FactorNotFound", method: "DELETE", path: "/api/1/users/{user}/otp_devices/1", auth: manage, wantStatus: 400, want: v1FactorMissing},
		)
		for _, b := range badIDs {
			cases = append(cases, olCase{name: "BadDeviceID" + b.name + "_400FactorNotFound", method: "DELETE", path: "/api/1/users/{user}/otp_devices/" + b.id,
				auth: manage, wantStatus: 400, want: v1FactorMissing})
		}
		cases = append(cases,
			olCase{name: "Success_200SuccessEnvelope_AcceptedByEveryV1SDK", method: "DELETE", path: "/api/1/users/{user}/otp_devices/{totp}", auth: manage, wantStatus: 200, want: v1Success},
			olCase{name: "Again_400FactorNotFound", method: "DELETE", path: "/api/1/users/{user}/otp_devices/{totp}", auth: manage, wantStatus: 400, want: v1FactorMissing},
			olCase{name: "ManageAll_200", method: "DELETE", path: "/api/1/users/{user}/otp_devices/{sms}", auth: e.bearer(mfa.ScopeManageAll), wantStatus: 200, want: v1Success},
			olCase{name: "ListAfterwards_Empty", method: "GET", path: "/api/1/users/{user}/otp_devices", auth: read, wantStatus: 200,
				want: `{"status":{"error":false,"code":200,"type":"success","message":"Success"},"data":{"otp_devices":[]}}`},
		)
		e.run(t, cases)
		if fs := e.factors(e.other); len(fs) != 1 {
			t.Errorf("the other organization's person has %d factors, want 1 (untouched)", len(fs))
		}
	})

	t.Run("UnknownRoute_404NoRouteExists", func(t *testing.T) {
		e.run(t, []olCase{{name: "Path", method: "GET", path: "/api/1/users/{user}/nothing", auth: read, wantStatus: 404, want: v1NoRoute}})
	})
}

func TestOneLoginV1EnrollAndVerifyTOTP(t *testing.T) {
	e := newOLEnv(t)
	manage := e.bearer(mfa.ScopeManageUsers)
	person := e.newHuman(e.org)
	code, body, _ := e.do(t, "POST", "/api/1/users/"+person+"/otp_devices", manage, `{"factor_id":1,"display_name":"Phone app"}`)
	uriRE := regexp.MustCompile(`"totp_url":"(otpauth://[^"]+)"`)
	m := uriRE.FindStringSubmatch(body)
	if code != 200 || m == nil {
		t.Fatalf("enroll: %d %s", code, body)
	}
	fs := e.factors(person)
	if len(fs) != 1 || fs[0].State != mfa.FactorNotReady {
		t.Fatalf("after enroll: %+v, want one pending TOTP", fs)
	}
	want := `{"status":{"error":false,"code":200,"type":"success","message":"Success"},"data":[{"id":` + fs[0].ID +
		`,"active":false,"default":false,"auth_factor_name":"Google Authenticator","type_display_name":"Google Authenticator","user_display_name":"Phone app","needs_trigger":false,"totp_url":"{uri}"}]}`
	if got := strings.Replace(body, m[1], "{uri}", 1); got != want {
		t.Fatalf("enroll body\n got %s\nwant %s", got, want)
	}
	u, err := url.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	secret := u.Query().Get("secret")
	verify := "/api/1/users/" + person + "/otp_devices/" + fs[0].ID + "/verify"
	e.run(t, []olCase{{name: "WrongCode_400", method: "POST", path: verify, auth: manage, body: `{"otp_token":"000000"}`, wantStatus: 400,
		want: `{"status":{"error":true,"code":400,"type":"bad request","message":"Failed authentication with this factor"}}`}})
	otp, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.run(t, []olCase{{name: "RightCode_200", method: "POST", path: verify, auth: manage, body: `{"otp_token":"` + otp + `"}`, wantStatus: 200, want: v1Success}})
	// SMS with a number the administrator vouches for: active at once.
	code, body, _ = e.do(t, "POST", "/api/1/users/"+person+"/otp_devices", manage, `{"factor_id":2,"display_name":"Work phone","number":"+41791112233","verified":true}`)
	var smsID string
	for _, f := range e.factors(person) {
		if f.Kind == mfa.FactorOTPSMS {
			smsID = f.ID
		}
		if f.State != mfa.FactorReady {
			t.Errorf("factor %+v not ready", f)
		}
	}
	wantSMS := `{"status":{"error":false,"code":200,"type":"success","message":"Success"},"data":[{"id":` + smsID +
		`,"active":true,"default":false,"auth_factor_name":"OneLogin SMS","type_display_name":"SMS","user_display_name":"Work phone","needs_trigger":true,"phone_number":"+41791112233"}]}`
	if code != 200 || body != wantSMS {
		t.Fatalf("enroll SMS: %d %s\nwant %s", code, body, wantSMS)
	}
	// Both devices keep the names they were enrolled with.
	e.run(t, []olCase{{name: "DevicesKeepTheirDisplayNames", method: "GET", path: "/api/1/users/" + person + "/otp_devices", auth: manage, wantStatus: 200,
		want: `{"status":{"error":false,"code":200,"type":"success","message":"Success"},"data":{"otp_devices":[` +
			`{"id":` + fs[0].ID + `,"active":true,"default":true,"auth_factor_name":"Google Authenticator","type_display_name":"Google Authenticator","user_display_name":"Phone app","needs_trigger":false},` +
			`{"id":` + smsID + `,"active":true,"default":false,"auth_factor_name":"OneLogin SMS","type_display_name":"SMS","user_display_name":"Work phone","needs_trigger":true,"phone_number":"+41791112233"}]}}`}})
}

func TestOneLoginV2Golden(t *testing.T) {
	e := newOLEnv(t)
	all, users := e.bearer(mfa.ScopeManageAll), e.bearer(mfa.ScopeManageUsers)
	t.Run("Factors", func(t *testing.T) {
		e.run(t, []olCase{{name: "Success_BareArray", method: "GET", path: "/api/2/mfa/users/{user}/factors", auth: all, wantStatus: 200,
			want: `[{"factor_id":1,"name":"Google Authenticator","auth_factor_name":"Google Authenticator"},{"factor_id":2,"name":"SMS","auth_factor_name":"OneLogin SMS"},{"factor_id":3,"name":"Email","auth_factor_name":"OneLogin Email"}]`}})
		e.run(t, errorCases("GET", "/api/2/mfa/users/{u}/factors", "", users, "ManageUsersScope_Unverified403Forbidden", v2Forbidden, 403,
			v2Unauthorized, "404NotFoundError", 404, v2NotFound, all))
	})
	t.Run("Devices", func(t *testing.T) {
		e.run(t, []olCase{{name: "Success_BareArrayStringDeviceIDs", method: "GET", path: "/api/2/mfa/users/{user}/devices", auth: all, wantStatus: 200,
			want: `[{"device_id":"{totp}","user_display_name":"Google Authenticator","type_display_name":"Google Authenticator","auth_factor_name":"Google Authenticator","default":true},` +
				`{"device_id":"{sms}","user_display_name":"SMS","type_display_name":"SMS","auth_factor_name":"OneLogin SMS","default":false}]`}})
		// The docs disagree on the scope of the devices list; the spec's
		// Manage All is enforced.
		e.run(t, errorCases("GET", "/api/2/mfa/users/{u}/devices", "", users, "ManageUsersScope_SpecSaysManageAllOnly_Unverified403Forbidden", v2Forbidden, 403,
			v2Unauthorized, "404NotFoundError", 404, v2NotFound, all))
	})
	t.Run("Remove", func(t *testing.T) {
		cases := errorCases("DELETE", "/api/2/mfa/users/{u}/devices/{totp}", "", users, "ManageUsersScope_Unverified403Forbidden", v2Forbidden, 403,
			v2Unauthorized, "Unverified404NotFoundError", 404, v2NotFound, all)
		cases = append(cases,
			olCase{name: "UnknownDevice_Unverified404NotFoundError", method: "DELETE", path: "/api/2/mfa/users/{user}/devices/1", auth: all, wantStatus: 404, want: v2NotFound},
			olCase{name: "OtherOrgsDevice_Unverified404NotFoundError", method: "DELETE", path: "/api/2/mfa/users/{other}/devices/" + e.factors(e.other)[0].ID, auth: all, wantStatus: 404, want: v2NotFound})
		for _, b := range badIDs {
			cases = append(cases, olCase{name: "BadDeviceID" + b.name + "_Unverified404NotFoundError", method: "DELETE", path: "/api/2/mfa/users/{user}/devices/" + b.id,
				auth: all, wantStatus: 404, want: v2NotFound})
		}
		cases = append(cases,
			olCase{name: "Success_204NoBody", method: "DELETE", path: "/api/2/mfa/users/{user}/devices/{totp}", auth: all, wantStatus: 204, want: ""},
			olCase{name: "Again_Unverified404NotFoundError", method: "DELETE", path: "/api/2/mfa/users/{user}/devices/{totp}", auth: all, wantStatus: 404, want: v2NotFound},
		)
		e.run(t, cases)
		code, body, hdr := e.do(t, "DELETE", "/api/2/mfa/users/"+e.user+"/devices/"+e.smsID, all, "")
		if code != 204 || body != "" || hdr.Get("Content-Type") != "" || hdr.Get("Content-Length") != "" && hdr.Get("Content-Length") != "0" {
			t.Fatalf("204 answer: %d %q %v", code, body, hdr)
		}
		if fs := e.factors(e.other); len(fs) != 1 {
			t.Errorf("the other organization's person has %d factors, want 1 (untouched)", len(fs))
		}
	})
	t.Run("UnknownRoute_404NotFoundError", func(t *testing.T) {
		e.run(t, []olCase{{name: "Path", method: "GET", path: "/api/2/mfa/users/{user}/nothing", auth: all, wantStatus: 404, want: v2NotFound}})
	})
}

func TestOneLoginV2Registrations(t *testing.T) {
	e := newOLEnv(t)
	all := e.bearer(mfa.ScopeManageAll)
	person := e.newHuman(e.org)
	regs := "/api/2/mfa/users/" + person + "/registrations"

	e.run(t, errorCases("POST", "/api/2/mfa/users/{u}/registrations", `{"factor_id":1,"display_name":"x"}`, e.bearer(mfa.ScopeManageUsers),
		"ManageUsersScope_Unverified403Forbidden", v2Forbidden, 403, v2Unauthorized, "404NotFoundError", 404, v2NotFound, all))
	e.run(t, []olCase{
		{name: "SMSWithoutVerified_422", method: "POST", path: regs, auth: all, body: `{"factor_id":2,"display_name":"x"}`, wantStatus: 422,
			want: `{"statusCode":422,"name":"UnprocessableEntityError","message":"factorgate sends no SMS or email: register with verified=true"}`},
		{name: "WebAuthn_422", method: "POST", path: regs, auth: all, body: `{"factor_id":4,"display_name":"x"}`, wantStatus: 422,
			want: `{"statusCode":422,"name":"UnprocessableEntityError","message":"invalid value in \"factor_id\""}`},
		{name: "NotJSON_400", method: "POST", path: regs, auth: all, body: `[`, wantStatus: 400,
			want: `{"statusCode":400,"name":"BadRequestError","message":"Request Failure"}`},
		// display_name is required and expires_in is "120" to "900" (OneLogin's
		// docs); 422 as for factor_id, and the 255 characters are factorgate's
		// limit (unverified).
		{name: "NoDisplayName_422", method: "POST", path: regs, auth: all, body: `{"factor_id":1}`, wantStatus: 422,
			want: `{"statusCode":422,"name":"UnprocessableEntityError","message":"invalid value in \"display_name\""}`},
		{name: "DisplayNameOf256Characters_422_LimitUnverified", method: "POST", path: regs, auth: all,
			body: `{"factor_id":1,"display_name":"` + strings.Repeat("x", 256) + `"}`, wantStatus: 422,
			want: `{"statusCode":422,"name":"UnprocessableEntityError","message":"invalid value in \"display_name\""}`},
		{name: "ExpiresInNotANumber_422", method: "POST", path: regs, auth: all, body: `{"factor_id":1,"display_name":"x","expires_in":"abc"}`, wantStatus: 422,
			want: `{"statusCode":422,"name":"UnprocessableEntityError","message":"invalid value in \"expires_in\""}`},
		{name: "ExpiresIn119_422", method: "POST", path: regs, auth: all, body: `{"factor_id":1,"display_name":"x","expires_in":"119"}`, wantStatus: 422,
			want: `{"statusCode":422,"name":"UnprocessableEntityError","message":"invalid value in \"expires_in\""}`},
		{name: "ExpiresIn901_422", method: "POST", path: regs, auth: all, body: `{"factor_id":1,"display_name":"x","expires_in":"901"}`, wantStatus: 422,
			want: `{"statusCode":422,"name":"UnprocessableEntityError","message":"invalid value in \"expires_in\""}`},
	})
	if fs := e.factors(person); len(fs) != 0 {
		t.Fatalf("factors after the refused registrations: %+v, want none", fs)
	}

	// Authenticator: 201 pending with a UUID, then PUT with the OTP.
	code, body, _ := e.do(t, "POST", regs, all, `{"factor_id":1,"display_name":"Phone app","expires_in":"900"}`)
	re := regexp.MustCompile(`^\{"id":"([0-9a-f-]{36})","device_id":"(\d+)","user_id":` + person +
		`,"user_display_name":"Phone app","type_display_name":"Google Authenticator","auth_factor_name":"Google Authenticator","status":"pending","totp_url":"(otpauth://[^"]+)"\}$`)
	m := re.FindStringSubmatch(body)
	if code != 201 || m == nil {
		t.Fatalf("create registration: %d %s", code, body)
	}
	regID, deviceID, uri := m[1], m[2], m[3]
	u, _ := url.Parse(uri)
	put := regs + "/" + regID
	e.run(t, []olCase{
		{name: "WrongOTP_422", method: "PUT", path: put, auth: all, body: `{"otp":"000000"}`, wantStatus: 422,
			want: `{"statusCode":422,"name":"UnprocessableEntityError","message":"Invalid OTP"}`},
		{name: "UnknownRegistration_404", method: "PUT", path: regs + "/00000000-0000-0000-0000-000000000000", auth: all, body: `{"otp":123456}`, wantStatus: 404, want: v2NotFound},
		{name: "NoOTP_400", method: "PUT", path: put, auth: all, body: `{}`, wantStatus: 400,
			want: `{"statusCode":400,"name":"BadRequestError","message":"invalid value in \"otp\""}`},
	})
	putPath := strings.Replace(put, person, "{u}", 1)
	e.run(t, errorCases("PUT", putPath, `{"otp":"123456"}`, e.bearer(mfa.ScopeManageUsers),
		"ManageUsersScope_Unverified403Forbidden", v2Forbidden, 403, v2Unauthorized, "404NotFoundError", 404, v2NotFound, all))
	otp, err := totp.GenerateCode(u.Query().Get("secret"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// As a JSON number, as the Go SDK sends it (leading zeros dropped).
	num := strings.TrimLeft(otp, "0")
	if num == "" {
		num = "0"
	}
	e.run(t, []olCase{
		{name: "RightOTPAsNumber_200Accepted", method: "PUT", path: put, auth: all, body: `{"otp":` + num + `}`, wantStatus: 200,
			want: `{"id":"` + regID + `","status":"accepted","device_id":"` + deviceID + `"}`},
		{name: "AgainAfterAccepted_404", method: "PUT", path: put, auth: all, body: `{"otp":"` + otp + `"}`, wantStatus: 404, want: v2NotFound},
		{name: "DevicesListsIt", method: "GET", path: "/api/2/mfa/users/" + person + "/devices", auth: all, wantStatus: 200,
			want: `[{"device_id":"` + deviceID + `","user_display_name":"Phone app","type_display_name":"Google Authenticator","auth_factor_name":"Google Authenticator","default":true}]`},
	})

	// Email with verified=true: the person's verified address, accepted at once.
	code, body, _ = e.do(t, "POST", regs, all, `{"factor_id":3,"display_name":"Mail","verified":true}`)
	var emailID string
	for _, f := range e.factors(person) {
		if f.Kind == mfa.FactorOTPEmail {
			emailID = f.ID
		}
	}
	want := `{"id":"{reg}","device_id":"` + emailID + `","user_id":` + person + `,"user_display_name":"Mail","type_display_name":"Email","auth_factor_name":"OneLogin Email","status":"accepted"}`
	if got := regexp.MustCompile(`"id":"[0-9a-f-]{36}"`).ReplaceAllString(body, `"id":"{reg}"`); code != 201 || emailID == "" || got != want {
		t.Fatalf("email registration: %d %s\nwant %s", code, body, want)
	}
	// The devices keep the names they were registered with, as OneLogin's
	// user_display_name; ZITADEL's listings, which have no name for these
	// factors, are unchanged.
	e.run(t, []olCase{{name: "DevicesKeepTheirDisplayNames", method: "GET", path: "/api/2/mfa/users/" + person + "/devices", auth: all, wantStatus: 200,
		want: `[{"device_id":"` + deviceID + `","user_display_name":"Phone app","type_display_name":"Google Authenticator","auth_factor_name":"Google Authenticator","default":true},` +
			`{"device_id":"` + emailID + `","user_display_name":"Mail","type_display_name":"Email","auth_factor_name":"OneLogin Email","default":false}]`}})
}

// OneLogin's Authorization spellings all work; other schemes do not.
func TestOneLoginBearerSpellings(t *testing.T) {
	e := newOLEnv(t)
	tok := e.tokens[mfa.ScopeReadUsers]
	for _, auth := range []string{"Bearer " + tok, "bearer " + tok, "bearer:" + tok, "bearer: " + tok, "BEARER:  " + tok} {
		if code, body, _ := e.do(t, "GET", "/api/1/users/"+e.user+"/otp_devices", auth, ""); code != 200 {
			t.Errorf("%q: %d %s", strings.Replace(auth, tok, "<token>", 1), code, body)
		}
	}
	for _, auth := range []string{"Token " + tok, "bearer", "bearer:", "Bearertoken" + tok, tok} {
		if code, body, _ := e.do(t, "GET", "/api/1/users/"+e.user+"/otp_devices", auth, ""); code != 401 || body != v1AuthFailure {
			t.Errorf("%q: %d %s, want 401 Authentication Failure", strings.Replace(auth, tok, "<token>", 1), code, body)
		}
	}
	// A ZITADEL token (no OneLogin scope) is not a OneLogin credential.
	if code, body, _ := e.do(t, "GET", "/api/1/users/"+e.user+"/otp_devices", "Bearer "+e.admin, ""); code != 401 || body != v1Insufficient {
		t.Errorf("admin PAT: %d %s, want 401 Insufficient Permission", code, body)
	}
	// The organization header is not forwarded: the token's own
	// organization is the only one it sees.
	req, _ := http.NewRequest("GET", e.base+"/api/1/users/"+e.other+"/otp_devices", nil)
	req.Header.Set("Authorization", "bearer:"+e.tokens[mfa.ScopeManageAll])
	req.Header.Set("x-zitadel-orgid", "1")
	req.Header.Set("Grpc-Metadata-X-Zitadel-Orgid", "1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("other organization's user with an organization header: %d, want 404", res.StatusCode)
	}
}

func TestOneLoginTokenEndpoint(t *testing.T) {
	e := newOLEnv(t)
	tokenRE := regexp.MustCompile(`^\{"access_token":"(fg_[A-Za-z0-9_-]{43})","created_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","expires_in":36000,"token_type":"bearer","account_id":` + e.org + `\}$`)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(e.clientID+":"+e.secret))
	post := func(auth, ctype, body string) (int, string) {
		req, _ := http.NewRequest("POST", e.base+"/auth/oauth2/v2/token", strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		req.Header.Set("Content-Type", ctype)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(raw)
	}
	var issued []string
	for _, c := range []struct{ name, auth, ctype, body string }{
		{"CustomHeader", "client_id:" + e.clientID + ", client_secret:" + e.secret, "application/json", `{"grant_type":"client_credentials"}`},
		{"CustomHeaderNoSpaces", "client_id:" + e.clientID + ",client_secret:" + e.secret, "application/json", `{"grant_type":"client_credentials"}`},
		{"Basic", basic, "application/json", `{"grant_type":"client_credentials"}`},
		{"FormFields", "", "application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=" + e.clientID + "&client_secret=" + e.secret},
	} {
		t.Run(c.name+"_200", func(t *testing.T) {
			code, body := post(c.auth, c.ctype, c.body)
			m := tokenRE.FindStringSubmatch(body)
			if code != 200 || m == nil {
				t.Fatalf("%d %s", code, body)
			}
			issued = append(issued, m[1])
		})
	}
	const authFail = `{"error":true,"code":401,"type":"Unauthorized","message":"Authentication Failure"}`
	for _, c := range []struct{ name, auth, ctype, body, want string }{
		{"WrongSecret_Unverified401AuthenticationFailure", "client_id:" + e.clientID + ", client_secret:nope", "application/json", `{"grant_type":"client_credentials"}`, authFail},
		{"UnknownClient_Unverified401AuthenticationFailure", "client_id:nope, client_secret:" + e.secret, "application/json", `{"grant_type":"client_credentials"}`, authFail},
		{"NoCredentials_Unverified401AuthenticationFailure", "", "application/json", `{"grant_type":"client_credentials"}`, authFail},
		{"MachineUserSecretIsNoAPICredential_Unverified401", basic[:6] + base64.StdEncoding.EncodeToString([]byte("factorgate-admin:x")), "application/json", `{"grant_type":"client_credentials"}`, authFail},
		{"NoGrantType_400", "client_id:" + e.clientID + ", client_secret:" + e.secret, "application/json", `{}`,
			`{"error":true,"code":400,"type":"bad request","message":"grant_type is incorrect/absent"}`},
		{"PasswordGrant_400", "client_id:" + e.clientID + ", client_secret:" + e.secret, "application/json", `{"grant_type":"password"}`,
			`{"error":true,"code":400,"type":"bad request","message":"grant_type is incorrect/absent"}`},
		{"NotJSON_400", "client_id:" + e.clientID + ", client_secret:" + e.secret, "application/json", `{"grant_type":`,
			`{"error":true,"code":400,"type":"bad request","message":"Request Failure"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := post(c.auth, c.ctype, c.body)
			if code != 401 && code != 400 || body != c.want || (code == 401) != strings.Contains(c.want, "401") {
				t.Fatalf("%d %s, want %s", code, body, c.want)
			}
		})
	}
	if len(issued) != 4 {
		t.Fatalf("issued %d tokens", len(issued))
	}
	t.Run("Revoke", func(t *testing.T) {
		tok := issued[0]
		list := "/api/1/users/" + e.user + "/otp_devices"
		if code, _, _ := e.do(t, "GET", list, "bearer:"+tok, ""); code != 200 {
			t.Fatalf("token before revocation: %d", code)
		}
		// Another credential cannot revoke it (and learns nothing).
		other, _, err := e.core.CreateAPICredential(e.ctx, e.org, mfa.ScopeReadUsers)
		if err != nil {
			t.Fatal(err)
		}
		code, body, _ := e.do(t, "POST", "/auth/oauth2/revoke", "client_id:"+other.ClientID+", client_secret:"+other.Secret, `{"access_token":"`+tok+`"}`)
		if code != 200 || body != v1Success {
			t.Fatalf("revoke by another client: %d %s", code, body)
		}
		if code, _, _ := e.do(t, "GET", list, "bearer:"+tok, ""); code != 200 {
			t.Fatalf("another client revoked the token: %d", code)
		}
		code, body, _ = e.do(t, "POST", "/auth/oauth2/revoke", "client_id:"+e.clientID+", client_secret:nope", `{"access_token":"`+tok+`"}`)
		if code != 401 || body != authFail {
			t.Fatalf("revoke with a wrong secret: %d %s", code, body)
		}
		code, body, _ = e.do(t, "POST", "/auth/oauth2/revoke", "client_id:"+e.clientID+", client_secret:"+e.secret, `{"access_token":"`+tok+`"}`)
		if code != 200 || body != v1Success {
			t.Fatalf("revoke: %d %s", code, body)
		}
		if code, body, _ := e.do(t, "GET", list, "bearer:"+tok, ""); code != 401 || body != v1AuthFailure {
			t.Fatalf("revoked token: %d %s, want 401 Authentication Failure", code, body)
		}
		if code, _, _ := e.do(t, "GET", list, "bearer:"+issued[1], ""); code != 200 {
			t.Fatalf("a second token of the same credential stopped working: %d", code)
		}
	})
}

// OneLogin's v1 token endpoint: the v2 grant in the v1 envelope (a data
// array of one), errors in the v1 envelope (unverified: the reference gives
// only the 400 text), and a new token ends the credential's older ones,
// whichever endpoint issued them.
func TestOneLoginTokenEndpointV1_ErrorsInV1EnvelopeUnverified(t *testing.T) {
	e := newOLEnv(t)
	okRE := regexp.MustCompile(`^\{"status":\{"error":false,"code":200,"type":"success","message":"Success"\},"data":\[\{"access_token":"(fg_[A-Za-z0-9_-]{43})","created_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","expires_in":36000,"token_type":"bearer","account_id":` + e.org + `\}\]\}$`)
	creds := "client_id:" + e.clientID + ", client_secret:" + e.secret
	list := "/api/1/users/" + e.user + "/otp_devices"
	issue := func() string {
		t.Helper()
		code, body, h := e.do(t, "POST", "/auth/oauth2/token", creds, `{"grant_type":"client_credentials"}`)
		m := okRE.FindStringSubmatch(body)
		if code != 200 || m == nil || h.Get("Cache-Control") != "no-store" {
			t.Fatalf("v1 token: %d %s (Cache-Control %q)", code, body, h.Get("Cache-Control"))
		}
		return m[1]
	}
	code, body, _ := e.do(t, "POST", "/auth/oauth2/v2/token", creds, `{"grant_type":"client_credentials"}`)
	v2 := regexp.MustCompile(`"access_token":"([^"]+)"`).FindStringSubmatch(body)
	if code != 200 || v2 == nil {
		t.Fatalf("v2 token: %d %s", code, body)
	}
	first := issue()
	if code, body, _ := e.do(t, "GET", list, "bearer:"+first, ""); code != 200 {
		t.Fatalf("the v1 token on a v1 call: %d %s", code, body)
	}
	if code, body, _ := e.do(t, "GET", list, "bearer:"+v2[1], ""); code != 401 || body != v1AuthFailure {
		t.Errorf("the v2 token after a v1 issue: %d %s, want 401 Authentication Failure", code, body)
	}
	second := issue()
	if code, body, _ := e.do(t, "GET", list, "bearer:"+first, ""); code != 401 || body != v1AuthFailure {
		t.Errorf("the first v1 token after the second: %d %s, want 401", code, body)
	}
	if code, _, _ := e.do(t, "GET", list, "bearer:"+second, ""); code != 200 {
		t.Errorf("the second v1 token: %d", code)
	}

	const authFail = `{"status":{"error":true,"code":401,"type":"Unauthorized","message":"Authentication Failure"}}`
	for _, c := range []struct {
		name, method, auth, body string
		code                     int
		want                     string
	}{
		{"NoGrantType", "POST", creds, `{}`, 400, `{"status":{"error":true,"code":400,"type":"bad request","message":"grant_type is incorrect/absent"}}`},
		{"PasswordGrant", "POST", creds, `{"grant_type":"password"}`, 400, `{"status":{"error":true,"code":400,"type":"bad request","message":"grant_type is incorrect/absent"}}`},
		{"NotJSON", "POST", creds, `{"grant_type":`, 400, `{"status":{"error":true,"code":400,"type":"bad request","message":"Request Failure"}}`},
		{"WrongSecret", "POST", "client_id:" + e.clientID + ", client_secret:nope", `{"grant_type":"client_credentials"}`, 401, authFail},
		{"NoCredentials", "POST", "", `{"grant_type":"client_credentials"}`, 401, authFail},
		{"GET", "GET", creds, "", 405, `{"status":{"error":true,"code":405,"type":"method not allowed","message":"Use POST"}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body, _ := e.do(t, c.method, "/auth/oauth2/token", c.auth, c.body)
			if code != c.code || body != c.want {
				t.Errorf("%d %s, want %d %s", code, body, c.code, c.want)
			}
		})
	}
	// A refused request ended nothing.
	if code, _, _ := e.do(t, "GET", list, "bearer:"+second, ""); code != 200 {
		t.Errorf("the second v1 token after refused requests: %d", code)
	}
}

// One core, one event log: a factor removed through OneLogin is gone for
// ZITADEL callers, and the other way round.
func TestOneLoginAndZITADELShareFactors(t *testing.T) {
	e := newOLEnv(t)
	zitadelFactors := func() string {
		code, body := e.rawREST("POST", "/v2/users/"+e.user+"/authentication_factors/_search", e.admin, "")
		if code != 200 {
			t.Fatalf("user.v2 ListAuthenticationFactors: %d %s", code, body)
		}
		return string(body)
	}
	if got := zitadelFactors(); !strings.Contains(got, `"otp":{}`) || !strings.Contains(got, `"otpSms":{}`) {
		t.Fatalf("ZITADEL before: %s", got)
	}
	if code, body, _ := e.do(t, "DELETE", "/api/2/mfa/users/"+e.user+"/devices/"+e.totpID, e.bearer(mfa.ScopeManageAll), ""); code != 204 {
		t.Fatalf("OneLogin remove: %d %s", code, body)
	}
	if got := zitadelFactors(); strings.Contains(got, `"otp":{}`) || !strings.Contains(got, `"otpSms":{}`) {
		t.Fatalf("ZITADEL after the OneLogin removal of TOTP: %s", got)
	}
	if code, body := e.rawREST("DELETE", "/v2/users/"+e.user+"/otp_sms", e.admin, ""); code != 200 { // user.v2 RemoveOTPSMS
		t.Fatalf("ZITADEL RemoveOTPSMS: %d %s", code, body)
	}
	code, body, _ := e.do(t, "GET", "/api/1/users/"+e.user+"/otp_devices", e.bearer(mfa.ScopeReadUsers), "")
	if want := `{"status":{"error":false,"code":200,"type":"success","message":"Success"},"data":{"otp_devices":[]}}`; code != 200 || body != want {
		t.Fatalf("OneLogin after the ZITADEL removal: %d %s", code, body)
	}
	if code, body, _ := e.do(t, "DELETE", "/api/1/users/"+e.user+"/otp_devices/"+e.smsID, e.bearer(mfa.ScopeManageUsers), ""); code != 400 || body != v1FactorMissing {
		t.Fatalf("OneLogin remove of the factor ZITADEL removed: %d %s", code, body)
	}
}

// The OneLogin services are gRPC services too, behind the same chain.
func TestOneLoginOverGRPC(t *testing.T) {
	e := newOLEnv(t)
	c := oneloginv1.NewMFAServiceClient(e.conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+e.tokens[mfa.ScopeReadUsers])
	res, err := c.GetEnrolledFactors(ctx, &oneloginv1.GetEnrolledFactorsRequest{UserId: e.user})
	if err != nil || len(res.GetData().GetOtpDevices()) != 2 {
		t.Fatalf("GetEnrolledFactors: %v %v", res, err)
	}
	_, err = c.RemoveFactor(ctx, &oneloginv1.RemoveFactorRequest{UserId: e.user, DeviceId: e.totpID})
	if st := status.Convert(err); st.Code() != codes.PermissionDenied || st.Message() != "Insufficient Permission (AUTH-fgScp)" {
		t.Fatalf("RemoveFactor with Read users: %v, want PermissionDenied", err)
	}
	_, err = c.RemoveFactor(ctx, &oneloginv1.RemoveFactorRequest{UserId: e.user, DeviceId: "1"})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("RemoveFactor of a missing device with Read users: %v, want PermissionDenied (scope before lookup)", err)
	}
	ctx = metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+e.tokens[mfa.ScopeManageUsers])
	_, err = c.RemoveFactor(ctx, &oneloginv1.RemoveFactorRequest{UserId: e.user, DeviceId: "1"})
	if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != "Factor could not be found" {
		t.Fatalf("RemoveFactor of a missing device: %v, want NotFound", err)
	}
	if _, err := c.RemoveFactor(ctx, &oneloginv1.RemoveFactorRequest{UserId: e.user, DeviceId: e.totpID}); err != nil {
		t.Fatalf("RemoveFactor: %v", err)
	}
}

// An administrator creates API credentials through factorgate's own call.
func TestOneLoginCreateCredentialCall(t *testing.T) {
	e := newOLEnv(t)
	other := e.newOrg("creds-" + time.Now().Format("150405.000000"))
	credRE := regexp.MustCompile(`^\{"client_id":"([0-9a-f]{64})","client_secret":"([0-9a-f]{64})"\}$`)
	for _, c := range []struct{ name, auth, body, scope, org string }{
		{"AdminPAT_OwnOrg", "Bearer " + e.admin, `{"scope":"Manage users"}`, mfa.ScopeManageUsers, e.org},
		{"AdminPAT_OtherOrg", "Bearer " + e.admin, `{"org_id":"` + other + `","scope":"Read All"}`, mfa.ScopeReadAll, other},
		{"ManageAllCredential_OwnOrg", e.bearer(mfa.ScopeManageAll), `{"scope":"Read users"}`, mfa.ScopeReadUsers, e.org},
	} {
		t.Run(c.name+"_200", func(t *testing.T) {
			code, body, _ := e.do(t, "POST", "/api/1/factorgate/credentials", c.auth, c.body)
			m := credRE.FindStringSubmatch(body)
			if code != 200 || m == nil {
				t.Fatalf("%d %s", code, body)
			}
			p, err := e.core.Authenticate(context.Background(), e.token(t, m[1], m[2]))
			if err != nil || p.OrgID != c.org || len(p.Scopes) != 1 || p.Scopes[0] != c.scope {
				t.Fatalf("token of the new credential: %+v %v", p, err)
			}
		})
	}
	e.run(t, []olCase{
		{name: "ManageUsersCredential_401InsufficientPermission", method: "POST", path: "/api/1/factorgate/credentials", auth: e.bearer(mfa.ScopeManageUsers),
			body: `{"scope":"Manage All"}`, wantStatus: 401, want: v1Insufficient},
		{name: "ManageAllCredential_OtherOrg_401InsufficientPermission", method: "POST", path: "/api/1/factorgate/credentials", auth: e.bearer(mfa.ScopeManageAll),
			body: `{"org_id":"` + other + `","scope":"Manage All"}`, wantStatus: 401, want: v1Insufficient},
		{name: "NoToken_401", method: "POST", path: "/api/1/factorgate/credentials", body: `{"scope":"Manage All"}`, wantStatus: 401, want: v1AuthFailure},
		{name: "UnknownScope_400", method: "POST", path: "/api/1/factorgate/credentials", auth: "Bearer " + e.admin, body: `{"scope":"Everything"}`, wantStatus: 400,
			want: `{"status":{"error":true,"code":400,"type":"bad request","message":"Unknown scope (want Authentication Only, Read users, Manage users, Read All or Manage All)"}}`},
	})
}

// Racing removals of one device through OneLogin: one wins, every other
// gets the contract's "not found" (v1 400, v2 404), never a 500.
func TestOneLoginRacingRemovals(t *testing.T) {
	e := newOLEnv(t)
	type answer struct {
		code int
		body string
	}
	const n = 8
	answers := make(chan answer, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			path, auth := "/api/1/users/"+e.user+"/otp_devices/"+e.totpID, e.bearer(mfa.ScopeManageUsers)
			if i%2 == 1 {
				path, auth = "/api/2/mfa/users/"+e.user+"/devices/"+e.totpID, e.bearer(mfa.ScopeManageAll)
			}
			req, _ := http.NewRequest("DELETE", e.base+path, nil)
			req.Header.Set("Authorization", auth)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				answers <- answer{0, err.Error()}
				return
			}
			raw, _ := io.ReadAll(res.Body)
			res.Body.Close()
			answers <- answer{res.StatusCode, string(raw)}
		}(i)
	}
	won := 0
	for i := 0; i < n; i++ {
		a := <-answers
		switch {
		case a.code == 200 && a.body == v1Success, a.code == 204 && a.body == "":
			won++
		case a.code == 400 && a.body == v1FactorMissing, a.code == 404 && a.body == v2NotFound:
		default:
			t.Errorf("answer %d %s", a.code, a.body)
		}
	}
	if won != 1 {
		t.Errorf("%d removals succeeded, want exactly 1", won)
	}
}
