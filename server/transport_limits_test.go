package server_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	druidv1 "github.com/factorgate/factorgate/gen/factorgate/druid/v1"
	userv2 "github.com/factorgate/factorgate/gen/zitadel/user/v2"
	"github.com/factorgate/factorgate/server"
	"github.com/factorgate/factorgate/server/mfa"
)

// A REST request is a REST request whatever Content-Type it claims: one
// that says application/grpc over HTTP/1.1 goes to the gateways, which
// read it as JSON, so it gets the body limit too (413), not a way around it.
func TestRESTWithAGRPCContentTypeIsHeldToTheBodyLimit(t *testing.T) {
	e := mustRunServer(t, smallLimits)
	user := e.newHuman(e.org)
	huge := `{"pad":"` + strings.Repeat("x", 64<<10) + `"}`
	for _, c := range []struct{ path, ct string }{
		{"/v2/users/" + user + "/totp", "application/json"},
		{"/v2/users/" + user + "/totp", "application/grpc"},
		{"/v2/users/" + user + "/totp", "application/grpc+proto"},
		{"/api/2/mfa/users/" + user + "/registrations", "application/grpc"},
	} {
		res, raw := e.send(t, http.MethodPost, c.path, http.Header{"Content-Type": {c.ct}, "Authorization": {"Bearer " + e.admin}}, []byte(huge))
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("POST %s, Content-Type %s, %d-byte body: HTTP %d %.120s; want 413", c.path, c.ct, len(huge), res.StatusCode, raw)
		}
	}
	if fs := e.factors(user); len(fs) != 0 {
		t.Fatalf("a refused request wrote %+v", fs)
	}
}

// countingBody is a request body of head, then left bytes of fill,
// counting what the server read.
type countingBody struct {
	head []byte
	fill byte
	left int64
	read *atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(p, c.head)
		c.head = c.head[n:]
		c.read.Add(int64(n))
		return n, nil
	}
	if c.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), c.left)
	for i := range p[:n] {
		p[i] = c.fill
	}
	c.left -= n
	c.read.Add(n)
	return int(n), nil
}

// A gRPC-Web text request is read whole before its call starts, also on
// the streaming paths (health Watch, reflection): there too it is held to
// the body limit and to the read timeout, and a body that stops coming
// gets a gRPC status, not an empty 200.
func TestGRPCWebTextOnStreamingPathsIsHeldToTheLimits(t *testing.T) {
	e := mustRunServer(t, smallLimits)
	const size = 16 << 20
	for _, path := range []string{"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"} {
		var read atomic.Int64
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.base+path, &countingBody{fill: 'A', left: size, read: &read})
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/grpc-web-text")
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		cancel()
		if read.Load() == size {
			t.Errorf("%s: the server read the whole %d-byte body (limit %d)", path, size, 4<<10)
		}
		if err == nil && res.Header.Get("Grpc-Status") != "8" {
			t.Errorf("%s: grpc-status %q, want 8 (ResourceExhausted)", path, res.Header.Get("Grpc-Status"))
		}
	}

	slow := mustRunServer(t, func(c *server.Config) { c.ReadTimeout = 200 * time.Millisecond })
	for _, path := range []string{"/grpc.health.v1.Health/Watch", "/zitadel.management.v1.ManagementService/GetLoginPolicy"} {
		conn, err := net.Dial("tcp", slow.srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(conn, "POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc-web-text\r\n"+
			"Authorization: Bearer "+slow.admin+"\r\nContent-Length: 1000\r\n\r\nAAAA")
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		conn.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s: 10 s after a body that stopped coming (ReadTimeout 200ms) the server still waits", path)
		}
		if err == nil && res.Header.Get("Grpc-Status") == "" {
			t.Errorf("%s: HTTP %d without a grpc-status for a body that stopped coming", path, res.StatusCode)
		}
	}
}

