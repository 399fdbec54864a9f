package server_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	mgmt "github.com/factorgate/factorgate/gen/zitadel/management"
	"github.com/factorgate/factorgate/gen/zitadel/policy"
	userv1 "github.com/factorgate/factorgate/gen/zitadel/user"
	userv2 "github.com/factorgate/factorgate/gen/zitadel/user/v2"
	"github.com/factorgate/factorgate/server"
	"github.com/factorgate/factorgate/server/eventstore/postgres/pgtest"
)

// First start, restarts and shutdown, on the real SQLite file.

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestFirstStartWritesSecretsPrivately(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // created by the server
	e := mustRunServer(t, withDataDir(dir))
	if !e.srv.Bootstrap().Created {
		t.Fatal("first start on an empty data dir did not bootstrap")
	}
	if e.srv.AdminTokenFile() != filepath.Join(dir, "admin.pat") {
		t.Errorf("AdminTokenFile = %q", e.srv.AdminTokenFile())
	}
	for _, c := range []struct {
		path    string
		mode    os.FileMode
		content *regexp.Regexp
	}{
		{dir, 0o700, nil},
		{filepath.Join(dir, "admin.pat"), 0o600, regexp.MustCompile(`^fg_[A-Za-z0-9_-]{43}\n$`)},
		{filepath.Join(dir, "masterkey"), 0o600, regexp.MustCompile(`^[0-9a-f]{64}\n$`)},
	} {
		if m := fileMode(t, c.path); m != c.mode {
			t.Errorf("%s: mode %v, want %v", c.path, m, c.mode)
		}
		if c.content != nil {
			data, _ := os.ReadFile(c.path)
			if !c.content.Match(data) {
				t.Errorf("%s: content does not match %v", c.path, c.content)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "factorgate.db")); err != nil && !pgtest.Enabled() {
		t.Errorf("SQLite file: %v", err)
	}
}

func listFactors(user string) op {
	return newOp[mgmt.ListHumanAuthFactorsRequest, mgmt.ListHumanAuthFactorsResponse](mgmtSvc+"ListHumanAuthFactors",
		&mgmt.ListHumanAuthFactorsRequest{UserId: user}, http.MethodPost, "/management/v1/users/"+user+"/auth_factors/_search", "")
}

// A restart on the same data directory finds the same instance, keeps the
// admin's token file and token, and every write made before it.
func TestRestartKeepsInstanceTokenAndData(t *testing.T) {
	dir := t.TempDir()
	first := mustRunServer(t, withDataDir(dir))
	boot := first.srv.Bootstrap()
	patPath := filepath.Join(dir, "admin.pat")
	pat, _ := os.ReadFile(patPath)
	patInfo, err := os.Stat(patPath)
	if err != nil {
		t.Fatal(err)
	}
	// Writes through the API and the core before the restart.
	got := first.mustCall(t, transports[0], mgmtAddCustomLoginPolicy(&mgmt.AddCustomLoginPolicyRequest{
		ForceMfa: true, SecondFactors: []policy.SecondFactorType{sfOTP}}, ""), first.admin, "", success)
	if ro := got.resp.(detailsResp).GetDetails().GetResourceOwner(); ro != boot.OrgID {
		t.Fatalf("custom policy owned by %q, want the first org %q", ro, boot.OrgID)
	}
	people := map[string]string{}
	for _, tr := range transports {
		people[tr.name] = first.newHuman(first.org)
		first.enrollTOTP(people[tr.name])
	}
	if err := first.srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	time.Sleep(20 * time.Millisecond) // a rewrite of admin.pat would change its mtime

	second := mustRunServer(t, withDataDir(dir)) // authenticates with the old admin.pat
	if b := second.srv.Bootstrap(); b.Created || b.InstanceID != boot.InstanceID {
		t.Fatalf("restart: created %v, instance %q; want the existing instance %q", b.Created, b.InstanceID, boot.InstanceID)
	}
	if second.org != boot.OrgID {
		t.Errorf("the admin's org after restart is %q, want %q", second.org, boot.OrgID)
	}
	after, _ := os.ReadFile(patPath)
	afterInfo, err := os.Stat(patPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(pat) || !afterInfo.ModTime().Equal(patInfo.ModTime()) || afterInfo.Mode() != patInfo.Mode() {
		t.Errorf("admin.pat was rewritten by the restart")
	}

	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			pol := second.mustCall(t, tr, mgmtGetLoginPolicy(), second.admin, "", success).resp.(*mgmt.GetLoginPolicyResponse)
			if pol.GetIsDefault() || !pol.GetPolicy().GetForceMfa() || pol.GetPolicy().GetDetails().GetResourceOwner() != boot.OrgID {
				t.Errorf("custom policy lost in the restart: %v", pol)
			}
			u := people[tr.name]
			fs := second.mustCall(t, tr, listFactors(u), second.admin, "", success).resp.(*mgmt.ListHumanAuthFactorsResponse).GetResult()
			if len(fs) != 1 || fs[0].GetOtp() == nil || fs[0].GetState() != userv1.AuthFactorState_AUTH_FACTOR_STATE_READY {
				t.Fatalf("factors after restart: %v, want one ready OTP", fs)
			}
			got := second.mustCall(t, tr, removeTOTP(u), second.admin, "", success)
			checkChangeDetails(t, second, u, got.resp.(detailsResp).GetDetails())
		})
	}
	if err := second.srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// The removals made after the restart are durable too.
	third := mustRunServer(t, withDataDir(dir))
	for _, tr := range transports {
		fs := third.mustCall(t, tr, listFactors(people[tr.name]), third.admin, "", success).resp.(*mgmt.ListHumanAuthFactorsResponse).GetResult()
		if len(fs) != 0 {
			t.Errorf("%s: factors after a second restart: %v, want none", tr.name, fs)
		}
	}
}

