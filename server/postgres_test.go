package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	mgmt "github.com/factorgate/factorgate/gen/zitadel/management"
	"github.com/factorgate/factorgate/server"
	"github.com/factorgate/factorgate/server/eventstore/postgres/pgtest"
	"github.com/factorgate/factorgate/server/mfa"
)

// These tests need PostgreSQL (FACTORGATE_TEST_DB); without it they skip,
// except on CI, where they fail.

// tcpProxy sits between factorgate and PostgreSQL: a real network path
// that the test can cut (every open connection is closed and new ones are
// dropped at once, as when the database restarts) and restore.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close() // refused: the database is "restarting"
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		p.wg.Go(func() { pipe(up, c) })
		p.wg.Go(func() { pipe(c, up) })
	}
}

// cut closes every proxied connection and refuses new ones until restore.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *tcpProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// TestPostgresRestart_InFlight503UnavailableThenRecoversWithoutRestart cuts
// the network between factorgate and PostgreSQL, as a database restart
// does: requests fail cleanly (REST 503 with the ZITADEL error body, gRPC
// Unavailable), /readyz answers 503; once the database is back, /readyz
// answers 200 and requests work, without restarting factorgate.
func TestPostgresRestart_InFlight503UnavailableThenRecoversWithoutRestart(t *testing.T) {
	dbURL := pgtest.SchemaURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	p := startProxy(t, target)
	u.Host = p.ln.Addr().String()
	e := mustRunServer(t, func(c *server.Config) { c.DB = u.String() })
	user := e.newHuman(e.org)
	e.addOTP(user, mfa.FactorOTPEmail)

	getPolicy := func() (int, []byte) {
		return e.rawREST(http.MethodGet, "/management/v1/policies/login", e.admin, "")
	}
	grpcGetPolicy := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+e.admin)
		return e.conn.Invoke(ctx, mgmtSvc+"GetLoginPolicy", &mgmt.GetLoginPolicyRequest{}, &mgmt.GetLoginPolicyResponse{})
	}
	ready := func() int {
		code, _ := e.rawREST(http.MethodGet, "/readyz", "", "")
		return code
	}
	if code, body := getPolicy(); code != http.StatusOK {
		t.Fatalf("before the cut: HTTP %d %s", code, body)
	}
	if code := ready(); code != http.StatusOK {
		t.Fatalf("/readyz before the cut: %d", code)
	}

	p.cut()
	code, body := getPolicy()
	var st struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &st); err != nil || code != http.StatusServiceUnavailable || st.Code != int(codes.Unavailable) {
		t.Fatalf("REST during the cut: HTTP %d %s; want 503 with code 14", code, body)
	}
	if !strings.Contains(st.Message, "EVENT-unav1") {
		t.Errorf("REST during the cut: message %q, want the store's unavailable id", st.Message)
	}
	if err := grpcGetPolicy(); status.Code(err) != codes.Unavailable {
		t.Fatalf("gRPC during the cut: %v, want Unavailable", err)
	}
	// A write during the cut fails cleanly too, and writes nothing.
	code, body = e.rawREST(http.MethodDelete, "/v2/users/"+user+"/otp_email", e.admin, "")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("removal during the cut: HTTP %d %s, want 503", code, body)
	}
	if code := ready(); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz during the cut: %d, want 503", code)
	}

	p.restore()
	// The first call after the restore may still be answered 503 by a
	// connection that broke with the cut; the pool then opens new ones.
	// Wait for readiness (bounded), then everything must work.
	deadline := time.Now().Add(30 * time.Second)
	for ready() != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not come back within 30s after the database did")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := getPolicy(); code != http.StatusOK {
		t.Fatalf("REST after the restore: HTTP %d %s", code, body)
	}
	if err := grpcGetPolicy(); err != nil {
		t.Fatalf("gRPC after the restore: %v", err)
	}
	// The removal refused during the cut was not applied: it succeeds now,
	// once.
	if code, body := e.rawREST(http.MethodDelete, "/v2/users/"+user+"/otp_email", e.admin, ""); code != http.StatusOK {
		t.Fatalf("removal after the restore: HTTP %d %s", code, body)
	}
	if code, _ := e.rawREST(http.MethodDelete, "/v2/users/"+user+"/otp_email", e.admin, ""); code != http.StatusNotFound {
		t.Fatalf("second removal after the restore: HTTP %d, want 404", code)
	}
}

// TestPostgresReplicas_RevokedTokenRefusedByOtherReplicaAtOnce runs two
// servers (two replicas, nodes 1 and 2) on one database. A token revoked
// through replica A is refused by replica B on its very next request, over
// REST and gRPC: nothing caches tokens, so the bound is zero.
func TestPostgresReplicas_RevokedTokenRefusedByOtherReplicaAtOnce(t *testing.T) {
	dbURL := pgtest.SchemaURL(t)
	key := filepath.Join(t.TempDir(), "masterkey")
	if err := os.WriteFile(key, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := mustRunServer(t, func(c *server.Config) { c.DB, c.Node, c.MasterKeyFile = dbURL, 1, key })
	// Replica B finds the instance A bootstrapped; it gets A's admin.pat
	// in its own data directory, as an operator would hand it over.
	bDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(bDir, "admin.pat"), []byte(a.admin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := mustRunServer(t, func(c *server.Config) { c.DB, c.Node, c.MasterKeyFile, c.DataDir = dbURL, 2, key, bDir })
	if b.srv.Bootstrap().Created {
		t.Fatal("replica B bootstrapped a second instance")
	}

	_, token := a.machineToken(a.org, "ORG_OWNER")
	for name, e := range map[string]*env{"A": a, "B": b} {
		if code, body := e.rawREST(http.MethodGet, "/management/v1/policies/login", token, ""); code != http.StatusOK {
			t.Fatalf("replica %s before the revocation: HTTP %d %s", name, code, body)
		}
	}
	revoked, err := a.core.RevokeToken(context.Background(), token)
	if err != nil || !revoked {
		t.Fatalf("RevokeToken on replica A = %v, %v", revoked, err)
	}
	if code, body := b.rawREST(http.MethodGet, "/management/v1/policies/login", token, ""); code != http.StatusUnauthorized {
		t.Fatalf("replica B over REST right after the revocation: HTTP %d %s, want 401", code, body)
	}
	conn, err := grpc.NewClient(b.srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	err = conn.Invoke(ctx, mgmtSvc+"GetLoginPolicy", &mgmt.GetLoginPolicyRequest{}, &mgmt.GetLoginPolicyResponse{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("replica B over gRPC right after the revocation: %v, want Unauthenticated", err)
	}
}
