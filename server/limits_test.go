package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	userv2 "github.com/factorgate/factorgate/gen/zitadel/user/v2"
	"github.com/factorgate/factorgate/server"
)

// smallLimits makes the limits small enough to reach cheaply in a test.
func smallLimits(c *server.Config) {
	c.MaxBodyBytes = 4 << 10
	c.MaxMessageBytes = 4 << 10
}

// A body declared larger than the limit gets 413 in the error body of the
// dialect that owns the path, before anything is read or written.
func TestBodyDeclaredTooLargeGets413InEachDialectsBodyAndWritesNothing(t *testing.T) {
	e := mustRunServer(t, smallLimits)
	user := e.newHuman(e.org)
	e.enrollTOTP(user)
	before := len(e.userLog(user))
	huge := `{"pad":"` + strings.Repeat("x", 8<<10) + `"}`
	cases := []struct {
		name, method, path, ctype string
		check                     func(t *testing.T, body map[string]any)
	}{
		{"zitadel v2", http.MethodPost, "/v2/users/" + user + "/totp", "application/json", func(t *testing.T, b map[string]any) {
			if b["code"] != float64(codes.ResourceExhausted) || !strings.Contains(b["message"].(string), "too large") {
				t.Errorf("body %v", b)
			}
		}},
		{"zitadel v1 management", http.MethodDelete, "/management/v1/users/" + user + "/auth_factors/otp", "application/json", func(t *testing.T, b map[string]any) {
			if b["code"] != float64(codes.ResourceExhausted) {
				t.Errorf("body %v", b)
			}
		}},
		{"onelogin v1", http.MethodPost, "/api/1/users/" + user + "/otp_devices", "application/json", func(t *testing.T, b map[string]any) {
			st, _ := b["status"].(map[string]any)
			if st["error"] != true || st["code"] != float64(413) {
				t.Errorf("body %v", b)
			}
		}},
		{"onelogin v2", http.MethodPost, "/api/2/mfa/users/" + user + "/registrations", "application/json", func(t *testing.T, b map[string]any) {
			if b["statusCode"] != float64(413) {
				t.Errorf("body %v", b)
			}
		}},
		{"druid", http.MethodPost, "/activityid/v1/mfa/delete", "application/json", func(t *testing.T, b map[string]any) {
			r, _ := b["result"].(map[string]any)
			if r["status"] != float64(413) {
				t.Errorf("body %v", b)
			}
		}},
		{"zitadel token", http.MethodPost, "/oauth/v2/token", "application/x-www-form-urlencoded", func(t *testing.T, b map[string]any) {
			if b["error"] != "invalid_request" {
				t.Errorf("body %v", b)
			}
		}},
		{"onelogin token", http.MethodPost, "/auth/oauth2/v2/token", "application/json", func(t *testing.T, b map[string]any) {
			if b["error"] != true || b["code"] != float64(413) {
				t.Errorf("body %v", b)
			}
		}},
		{"onelogin v1 token", http.MethodPost, "/auth/oauth2/token", "application/json", func(t *testing.T, b map[string]any) {
			st, _ := b["status"].(map[string]any)
			if st["error"] != true || st["code"] != float64(413) {
				t.Errorf("body %v", b)
			}
		}},
		{"druid token", http.MethodPost, "/oauth2/token", "application/x-www-form-urlencoded", func(t *testing.T, b map[string]any) {
			if b["error"] != "invalid_request" {
				t.Errorf("body %v", b)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, e.base+c.path, strings.NewReader(huge))
			req.Header.Set("Content-Type", c.ctype)
			req.Header.Set("Accept", "application/json")
			req.Header.Set("From", "limits-test")
			req.Header.Set("Authorization", "Bearer "+e.admin)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413", res.StatusCode)
			}
			var b map[string]any
			if err := json.NewDecoder(res.Body).Decode(&b); err != nil {
				t.Fatalf("413 body is not JSON: %v", err)
			}
			c.check(t, b)
		})
	}
	if after := len(e.userLog(user)); after != before {
		t.Errorf("events of the user went from %d to %d: an oversized request wrote", before, after)
	}
}