// Bootstrap "reports what the start found or created"; on a restart it
// should still name the first organization and the admin.
func TestRestartReportsBootstrapIDs(t *testing.T) {
	dir := t.TempDir()
	first := mustRunServer(t, withDataDir(dir))
	want := first.srv.Bootstrap()
	if err := first.srv.Close(); err != nil {
		t.Fatal(err)
	}
	got := mustRunServer(t, withDataDir(dir)).srv.Bootstrap()
	if got.OrgID != want.OrgID || got.AdminUserID != want.AdminUserID {
		t.Errorf("after restart Bootstrap() = %+v, want org %q and admin %q", got, want.OrgID, want.AdminUserID)
	}
}

func TestCorruptMasterKeyFailsStart(t *testing.T) {
	for _, c := range []struct{ name, content string }{
		{"not hex", "this is not a key\n"},
		{"too short", hex.EncodeToString(make([]byte, 16)) + "\n"},
		{"empty", ""},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			cfg := testConfig(t)
			keyFile := filepath.Join(cfg.DataDir, "masterkey")
			if err := os.WriteFile(keyFile, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			srv, err := server.New(context.Background(), cfg)
			if err == nil {
				srv.Close()
				t.Fatal("server.New accepted a corrupt master key")
			}
			if msg := err.Error(); !strings.Contains(msg, "master key") || !strings.Contains(msg, keyFile) || !strings.Contains(msg, "64 hex characters") {
				t.Errorf("error %q: want it to name the master key file and the expected format", msg)
			}
			if _, err := os.Stat(filepath.Join(cfg.DataDir, "admin.pat")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("admin.pat written although the start failed: %v", err)
			}
		})
	}
}

