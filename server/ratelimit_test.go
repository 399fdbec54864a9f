package server_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	userv2 "github.com/factorgate/factorgate/gen/zitadel/user/v2"
	"github.com/factorgate/factorgate/server"
	"github.com/factorgate/factorgate/server/mfa"
)

// post sends one request and returns status, headers and body.
func (e *env) post(t *testing.T, method, path, ctype, auth, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(raw)
}

func wantRetryAfter(t *testing.T, h http.Header) {
	t.Helper()
	n, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || n < 1 {
		t.Errorf("Retry-After = %q, want whole seconds ≥ 1", h.Get("Retry-After"))
	}
}

// Token requests are limited per client id (and username): past the
// burst, each token endpoint answers 429 with Retry-After in its own body;
// another client is not affected.
func TestTokenEndpointsAnswer429PerClientWithRetryAfter(t *testing.T) {
	const burst = 3
	e := mustRunServer(t, func(c *server.Config) {
		c.RateLimitGrants = 0.001 // one token back per ~17 minutes: none within the test
		c.RateLimitGrantsBurst = burst
	})
	// OneLogin: an API credential, its custom header.
	cred, _, err := e.core.CreateAPICredential(e.ctx, e.org, mfa.ScopeManageAll)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := e.core.CreateAPICredential(e.ctx, e.org, mfa.ScopeReadAll)
	if err != nil {
		t.Fatal(err)
	}
	olAuth := func(c mfa.APICredential) string { return "client_id:" + c.ClientID + ", client_secret:" + c.Secret }
	for i := 0; i < burst; i++ {
		if code, _, body := e.post(t, "POST", "/auth/oauth2/v2/token", "application/json", olAuth(cred), `{"grant_type":"client_credentials"}`); code != 200 {
			t.Fatalf("OneLogin token %d: %d %s", i, code, body)
		}
	}
	code, h, body := e.post(t, "POST", "/auth/oauth2/v2/token", "application/json", olAuth(cred), `{"grant_type":"client_credentials"}`)
	if code != http.StatusTooManyRequests || !strings.Contains(body, `"code":429`) || !strings.Contains(body, `"error":true`) {
		t.Fatalf("OneLogin token past the burst: %d %s, want 429 in OneLogin's error body", code, body)
	}
	wantRetryAfter(t, h)
	// Revoking with the same credential is limited too (it proves the secret).
	if code, _, body := e.post(t, "POST", "/auth/oauth2/revoke", "application/json", olAuth(cred), `{"access_token":"x"}`); code != http.StatusTooManyRequests {
		t.Errorf("OneLogin revoke past the burst: %d %s, want 429", code, body)
	}
	if code, _, body := e.post(t, "POST", "/auth/oauth2/v2/token", "application/json", olAuth(other), `{"grant_type":"client_credentials"}`); code != 200 {
		t.Errorf("another client was limited too: %d %s", code, body)
	}

	// ZITADEL and DruID: a machine user's client credentials, and a
	// person's password (per username) on DruID.
	bot, _ := e.machineToken(e.org)
	clientID, secret, _, err := e.core.GenerateMachineSecret(e.ctx, e.org, bot)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {"openid"}}.Encode()
	for _, path := range []string{"/oauth/v2/token", "/oauth2/token"} {
		for i := 0; i < burst; i++ {
			if code, _, body := e.post(t, "POST", path, "application/x-www-form-urlencoded", "", form); code != 200 && code != 429 {
				t.Fatalf("%s %d: %d %s", path, i, code, body)
			}
		}
		code, h, body := e.post(t, "POST", path, "application/x-www-form-urlencoded", "", form)
		if code != http.StatusTooManyRequests || !strings.Contains(body, `"error":"temporarily_unavailable"`) {
			t.Errorf("%s past the burst: %d %s, want 429 with an OAuth error", path, code, body)
		}
		wantRetryAfter(t, h)
	}
	_, name := e.druidPerson(e.org)
	pw := url.Values{"grant_type": {"password"}, "username": {name}, "password": {"wrong"}}.Encode()
	for i := 0; i < burst; i++ {
		if code, _, body := e.post(t, "POST", "/oauth2/token", "application/x-www-form-urlencoded", "", pw); code != 400 {
			t.Fatalf("wrong password %d: %d %s, want 400 invalid_grant", i, code, body)
		}
	}
	// Guessing passwords stops at the burst, even with the right one.
	right := url.Values{"grant_type": {"password"}, "username": {name}, "password": {druidPassword}}.Encode()
	if code, _, body := e.post(t, "POST", "/oauth2/token", "application/x-www-form-urlencoded", "", right); code != http.StatusTooManyRequests {
		t.Errorf("password grant past the burst: %d %s, want 429", code, body)
	}
}