// A body without a declared length that runs over the limit fails to
// decode at the limit: the dialect's 400, never a 500, nothing written.
func TestBodyStreamedPastTheLimitGets400InTheDialectsBody(t *testing.T) {
	e := mustRunServer(t, smallLimits)
	user := e.newHuman(e.org)
	e.enrollTOTP(user)
	before := len(e.userLog(user))
	for _, path := range []string{"/v2/users/" + user + "/totp", "/api/2/mfa/users/" + user + "/registrations"} {
		body := io.MultiReader(strings.NewReader(`{"pad":"`), strings.NewReader(strings.Repeat("x", 16<<10)), strings.NewReader(`"}`))
		req, _ := http.NewRequest(http.MethodPost, e.base+path, body) // no ContentLength: chunked
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.admin)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest && res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: status %d, want 400 or 413; body %s", path, res.StatusCode, raw)
		}
		if !json.Valid(raw) {
			t.Errorf("%s: body is not JSON: %q", path, raw)
		}
	}
	if after := len(e.userLog(user)); after != before {
		t.Errorf("events of the user went from %d to %d", before, after)
	}
}

// Headers over MaxHeaderBytes (64 KiB) get 431.
// A path or query that is not UTF-8 is refused before routing, with 400
// in the error body of the API the path belongs to.
func TestPathNotUTF8Gets400InTheDialectsBody(t *testing.T) {
	e := mustRunServer(t)
	for _, c := range []struct{ name, method, path, want string }{
		{"zitadel", http.MethodDelete, "/v2/users/%ff/totp", `{"code":3,"details":[],"message":"the path or query is not valid UTF-8"}`},
		{"zitadel v1", http.MethodGet, "/management/v1/users/%ff/auth_factors", `"code":3`},
		{"onelogin v1", http.MethodGet, "/api/1/users/%ff/otp_devices", `{"status":{"error":true,"code":400,"type":"bad request","message":"the path or query is not valid UTF-8"}}`},
		{"onelogin v2", http.MethodGet, "/api/2/mfa/users/%ff/devices", `{"statusCode":400,"name":"BadRequestError","message":"the path or query is not valid UTF-8"}`},
		{"onelogin v1 token", http.MethodPost, "/auth/oauth2/token?x=%ff", `"status":{"error":true,"code":400`},
		{"onelogin v2 token", http.MethodPost, "/auth/oauth2/v2/token?x=%ff", `{"error":true,"code":400,"type":"bad request"`},
		{"druid", http.MethodPost, "/activityid/v1/mfa/delete?x=%ff", `{"result":{"status":400,"message":"the path or query is not valid UTF-8"`},
		{"zitadel token", http.MethodPost, "/oauth/v2/token?x=%ff", `{"error":"invalid_request","error_description":"the path or query is not valid UTF-8"}`},
		{"druid token", http.MethodPost, "/oauth2/token?x=%ff", `"error":"invalid_request"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, e.base+c.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(raw), c.want) || res.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%d %s (Cache-Control %q), want 400 with %s", res.StatusCode, raw, res.Header.Get("Cache-Control"), c.want)
			}
		})
	}
}

func TestHeaderTooLargeGets431(t *testing.T) {
	e := mustRunServer(t)
	req, _ := http.NewRequest(http.MethodGet, e.base+"/healthz", nil)
	req.Header.Set("X-Pad", strings.Repeat("x", 80<<10))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", res.StatusCode)
	}
}

// A gRPC message over MaxMessageBytes is refused with ResourceExhausted,
// before the interceptor chain runs.
func TestGRPCMessageTooLargeIsResourceExhausted(t *testing.T) {
	e := mustRunServer(t, smallLimits)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+e.admin)
	_, err := userv2.NewUserServiceClient(e.conn).RemoveTOTP(ctx, &userv2.RemoveTOTPRequest{UserId: strings.Repeat("9", 8<<10)})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("got %v, want ResourceExhausted", err)
	}
}

// A client that never finishes its headers is cut off after
// ReadHeaderTimeout (slowloris).
func TestSlowHeadersAreCutOff(t *testing.T) {
	e := mustRunServer(t, func(c *server.Config) { c.ReadHeaderTimeout = 200 * time.Millisecond })
	conn, err := net.Dial("tcp", e.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	// The client stops sending. The server must close the connection; the
	// generous deadline only keeps a broken server from hanging the test.
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept a connection with unfinished headers open")
	}
}

// A client that sends its headers but not the body it announced is cut off
// after ReadTimeout: the request ends (400 or a closed connection), it
// does not hold a handler forever.
func TestSlowBodyIsCutOff(t *testing.T) {
	e := mustRunServer(t, func(c *server.Config) { c.ReadTimeout = 200 * time.Millisecond })
	conn, err := net.Dial("tcp", e.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "POST /v2/users/1/totp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer " + e.admin +
		"\r\nContent-Length: 1000\r\n\r\n{\"pad\":\""
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the server kept waiting for a body that never came")
		}
		return // closed: cut off
	}
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 500 {
		t.Fatalf("status %d (%s), want a 4xx or a closed connection", res.StatusCode, raw)
	}
}

// The request timeout and the read/write deadlines do not apply to a
// client watching grpc.health.v1: its stream outlives them and still ends
// cleanly with NOT_SERVING when the server closes.
func TestHealthWatchOutlivesTheRequestTimeout(t *testing.T) {
	e := mustRunServer(t, func(c *server.Config) {
		c.RequestTimeout = 100 * time.Millisecond
		c.ReadTimeout = 100 * time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	watch, err := healthpb.NewHealthClient(e.conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first status %v, %v", resp.GetStatus(), err)
	}
	time.Sleep(500 * time.Millisecond) // several request timeouts: a wrongly applied one would end the stream
	// A unary call still works with the short timeout.
	if _, err := healthpb.NewHealthClient(e.conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	resp, err := watch.Recv()
	if err != nil {
		t.Fatalf("the watch ended with %v before the server closed; want NOT_SERVING", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("status %v, want NOT_SERVING", resp.GetStatus())
	}
}

// A request that outlives RequestTimeout ends with DeadlineExceeded (REST
// 504 in the dialect's body), never a 500. A timeout of a nanosecond has
// passed before any handler runs, so no timing is involved.
func TestRequestTimeoutEndsTheRequestWithDeadlineExceeded(t *testing.T) {
	e := mustRunServer(t, func(c *server.Config) { c.RequestTimeout = time.Nanosecond })
	user := e.newHuman(e.org)
	code, _, body := e.post(t, http.MethodGet, "/v2/users/"+user+"/authentication_methods", "", "Bearer "+e.admin, "")
	if code != http.StatusGatewayTimeout || !strings.Contains(body, `"code":4`) {
		t.Errorf("REST: %d %s, want 504 with code 4 (DeadlineExceeded)", code, body)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+e.admin)
	_, err := userv2.NewUserServiceClient(e.conn).ListAuthenticationMethodTypes(ctx, &userv2.ListAuthenticationMethodTypesRequest{UserId: user})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("gRPC: %v, want DeadlineExceeded", err)
	}
	for _, opt := range []connect.ClientOption{connect.WithGRPCWeb()} { // Connect's timeout is whole milliseconds: not testable without timing
		c := connect.NewClient[userv2.ListAuthenticationMethodTypesRequest, userv2.ListAuthenticationMethodTypesResponse](
			http.DefaultClient, e.base+"/zitadel.user.v2.UserService/ListAuthenticationMethodTypes", opt)
		req := connect.NewRequest(&userv2.ListAuthenticationMethodTypesRequest{UserId: user})
		req.Header().Set("Authorization", "Bearer "+e.admin)
		if _, err := c.CallUnary(context.Background(), req); connect.CodeOf(err) != connect.CodeDeadlineExceeded {
			t.Errorf("gRPC-Web: %v, want deadline_exceeded", err)
		}
	}
}

// The same refusal over Connect and gRPC-Web is in the call's protocol:
// Connect's error body (resource_exhausted, which Connect answers with
// HTTP 429), a gRPC-Web status (grpc-status 8 in the headers of an HTTP
// 200). It had been the REST gateway's body.
func TestBodyDeclaredTooLargeOverConnectAndGRPCWeb(t *testing.T) {
	e := mustRunServer(t, smallLimits)
	user := e.newHuman(e.org)
	e.enrollTOTP(user)
	huge := strings.Repeat("x", 8<<10)
	for _, c := range []struct {
		ctype      string
		status     int
		grpcStatus string
		body       string
	}{
		{"application/json", http.StatusTooManyRequests, "", `"code":"resource_exhausted"`},
		{"application/proto", http.StatusTooManyRequests, "", `"code":"resource_exhausted"`},
		{"application/grpc-web+proto", http.StatusOK, "8", ""},
		{"application/grpc-web-text", http.StatusOK, "8", ""},
	} {
		res, raw := e.send(t, http.MethodPost, "/zitadel.user.v2.UserService/RemoveTOTP", http.Header{
			"Content-Type": {c.ctype}, "Connect-Protocol-Version": {"1"}, "Authorization": {"Bearer " + e.admin},
		}, []byte(huge))
		if res.StatusCode != c.status || res.Header.Get("Grpc-Status") != c.grpcStatus || !strings.Contains(string(raw), c.body) {
			t.Errorf("%s: HTTP %d, grpc-status %q, body %s; want %d, %q, %s", c.ctype, res.StatusCode, res.Header.Get("Grpc-Status"), raw, c.status, c.grpcStatus, c.body)
		}
	}
	if fs := e.factors(user); len(fs) != 1 {
		t.Errorf("the refused removals removed something: %v", fs)
	}
}