// Close while requests are running: every call ends (completed, or failed
// by the transport), none hangs, and calls in flight when Close began
// complete.
func TestCloseDuringInFlightRequests(t *testing.T) {
	const shutdownTimeout = 10 * time.Second
	e := mustRunServer(t, func(c *server.Config) { c.ShutdownTimeout = shutdownTimeout })
	var n atomic.Int64
	// AddHumanUser; with a password it hashes it with bcrypt, a slow call.
	newReq := func(slow bool) *userv2.AddHumanUserRequest {
		r := humanReq(fmt.Sprintf("shutdown-%d", n.Add(1)), "")
		if slow {
			r.PasswordType = &userv2.AddHumanUserRequest_Password{Password: &userv2.Password{Password: "correct horse battery staple"}}
		}
		return r
	}
	type result struct {
		transport  string
		start, end time.Time
		ok         bool
		err        string
	}
	var (
		mu       sync.Mutex
		results  []result
		stop     atomic.Bool
		wg       sync.WaitGroup
		closedAt atomic.Pointer[time.Time]
	)
	call := func(transport string, slow bool) (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		o := addHumanUser(newReq(slow))
		switch transport {
		case "grpc":
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+e.admin)
			err := e.conn.Invoke(ctx, o.method, o.req, o.newResp())
			if status.Code(err) == codes.DeadlineExceeded {
				return false, "hang: " + err.Error()
			}
			if err != nil && status.Code(err) != codes.Unavailable && status.Code(err) != codes.Canceled {
				return false, "unexpected: " + err.Error()
			}
			return err == nil, errString(err)
		case "grpc-web":
			_, err := o.web(ctx, e.base, http.Header{"Authorization": {"Bearer " + e.admin}}, connect.WithGRPCWeb(), o.req)
			if ctx.Err() != nil {
				return false, "hang: " + errString(err)
			}
			var ce *connect.Error
			if errors.As(err, &ce) && ce.Code() != connect.CodeUnavailable && ce.Code() != connect.CodeUnknown && ce.Code() != connect.CodeCanceled {
				return false, "unexpected: " + err.Error()
			}
			return err == nil, errString(err)
		default:
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.base+o.path, strings.NewReader(o.restBody))
			req.Header.Set("Authorization", "Bearer "+e.admin)
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if ctx.Err() != nil {
				return false, "hang: " + errString(err)
			}
			if err != nil {
				return false, err.Error() // connection refused or reset: the transport failed
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusServiceUnavailable {
				return false, fmt.Sprintf("unexpected: HTTP %d", res.StatusCode)
			}
			return res.StatusCode == http.StatusOK, res.Status
		}
	}
	for i := range 9 {
		tr, slow := transports[i%len(transports)].name, i < len(transports) // one slow caller per transport
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				start := time.Now()
				ok, msg := call(tr, slow)
				mu.Lock()
				results = append(results, result{tr, start, time.Now(), ok, msg})
				mu.Unlock()
				if c := closedAt.Load(); c != nil && start.After(*c) {
					return // one call after Close is enough
				}
			}
		}()
	}
	// Let calls pile up, then close.
	deadline := time.Now().Add(10 * time.Second)
	for n.Load() < 40 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	closedAt.Store(&start)
	err := e.srv.Close()
	took := time.Since(start)
	stop.Store(true)
	if err != nil {
		t.Fatalf("Close: %v", err)
	}
	if took >= shutdownTimeout {
		t.Errorf("Close took %v: in-flight calls did not finish before the shutdown timeout", took)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("calls still running 30s after Close")
	}

	inFlightOK, failed := 0, 0
	for _, r := range results {
		if strings.HasPrefix(r.err, "hang") || strings.HasPrefix(r.err, "unexpected") {
			t.Errorf("%s call %v–%v: %s", r.transport, r.start.Format(time.StampMicro), r.end.Format(time.StampMicro), r.err)
		}
		if !r.ok {
			failed++
			t.Logf("%s call failed: %s", r.transport, r.err)
		}
		if r.ok && r.start.Before(start) && r.end.After(start) {
			inFlightOK++
		}
	}
	t.Logf("%d calls, %d in flight at Close completed, %d failed; Close took %v", len(results), inFlightOK, failed, took)
	if inFlightOK == 0 {
		t.Error("no call that was in flight when Close began completed")
	}
	if err := e.srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := http.Get(e.base + "/healthz"); err == nil {
		t.Error("the server still answers after Close")
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// A client watching grpc.health.v1 (gRPC's client-side health checking
// does) learns that the server goes away, and does not hold up Close.
func TestCloseEndsHealthWatch(t *testing.T) {
	const shutdownTimeout = 5 * time.Second
	e := mustRunServer(t, func(c *server.Config) { c.ShutdownTimeout = shutdownTimeout })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	watch, err := healthpb.NewHealthClient(e.conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first status %v, %v; want SERVING", resp.GetStatus(), err)
	}
	start := time.Now()
	if err := e.srv.Close(); err != nil {
		t.Errorf("Close with a health watcher: %v", err)
	}
	if took := time.Since(start); took >= shutdownTimeout {
		t.Errorf("Close took %v: the health watch held it up", took)
	}
	// The watcher sees NOT_SERVING, then the end of the stream.
	for {
		resp, err := watch.Recv()
		if err != nil {
			if status.Code(err) == codes.DeadlineExceeded {
				t.Fatalf("the watch stream was never ended: %v", err)
			}
			break
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("status %v while closing, want NOT_SERVING", resp.GetStatus())
		}
	}
}

// syncBuffer is an io.Writer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Tokens are secrets: the first start says where the admin's token is, and
// no log line, even at debug level, contains a token.
func TestTokensNeverLogged(t *testing.T) {
	var logs syncBuffer
	e := mustRunServer(t, func(c *server.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	_, machine := e.machineToken(e.org, "ORG_OWNER")
	got := e.mustCall(t, transports[0], addMachineUser("log-robot"), e.admin, "", success)
	robot := got.resp.(*mgmt.AddMachineUserResponse).GetUserId()
	issued := e.mustCall(t, transports[2], addPAT(robot), e.admin, "", success).resp.(*mgmt.AddPersonalAccessTokenResponse).GetToken()
	for _, tr := range transports {
		e.mustCall(t, tr, mgmtGetLoginPolicy(), e.admin, "", success)
		e.mustCall(t, tr, mgmtGetLoginPolicy(), machine, "", success)
		e.mustCall(t, tr, mgmtGetLoginPolicy(), issued, "", membershipNotFound)
		e.mustCall(t, tr, mgmtGetLoginPolicy(), issued+"x", "", failure(codes.Unauthenticated, 401, "Errors.Token.Invalid", "AUTH-7fs1e"))
	}
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, e.srv.AdminTokenFile()) {
		t.Errorf("the first start does not log where the admin token is (%s)", e.srv.AdminTokenFile())
	}
	for name, tok := range map[string]string{"admin": e.admin, "machine": machine, "issued": issued} {
		secret := strings.TrimPrefix(tok, "fg_")
		if len(secret) < 20 || strings.Contains(out, secret[:20]) {
			t.Errorf("the %s token appears in the logs", name)
		}
	}
}

// A server that never started closes cleanly and releases its files; a
// start that fails (address in use) leaves nothing running.
func TestCloseWithoutStartAndFailedStart(t *testing.T) {
	cfg := testConfig(t)
	srv, err := server.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close without Start: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close without Start hangs")
	}

	busy := mustRunServer(t)
	cfg.Addr = busy.srv.Addr()
	srv, err = server.New(context.Background(), cfg) // the same data dir again
	if err != nil {
		t.Fatalf("New after Close on the same data dir: %v", err)
	}
	if srv.Bootstrap().Created {
		t.Error("the second New bootstrapped again")
	}
	if err := srv.Start(); err == nil {
		t.Error("Start on an address in use succeeded")
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close after a failed Start: %v", err)
	}
}