// Token requests are limited per remote address too, across clients.
func TestTokenEndpointsAnswer429PerRemoteAddress(t *testing.T) {
	const burst = 4
	e := mustRunServer(t, func(c *server.Config) {
		c.RateLimitGrantsPerIP = 0.001
		c.RateLimitGrantsPerIPBurst = burst
	})
	for i := 0; i < burst; i++ {
		// Unknown clients: 401, but each counts for the address.
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"nobody" + strconv.Itoa(i)}, "client_secret": {"x"}}.Encode()
		if code, _, body := e.post(t, "POST", "/oauth/v2/token", "application/x-www-form-urlencoded", "", form); code != http.StatusUnauthorized {
			t.Fatalf("request %d: %d %s", i, code, body)
		}
	}
	for _, c := range []struct{ path, ctype, body, want string }{
		{"/oauth/v2/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", `"error":"temporarily_unavailable"`},
		{"/oauth2/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", `"error":"temporarily_unavailable"`},
		{"/auth/oauth2/v2/token", "application/json", `{"grant_type":"client_credentials"}`, `"code":429`},
		{"/auth/oauth2/token", "application/json", `{"grant_type":"client_credentials"}`, `"status":{"error":true,"code":429,"type":"Too Many Requests"`},
		{"/activityid/v1/mfa/create", "application/json", `{}`, `"status":429`},                                       // carries a password
		{"/factorgate.druid.v1.MFAService/CreateMFAChannel", "application/json", `{}`, `"code":"resource_exhausted"`}, // the same call over Connect
	} {
		code, h, body := e.post(t, "POST", c.path, c.ctype, "", c.body)
		if code != http.StatusTooManyRequests || !strings.Contains(body, c.want) {
			t.Errorf("%s from a limited address: %d %s, want 429 with %s", c.path, code, body, c.want)
		}
		wantRetryAfter(t, h)
	}
	// Ordinary authenticated calls are not limited.
	for i := 0; i < 20; i++ {
		if code, _, body := e.post(t, "GET", "/v2/users/"+e.newHuman(e.org)+"/authentication_methods", "", "Bearer "+e.admin, ""); code != 200 {
			t.Fatalf("an authenticated call after the token limit: %d %s", code, body)
		}
	}
}

// Failed TOTP verifications are counted per user in the core, whichever
// dialect and transport they come through: past the burst every further
// verification is refused, even with the right code (gRPC
// ResourceExhausted, ZITADEL REST 429 with its JSON body, OneLogin v1 and
// v2 429 in their envelopes), and nothing is written.
func TestFailedTOTPVerificationsAreLimitedPerUserAcrossDialects(t *testing.T) {
	const burst = 3
	e := mustRunServer(t, func(c *server.Config) {
		c.RateLimitFailedCodes = 0.0001 // per minute: none back within the test
		c.RateLimitFailedCodesBurst = burst
	})
	cred, _, err := e.core.CreateAPICredential(e.ctx, e.org, mfa.ScopeManageAll)
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.core.APICredentialGrant(context.Background(), cred.ClientID, cred.Secret)
	if err != nil {
		t.Fatal(err)
	}
	ol := "bearer:" + g.Token
	admin := "Bearer " + e.admin
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", admin)
	users := userv2.NewUserServiceClient(e.conn)

	// A person with a pending TOTP registration made through OneLogin v2.
	person := e.newHuman(e.org)
	regs := "/api/2/mfa/users/" + person + "/registrations"
	code, _, body := e.post(t, "POST", regs, "application/json", ol, `{"factor_id":1,"display_name":"Phone app"}`)
	m := regexp.MustCompile(`"id":"([0-9a-f-]{36})","device_id":"(\d+)".*"totp_url":"(otpauth://[^"]+)"`).FindStringSubmatch(body)
	if code != 201 || m == nil {
		t.Fatalf("create registration: %d %s", code, body)
	}
	regID, deviceID, uri := m[1], m[2], m[3]
	u, _ := url.Parse(uri)
	secret := u.Query().Get("secret")
	before := len(e.userLog(person))

	// Three wrong codes, one per dialect/transport.
	if _, err := users.VerifyTOTPRegistration(ctx, &userv2.VerifyTOTPRegistrationRequest{UserId: person, Code: "000000"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("wrong code over gRPC: %v", err)
	}
	if code, _, body := e.post(t, "POST", "/v2/users/"+person+"/totp/verify", "application/json", admin, `{"code":"000000"}`); code != 400 {
		t.Fatalf("wrong code over ZITADEL REST: %d %s", code, body)
	}
	if code, _, body := e.post(t, "PUT", regs+"/"+regID, "application/json", ol, `{"otp":"000000"}`); code != 422 {
		t.Fatalf("wrong code over OneLogin v2: %d %s", code, body)
	}

	// The bucket is empty: even the right code is refused everywhere.
	good, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = users.VerifyTOTPRegistration(ctx, &userv2.VerifyTOTPRegistrationRequest{UserId: person, Code: good})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(status.Convert(err).Message(), mfa.ErrTooManyFailedCodes.ID) {
		t.Errorf("right code over gRPC after the limit: %v, want ResourceExhausted (%s)", err, mfa.ErrTooManyFailedCodes.ID)
	}
	// gRPC clients learn when to try again from a google.rpc.RetryInfo
	// detail, REST clients from Retry-After.
	var delay time.Duration
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay = ri.GetRetryDelay().AsDuration()
		}
	}
	if delay < time.Second {
		t.Errorf("gRPC refusal after the limit: retry delay %v in %v, want a RetryInfo detail of at least 1s", delay, status.Convert(err).Details())
	}
	code, h, body := e.post(t, "POST", "/v2/users/"+person+"/totp/verify", "application/json", admin, `{"code":"`+good+`"}`)
	if code != http.StatusTooManyRequests || !strings.Contains(body, `"code":8`) {
		t.Errorf("ZITADEL REST after the limit: %d %s, want 429 with code 8", code, body)
	}
	wantRetryAfter(t, h)
	code, h, body = e.post(t, "POST", "/api/1/users/"+person+"/otp_devices/"+deviceID+"/verify", "application/json", ol, `{"otp_token":"`+good+`"}`)
	if code != http.StatusTooManyRequests || !strings.Contains(body, `"status":{"error":true,"code":429,"type":"Too Many Requests"`) {
		t.Errorf("OneLogin v1 after the limit: %d %s, want 429 in the v1 envelope", code, body)
	}
	wantRetryAfter(t, h)
	code, h, body = e.post(t, "PUT", regs+"/"+regID, "application/json", ol, `{"otp":"`+good+`"}`)
	if code != http.StatusTooManyRequests || !strings.Contains(body, `"statusCode":429,"name":"TooManyRequestsError"`) {
		t.Errorf("OneLogin v2 after the limit: %d %s, want 429 in the v2 envelope", code, body)
	}
	wantRetryAfter(t, h)
	if after := len(e.userLog(person)); after != before {
		t.Errorf("events went from %d to %d while the user was locked out", before, after)
	}
	// Another user is not affected.
	other := e.newHuman(e.org)
	e.enrollTOTP(other)
}