// Close ends within ShutdownTimeout even while a native gRPC stream that
// does not watch its context (reflection) stays open.
func TestCloseIsBoundedWithAnOpenNativeStream(t *testing.T) {
	e := mustRunServer(t, func(c *server.Config) { c.ShutdownTimeout = 500 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := reflectionpb.NewServerReflectionClient(e.native).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.srv.Close() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatalf("Close still blocked 10 s after it began (ShutdownTimeout 500ms) by an open native stream")
	}
}

// DruID's mfa/create proves a person's password: the per-address limit
// holds on every port and transport, and a refused native gRPC call gets
// ResourceExhausted as a gRPC status (which clients do not retry on), not
// an HTTP 429 that grpc-go reads as Unavailable.
func TestPerAddressLimitOnEveryGRPCPort(t *testing.T) {
	const burst = 2
	e := mustRunServer(t, func(c *server.Config) {
		c.RateLimitGrants = -1
		c.RateLimitGrantsPerIP, c.RateLimitGrantsPerIPBurst = 0.001, burst
	})
	for _, port := range []struct {
		name string
		c    druidv1.MFAServiceClient
	}{{"one port", druidv1.NewMFAServiceClient(e.conn)}, {"native listener", druidv1.NewMFAServiceClient(e.native)}} {
		var got []codes.Code
		for range burst + 2 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := port.c.CreateMFAChannel(ctx, &druidv1.CreateMFAChannelRequest{})
			cancel()
			got = append(got, status.Code(err))
		}
		if got[len(got)-1] != codes.ResourceExhausted {
			t.Errorf("%s: %d calls from one address (burst %d): codes %v, want ResourceExhausted past the burst", port.name, len(got), burst, got)
		}
	}
}

// The request timeout holds on the native listener and on DruID's token
// endpoint as everywhere else.
func TestRequestTimeoutOnTheNativeListenerAndDruidsTokenEndpoint(t *testing.T) {
	e := mustRunServer(t, func(c *server.Config) { c.RequestTimeout = time.Nanosecond })
	user := e.newHuman(e.org)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+e.admin)
	_, err := userv2.NewUserServiceClient(e.native).ListAuthenticationMethodTypes(ctx, &userv2.ListAuthenticationMethodTypesRequest{UserId: user})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("native listener with RequestTimeout 1ns: %v, want DeadlineExceeded", err)
	}
	_, username := e.druidPerson(e.org)
	code, body := e.druidTokenCall(url.Values{"grant_type": {"password"}, "username": {username}, "password": {druidPassword}})
	if code == http.StatusOK {
		t.Errorf("/oauth2/token under a 1ns request timeout: 200, issued %v; want the request ended at the timeout", body["access_token"] != nil)
	}
}

// Every REST answer, an error too, carries the request id as X-Request-Id
// (the header CORS exposes to browsers), as the other transports do.
func TestRESTAnswersCarryXRequestID(t *testing.T) {
	e := mustRunServer(t, withCORS("https://app.example.com"))
	user := e.newHuman(e.org)
	for _, path := range []string{"/v2/users/" + user + "/authentication_methods", "/api/2/mfa/users/" + user + "/devices", "/api/1/users/" + user + "/otp_devices"} {
		res, _ := e.send(t, http.MethodGet, path, http.Header{"Authorization": {"Bearer " + e.admin}, "X-Request-Id": {"req-123"}, "Origin": {"https://app.example.com"}}, nil)
		if got := res.Header.Get("X-Request-Id"); got != "req-123" {
			t.Errorf("GET %s: HTTP %d, X-Request-Id %q, want req-123 (headers %v)", path, res.StatusCode, got, res.Header)
		}
	}
}

// A gRPC-Web request whose frames are cut short is InvalidArgument (a
// protocol error of the client's, as connect-go answers it), in both
// modes, not Internal.
func TestGRPCWebTruncatedFrameIsInvalidArgument(t *testing.T) {
	e := mustRunServer(t)
	rpc := "/zitadel.user.v2.UserService/ListAuthenticationMethodTypes"
	for _, c := range []struct {
		name, ct string
		body     []byte
	}{
		{"prefix cut short", "application/grpc-web+proto", []byte{0, 0, 0}},
		{"length beyond the body", "application/grpc-web+proto", []byte{0, 0, 0, 0, 10, 0x0a, 0x01}},
		{"text mode, length beyond the body", "application/grpc-web-text", []byte("AAAAAAoKAQ==")},
	} {
		res, _ := e.send(t, http.MethodPost, rpc, http.Header{"Content-Type": {c.ct}, "Authorization": {"Bearer " + e.admin}}, c.body)
		if got := res.Header.Get("Grpc-Status"); got != "3" {
			t.Errorf("%s: grpc-status %q (%q), want 3 (InvalidArgument)", c.name, got, res.Header.Get("Grpc-Message"))
		}
	}
}

