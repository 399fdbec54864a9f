package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"connectrpc.com/connect"

	userv2 "github.com/factorgate/factorgate/gen/zitadel/user/v2"
)

// connectError is connect-go's error body.
type connectError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// A Connect call whose body does not decode is the caller's error, as
// connect-go (which serves ZITADEL's v2 services) answers it: HTTP 400,
// invalid_argument, and nothing is written. vanguard's own codec had
// answered 500 "unknown".
func TestConnectBodyThatDoesNotDecodeIsInvalidArgument(t *testing.T) {
	e := mustRunServer(t)
	user := e.newHuman(e.org)
	before := len(e.factors(user))
	for _, c := range []struct{ name, path, ctype, body string }{
		{"syntax error", "/zitadel.user.v2.UserService/RemoveTOTP", "application/json", `{bad`},
		{"a number for a string", "/zitadel.user.v2.UserService/RemoveTOTP", "application/json", `{"userId":1}`},
		{"a list for the message", "/zitadel.user.v2.UserService/RegisterTOTP", "application/json", `[]`},
		{"v1 service", "/zitadel.management.v1.ManagementService/RemoveHumanAuthFactorOTP", "application/json", `{"userId":{}}`},
		// grpc-go had answered Internal (HTTP 500) for these.
		{"not protobuf", "/zitadel.user.v2.UserService/RemoveTOTP", "application/proto", "\xff\xfe\x00garbage"},
		{"a truncated field", "/zitadel.user.v2.UserService/RemoveTOTP", "application/proto", "\x0a\x10abc"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, raw := e.send(t, http.MethodPost, c.path, http.Header{
				"Authorization": {"Bearer " + e.admin}, "Content-Type": {c.ctype}, "Connect-Protocol-Version": {"1"},
			}, []byte(c.body))
			var ce connectError
			if err := json.Unmarshal(raw, &ce); err != nil || res.StatusCode != http.StatusBadRequest || ce.Code != "invalid_argument" || ce.Message == "" {
				t.Fatalf("got HTTP %d %s, want 400 with code invalid_argument and a message", res.StatusCode, raw)
			}
		})
	}
	if got := len(e.factors(user)); got != before {
		t.Errorf("the person has %d factors after the refused calls, %d before", got, before)
	}
}

// connect-go serves a unary call that has no Connect-Protocol-Version
// header; so does the one port (vanguard alone would route it as REST and
// answer a plain-text 404).
func TestConnectUnaryWithoutTheProtocolHeader(t *testing.T) {
	e := mustRunServer(t)
	user := e.newHuman(e.org)
	res, raw := e.send(t, http.MethodPost, "/zitadel.user.v2.UserService/ListAuthenticationMethodTypes", http.Header{
		"Authorization": {"Bearer " + e.admin}, "Content-Type": {"application/json"},
	}, []byte(`{"userId":"`+user+`"}`))
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("got HTTP %d %q %s, want 200 application/json", res.StatusCode, res.Header.Get("Content-Type"), raw)
	}
	// An error answers in Connect's shape too.
	res, raw = e.send(t, http.MethodPost, "/zitadel.user.v2.UserService/RemoveTOTP", http.Header{
		"Authorization": {"Bearer " + e.admin}, "Content-Type": {"application/json"},
	}, []byte(`{"userId":"`+user+`"}`))
	var ce connectError
	if err := json.Unmarshal(raw, &ce); err != nil || res.StatusCode != http.StatusNotFound || ce.Code != "not_found" {
		t.Fatalf("RemoveTOTP of a person without one: HTTP %d %s, want 404 not_found", res.StatusCode, raw)
	}
}

// A Connect answer leaves out the fields that are not set, as connect-go's
// JSON does (vanguard's default writes them as null).
func TestConnectAnswerLeavesUnsetFieldsOut(t *testing.T) {
	e := mustRunServer(t)
	res, raw := e.send(t, http.MethodPost, "/zitadel.management.v1.ManagementService/GetLoginPolicy", http.Header{
		"Authorization": {"Bearer " + e.admin}, "Content-Type": {"application/json"}, "Connect-Protocol-Version": {"1"},
	}, []byte(`{}`))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d %s", res.StatusCode, raw)
	}
	if bytes.Contains(raw, []byte("null")) {
		t.Errorf("answer holds a null: %s", raw)
	}
	var body struct {
		Policy map[string]any `json:"policy"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.Policy == nil {
		t.Fatalf("answer %s: no policy (%v)", raw, err)
	}
}

// Connect with the binary encoding (connect-go's default) works as with
// JSON: the one port decodes the request and hands it on.
func TestConnectWithTheProtoEncoding(t *testing.T) {
	e := mustRunServer(t)
	user := e.newHuman(e.org)
	e.enrollTOTP(user)
	c := connect.NewClient[userv2.RemoveTOTPRequest, userv2.RemoveTOTPResponse](http.DefaultClient, e.base+"/zitadel.user.v2.UserService/RemoveTOTP")
	req := connect.NewRequest(&userv2.RemoveTOTPRequest{UserId: user})
	req.Header().Set("Authorization", "Bearer "+e.admin)
	res, err := c.CallUnary(context.Background(), req)
	if err != nil || res.Msg.GetDetails().GetSequence() == 0 {
		t.Fatalf("RemoveTOTP over Connect (proto): %v, %v", res, err)
	}
	if fs := e.factors(user); len(fs) != 0 {
		t.Errorf("factors after the removal: %v", fs)
	}
	_, err = c.CallUnary(context.Background(), req)
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("a second removal: %v, want not_found", err)
	}
}