// DruID's mfa/create checks a person's password for an application: the
// checks share the person's bucket with the password grant, so guessing
// stops at the burst there too (429 in DruID's envelope, with
// Retry-After, even for the right password), and nothing is enrolled.
func TestDruidCreatePasswordChecksAreLimitedPerUsername(t *testing.T) {
	const burst = 3
	e := mustRunServer(t, func(c *server.Config) {
		c.RateLimitGrants = 0.001
		c.RateLimitGrantsBurst = burst
	})
	org := e.newOrg("druid-guessing")
	user, name := e.druidPerson(org)
	app := e.druidAppToken(org)
	wrong := druidCreateBody(name, "SMS", map[string]any{"object.password": "not-the-password"})
	for i := 0; i < burst; i++ {
		if code, _, env := e.druidCreate(druidHeaders(app, nil), wrong); code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d %+v, want 401", i, code, env.Result)
		}
	}
	code, h, env := e.druidCreate(druidHeaders(app, nil), druidCreateBody(name, "SMS", nil))
	if code != http.StatusTooManyRequests || env.Result.Status != http.StatusTooManyRequests {
		t.Fatalf("the right password past the burst: %d %+v, want 429 in the result envelope", code, env.Result)
	}
	// The username in other letter cases is the same person, and the same bucket.
	for _, n := range []string{strings.ToUpper(name), strings.ToUpper(name[:1]) + name[1:]} {
		if code, _, env := e.druidCreate(druidHeaders(app, nil), druidCreateBody(n, "SMS", nil)); code != http.StatusTooManyRequests {
			t.Errorf("the right password as %q past the burst: %d %+v, want 429", n, code, env.Result)
		}
	}
	wantRetryAfter(t, h)
	if fs := e.factors(user); len(fs) != 0 {
		t.Errorf("factors after the refused creates: %v, want none", fs)
	}
	// The password grant for the same person is out of tokens too.
	pw := url.Values{"grant_type": {"password"}, "username": {name}, "password": {druidPassword}}.Encode()
	if code, _, body := e.post(t, "POST", "/oauth2/token", "application/x-www-form-urlencoded", "", pw); code != http.StatusTooManyRequests {
		t.Errorf("password grant after the guesses: %d %s, want 429", code, body)
	}
}