// Connect's media types are case-insensitive, and a body of another type
// gets 415 with Accept-Post (connect-go's answers), not a plain-text 404.
func TestConnectContentTypes(t *testing.T) {
	e := mustRunServer(t)
	user := e.newHuman(e.org)
	rpc := "/zitadel.user.v2.UserService/ListAuthenticationMethodTypes"
	body := []byte(`{"userId":"` + user + `"}`)
	for _, c := range []struct {
		ctype      string
		wantStatus int
	}{
		{"application/json", 200}, {"application/json; charset=utf-8", 200},
		{"Application/JSON", 200}, {"APPLICATION/JSON; charset=UTF-8", 200},
		{"text/plain", 415}, {"", 415},
	} {
		hdr := http.Header{"Authorization": {"Bearer " + e.admin}}
		if c.ctype != "" {
			hdr.Set("Content-Type", c.ctype)
		}
		res, raw := e.send(t, http.MethodPost, rpc, hdr, body)
		if res.StatusCode != c.wantStatus {
			t.Errorf("Content-Type %q: HTTP %d %q, want %d", c.ctype, res.StatusCode, strings.TrimSpace(string(raw)), c.wantStatus)
		}
		if c.wantStatus == 415 && res.Header.Get("Accept-Post") == "" {
			t.Errorf("Content-Type %q: 415 without Accept-Post", c.ctype)
		}
	}
}

// DruID's answers carry the request id as X-Request-Id too, a success and
// an error (417) alike.
func TestDruidAnswersCarryXRequestID(t *testing.T) {
	e := mustRunServer(t)
	user, username := e.druidPerson(e.org)
	e.addOTP(user, mfa.FactorOTPSMS)
	tok := e.druidLogin(username)
	for _, want := range []int{http.StatusOK, http.StatusExpectationFailed} { // the channel removed, then no such channel
		code, h, _ := e.druidDelete(druidHeaders(tok, map[string]string{"X-Request-Id": "req-456"}), druidBody(user, "sms", nil))
		if code != want || h.Get("X-Request-Id") != "req-456" {
			t.Errorf("DruID mfa/delete: HTTP %d (want %d), X-Request-Id %q, want req-456", code, want, h.Get("X-Request-Id"))
		}
	}
}

// On the streaming paths a Connect or binary gRPC-Web request is one
// message too: held to the body limit, and a body that stops coming meets
// the read timeout.
func TestStreamingPathsHoldConnectAndBinaryGRPCWebToTheLimits(t *testing.T) {
	e := mustRunServer(t, smallLimits)
	const size = 16 << 20
	for _, ct := range []string{"application/connect+json", "application/grpc-web+proto"} {
		var read atomic.Int64
		head := make([]byte, 5)
		binary.BigEndian.PutUint32(head[1:], size)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.base+"/grpc.health.v1.Health/Watch", &countingBody{head: head, fill: ' ', left: size, read: &read})
		req.ContentLength = -1
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Connect-Protocol-Version", "1")
		if res, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		cancel()
		if read.Load() >= size {
			t.Errorf("%s on Health/Watch: the server read the whole %d-byte body (limit %d)", ct, read.Load(), 4<<10)
		}
	}

	slow := mustRunServer(t, func(c *server.Config) { c.ReadTimeout = 200 * time.Millisecond })
	for _, ct := range []string{"application/grpc-web", "application/grpc-web+proto", "application/connect+json"} {
		conn, err := net.Dial("tcp", slow.srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(conn, "POST /grpc.health.v1.Health/Watch HTTP/1.1\r\nHost: x\r\nContent-Type: "+ct+"\r\n"+
			"Content-Length: 1000\r\n\r\n\x00\x00\x00")
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		conn.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: 5 s after a body that stopped coming (ReadTimeout 200ms) the server still waits", ct)
		} else if err == nil && ct != "application/connect+json" && res.Header.Get("Grpc-Status") == "" {
			t.Errorf("%s: HTTP %d without a grpc-status", ct, res.StatusCode)
		}
	}
}
