package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	mgmt "github.com/factorgate/factorgate/gen/zitadel/management"
	"github.com/factorgate/factorgate/server/mfa"
)

// postForm posts an OAuth token request and decodes the JSON answer.
func (e *env) postForm(form url.Values, basicUser, basicPass string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.base+"/oauth/v2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(basicUser, basicPass)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		e.t.Fatalf("token endpoint answered non-JSON (status %d): %v", res.StatusCode, err)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		e.t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	return res.StatusCode, body
}

func TestTokenEndpoint(t *testing.T) {
	e := mustRunServer(t)
	// A person with a password.
	if _, err := e.core.AddHumanUser(e.ctx, e.org, mfa.HumanInput{Username: "grace", GivenName: "Grace", FamilyName: "Hopper",
		Email: "grace@example.com", EmailVerified: true, Password: "cobol-1959"}); err != nil {
		t.Fatal(err)
	}
	// A service with a client secret and the right to manage users.
	bot, _ := e.machineToken(e.org, "ORG_USER_MANAGER")
	clientID, secret, _, err := e.core.GenerateMachineSecret(e.ctx, e.org, bot)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("password grant gives a working token", func(t *testing.T) {
		code, body := e.postForm(url.Values{"grant_type": {"password"}, "username": {"grace"}, "password": {"cobol-1959"}, "scope": {"openid"}}, "", "")
		if code != 200 || body["token_type"] != "Bearer" || body["access_token"] == "" || body["expires_in"].(float64) <= 0 {
			t.Fatalf("got %d %v", code, body)
		}
		p, err := e.core.Authenticate(e.ctx, body["access_token"].(string))
		if err != nil || p.AMR[0] != "pwd" {
			t.Fatalf("token from the password grant: %+v, %v", p, err)
		}
	})
	t.Run("client credentials give a token that is authorized by the machine's role", func(t *testing.T) {
		code, body := e.postForm(url.Values{"grant_type": {"client_credentials"}}, clientID, secret)
		if code != 200 {
			t.Fatalf("got %d %v", code, body)
		}
		u := e.newHuman(e.org)
		e.enrollTOTP(u)
		o := newOp[mgmt.RemoveHumanAuthFactorOTPRequest, mgmt.RemoveHumanAuthFactorOTPResponse](
			"/zitadel.management.v1.ManagementService/RemoveHumanAuthFactorOTP", &mgmt.RemoveHumanAuthFactorOTPRequest{UserId: u},
			http.MethodDelete, "/management/v1/users/"+u+"/auth_factors/otp", "")
		if got := e.callGRPC(o, body["access_token"].(string), ""); got.code != codes.OK {
			t.Fatalf("removal with the machine's token: %v %q", got.code, got.message)
		}
	})
	for _, c := range []struct {
		name       string
		form       url.Values
		user, pass string
		status     int
		oauthError string
	}{
		{"wrong password", url.Values{"grant_type": {"password"}, "username": {"grace"}, "password": {"fortran"}}, "", "", 400, "invalid_grant"},
		{"unknown user", url.Values{"grant_type": {"password"}, "username": {"nobody"}, "password": {"x"}}, "", "", 400, "invalid_grant"},
		{"missing password", url.Values{"grant_type": {"password"}, "username": {"grace"}}, "", "", 400, "invalid_request"},
		{"wrong client secret", url.Values{"grant_type": {"client_credentials"}}, clientID, secret + "x", 401, "invalid_client"},
		{"client secret in the form", url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {"nope"}}, "", "", 401, "invalid_client"},
		{"no client authentication", url.Values{"grant_type": {"client_credentials"}}, "", "", 401, "invalid_client"},
		{"unsupported grant", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}, "", "", 400, "unsupported_grant_type"},
		{"missing grant type", url.Values{}, "", "", 400, "invalid_request"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := e.postForm(c.form, c.user, c.pass)
			if code != c.status || body["error"] != c.oauthError {
				t.Fatalf("got %d %v, want %d error %q", code, body, c.status, c.oauthError)
			}
			if _, ok := body["access_token"]; ok {
				t.Fatalf("an access token came with an error: %v", body)
			}
		})
	}
	t.Run("GET is refused", func(t *testing.T) {
		code, _ := e.rawREST(http.MethodGet, "/oauth/v2/token", "", "")
		if code != http.StatusMethodNotAllowed {
			t.Fatalf("GET /oauth/v2/token = %d, want 405", code)
		}
	})
}
