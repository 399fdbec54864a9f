package server_test

import (
	"errors"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/onelogin/onelogin-go-sdk/v4/pkg/onelogin"
	"github.com/onelogin/onelogin-go-sdk/v4/pkg/onelogin/api"
	"github.com/onelogin/onelogin-go-sdk/v4/pkg/onelogin/authentication"
	"github.com/onelogin/onelogin-go-sdk/v4/pkg/onelogin/models"
	"github.com/pquerna/otp/totp"

	"github.com/factorgate/factorgate/server/mfa"
)

// withToken is the HTTP client given to OneLogin's SDK: it sets the access
// token (the SDK would send an empty one, reference/onelogin.md §14) and
// turns a 401 into an error, because on 401 the SDK fetches a new token
// from onelogin.com.
type withToken struct {
	t     *testing.T
	token string
}

func (c withToken) Do(r *http.Request) (*http.Response, error) {
	r.Header.Set("Authorization", "Bearer "+c.token)
	res, err := http.DefaultClient.Do(r)
	if err == nil && res.StatusCode == http.StatusUnauthorized {
		res.Body.Close()
		c.t.Errorf("%s %s: 401; the SDK would dial onelogin.com", r.Method, r.URL.Path)
		return nil, errors.New("401 withheld from the SDK")
	}
	return res, err
}

// The official Go SDK (github.com/onelogin/onelogin-go-sdk/v4 v4.7.0),
// pointed at factorgate, lists, enrolls, verifies and removes factors
// through its v2 methods.
func TestOneLoginGoSDK(t *testing.T) {
	e := newOLEnv(t)
	log.SetOutput(io.Discard) // the SDK logs every path
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	sdk := &onelogin.OneloginSDK{Client: &api.Client{
		HttpClient: withToken{t: t, token: e.tokens[mfa.ScopeManageAll]},
		Auth:       authentication.NewAuthenticator("factorgate-test"),
		OLdomain:   e.base,
		Timeout:    10 * time.Second,
	}}
	user, _ := strconv.Atoi(e.user)

	devices := func() map[string]map[string]any {
		t.Helper()
		got, err := sdk.GetEnrolledFactor(user)
		if err != nil {
			t.Fatalf("GetEnrolledFactor: %v", err)
		}
		list, ok := got.([]any)
		if !ok {
			t.Fatalf("GetEnrolledFactor: %T %v, want a list", got, got)
		}
		out := map[string]map[string]any{}
		for _, d := range list {
			m := d.(map[string]any)
			out[m["device_id"].(string)] = m
		}
		return out
	}
	before := devices()
	if len(before) != 2 || before[e.totpID]["auth_factor_name"] != "Google Authenticator" || before[e.smsID]["auth_factor_name"] != "OneLogin SMS" {
		t.Fatalf("devices: %v", before)
	}
	if got, err := sdk.GetAvailableMFAFactors(user); err != nil || len(got.([]any)) != 3 {
		t.Fatalf("GetAvailableMFAFactors: %v %v", got, err)
	}

	device, _ := strconv.Atoi(e.totpID)
	got, err := sdk.RemoveMFAFactor(user, device)
	if err != nil {
		t.Fatalf("RemoveMFAFactor: %v", err)
	}
	if m, ok := got.(map[string]any); !ok || m["status"] != "success" {
		t.Fatalf("RemoveMFAFactor: %v, want map[status:success] (the SDK's answer to 204)", got)
	}
	after := devices()
	if _, ok := after[e.totpID]; ok || len(after) != 1 {
		t.Fatalf("devices after removal: %v", after)
	}
	if _, err := sdk.RemoveMFAFactor(user, device); err == nil || err.Error() != "request failed with status: 404" {
		t.Fatalf("RemoveMFAFactor again: %v, want the SDK's 404 error", err)
	}
	other, _ := strconv.Atoi(e.other)
	otherDevice, _ := strconv.Atoi(e.factors(e.other)[0].ID)
	if _, err := sdk.RemoveMFAFactor(other, otherDevice); err == nil {
		t.Fatal("RemoveMFAFactor of another organization's device succeeded")
	}
	if fs := e.factors(e.other); len(fs) != 1 {
		t.Fatalf("the other organization's person lost a factor: %v", fs)
	}

	// Enroll Authenticator again and verify it with the OTP as a number.
	reg, err := sdk.EnrollMFAFactor(models.EnrollFactorRequest{FactorID: 1, DisplayName: "SDK phone"}, user)
	if err != nil {
		t.Fatalf("EnrollMFAFactor: %v", err)
	}
	r := reg.(map[string]any)
	u, err := url.Parse(r["totp_url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCode(u.Query().Get("secret"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(code)
	done, err := sdk.VerifyMFAEnrollment(user, r["id"].(string), models.VerifyEnrollmentFactorRequest{OTP: n})
	if err != nil || done.(map[string]any)["status"] != "accepted" {
		t.Fatalf("VerifyMFAEnrollment: %v %v", done, err)
	}
	if d := devices(); len(d) != 2 || d[r["device_id"].(string)] == nil {
		t.Fatalf("devices after enrolment: %v", d)
	}
}
