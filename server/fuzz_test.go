package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/factorgate/factorgate/server"
	"github.com/factorgate/factorgate/server/mfa"
)

// Fuzz targets over the real server: one server per fuzzing process (the
// target function runs once per worker), rate limits off so that every
// input reaches the decoders. The property: untrusted bytes in paths,
// bodies and headers never get a 5xx, and every answer is the dialect's
// JSON. Seeds are under testdata/fuzz/<FuzzName>/; `make fuzz` runs each
// target for FUZZTIME.

func noLimits(c *server.Config) {
	c.RateLimitGrants, c.RateLimitGrantsPerIP, c.RateLimitFailedCodes = -1, -1, -1
}

// fuzzPaths are path templates of every dialect's REST routes; %s are
// filled with fuzzed segments.
var fuzzPaths = []struct{ verb, path string }{
	{http.MethodPost, "/v2/users/%s/totp"},
	{http.MethodPost, "/v2/users/%s/totp/verify"},
	{http.MethodDelete, "/v2/users/%s/u2f/%s"},
	{http.MethodGet, "/v2/users/%s/authentication_methods"},
	{http.MethodPost, "/v2/users/human"},
	{http.MethodPost, "/v2/organizations"},
	{http.MethodDelete, "/management/v1/users/%s/auth_factors/otp"},
	{http.MethodPost, "/management/v1/policies/login/second_factors"},
	{http.MethodPost, "/admin/v1/policies/login/second_factors"},
	{http.MethodPost, "/auth/v1/users/me/auth_factors/otp/_verify"},
	{http.MethodDelete, "/resources/v3alpha/users/%s/totp/%s"},
	{http.MethodPost, "/v3alpha/users/%s/otp_sms"},
	{http.MethodGet, "/api/1/users/%s/otp_devices"},
	{http.MethodPost, "/api/1/users/%s/otp_devices"},
	{http.MethodPost, "/api/1/users/%s/otp_devices/%s/verify"},
	{http.MethodDelete, "/api/1/users/%s/otp_devices/%s"},
	{http.MethodPost, "/api/1/factorgate/credentials"},
	{http.MethodPost, "/api/2/mfa/users/%s/registrations"},
	{http.MethodPut, "/api/2/mfa/users/%s/registrations/%s"},
	{http.MethodDelete, "/api/2/mfa/users/%s/devices/%s"},
	{http.MethodPost, "/activityid/v1/mfa/delete"},
	{http.MethodPost, "/activityid/v1/mfa/create"},
}

type fuzzEnv struct {
	*env
	person, personToken, olToken string
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	e := &fuzzEnv{env: mustRunServer(f, noLimits)}
	var name string
	e.person, name = e.druidPerson(e.org)
	e.enrollTOTP(e.person)
	e.personToken = e.druidLogin(name)
	cred, _, err := e.core.CreateAPICredential(e.ctx, e.org, mfa.ScopeManageAll)
	if err != nil {
		f.Fatal(err)
	}
	g, err := e.core.APICredentialGrant(context.Background(), cred.ClientID, cred.Secret)
	if err != nil {
		f.Fatal(err)
	}
	e.olToken = g.Token
	return e
}

func (e *fuzzEnv) authHeader(who uint8, raw string) string {
	switch who % 5 {
	case 0:
		return "Bearer " + e.admin
	case 1:
		return "bearer:" + e.olToken
	case 2:
		return "Bearer " + e.personToken
	case 3:
		return raw
	}
	return ""
}

// FuzzREST: every dialect's REST paths with fuzzed path segments, bodies
// and Authorization headers, as the admin, a OneLogin credential, a person
// or an arbitrary header.
func FuzzREST(f *testing.F) {
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, route uint8, seg1, seg2 string, body []byte, who uint8, rawAuth string) {
		r := fuzzPaths[int(route)%len(fuzzPaths)]
		path := r.path
		for _, seg := range []string{seg1, seg2} {
			if strings.Contains(path, "%s") {
				if seg == "" {
					seg = e.person
				}
				path = strings.Replace(path, "%s", url.PathEscape(seg), 1)
			}
		}
		req, err := http.NewRequest(r.verb, e.base+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("From", "fuzz")
		if a := e.authHeader(who, rawAuth); a != "" {
			req.Header["Authorization"] = []string{a}
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			if strings.Contains(err.Error(), "invalid header field") {
				return // the client refuses to send such a header
			}
			t.Fatalf("%s %s: %v", r.verb, path, err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode >= 500 {
			t.Fatalf("%s %s body %q auth %q: status %d, body %s", r.verb, path, body, rawAuth, res.StatusCode, raw)
		}
		if len(raw) > 0 && !json.Valid(raw) {
			t.Fatalf("%s %s: status %d, body is not JSON: %q", r.verb, path, res.StatusCode, raw)
		}
		if strings.HasPrefix(path, "/activityid/") {
			var env struct {
				Result struct {
					Status int `json:"status"`
				} `json:"result"`
			}
			if json.Unmarshal(raw, &env) != nil || env.Result.Status != res.StatusCode {
				t.Fatalf("%s: status %d, DruID envelope %s", path, res.StatusCode, raw)
			}
		}
	})
}

// FuzzTokenEndpoints: the token endpoints (and OneLogin's revoke) with
// fuzzed content types, Authorization headers (Basic, OneLogin's client
// header, anything) and bodies (forms, JSON, anything): never a 5xx, always
// JSON, and a 200 carries an access token.
func FuzzTokenEndpoints(f *testing.F) {
	e := mustRunServer(f, noLimits)
	paths := []string{"/oauth/v2/token", "/oauth2/token", "/auth/oauth2/v2/token", "/auth/oauth2/revoke", "/auth/oauth2/token"}
	f.Fuzz(func(t *testing.T, which uint8, ctype, auth string, body []byte) {
		path := paths[int(which)%len(paths)]
		req, err := http.NewRequest(http.MethodPost, e.base+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header["Content-Type"] = []string{ctype}
		if auth != "" {
			req.Header["Authorization"] = []string{auth}
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			if strings.Contains(err.Error(), "invalid header field") {
				return // the client refuses to send such a header
			}
			t.Fatalf("%s: %v", path, err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode >= 500 {
			t.Fatalf("%s ctype %q auth %q body %q: status %d %s", path, ctype, auth, body, res.StatusCode, raw)
		}
		if !json.Valid(raw) {
			t.Fatalf("%s: status %d, body is not JSON: %q", path, res.StatusCode, raw)
		}
		if res.StatusCode == http.StatusOK && path != "/auth/oauth2/revoke" && !bytes.Contains(raw, []byte(`"access_token"`)) {
			t.Fatalf("%s: 200 without an access token: %s", path, raw)
		}
	})
}
