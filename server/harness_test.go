package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/factorgate/factorgate/gen/zitadel/message"
	"github.com/factorgate/factorgate/server"
	"github.com/factorgate/factorgate/server/eventstore/postgres/pgtest"
	"github.com/factorgate/factorgate/server/mfa"
)

// env is one real server on 127.0.0.1:0 with a temporary SQLite file, and
// clients for every transport.
type env struct {
	t    testing.TB
	srv  *server.Server
	base string
	conn *grpc.ClientConn
	// native is a client of the dedicated native gRPC listener
	// (Config.GRPCAddr), which serves the same services and chain.
	native *grpc.ClientConn
	admin  string // the bootstrap admin's token, read from admin.pat
	org    string // the first organization
	core   *mfa.Service
	ctx    context.Context // acts as the admin in the core (test fixtures)
}

// mustRunServer starts a server with the test defaults; opts adjust the
// configuration (for example withDataDir to restart on the same files).
func mustRunServer(tb testing.TB, opts ...func(*server.Config)) *env {
	tb.Helper()
	cfg := testConfig(tb)
	for _, o := range opts {
		o(&cfg)
	}
	if pgtest.Enabled() && cfg.DB == "" {
		cfg.DB = testDB(tb, cfg.DataDir)
	}
	srv, err := server.New(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("server.New: %v", err)
	}
	if err := srv.Start(); err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() {
		if err := srv.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	pat, err := os.ReadFile(filepath.Join(cfg.DataDir, "admin.pat"))
	if err != nil {
		tb.Fatalf("admin.pat: %v", err)
	}
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	e := &env{t: tb, srv: srv, base: "http://" + srv.Addr(), conn: conn, admin: strings.TrimSpace(string(pat)), core: srv.Core()}
	if a := srv.GRPCAddr(); a != "" {
		if e.native, err = grpc.NewClient(a, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { e.native.Close() })
	}
	p, err := e.core.Authenticate(context.Background(), e.admin)
	if err != nil {
		tb.Fatalf("admin token from admin.pat does not authenticate: %v", err)
	}
	// The first organization is the admin's own (Bootstrap reports it only
	// on the start that created it).
	e.org = p.OrgID
	if b := srv.Bootstrap(); b.Created && b.OrgID != e.org {
		tb.Fatalf("bootstrap org %q, but the admin token belongs to %q", b.OrgID, e.org)
	}
	e.ctx = mfa.WithPrincipal(context.Background(), p)
	return e
}

// testConfig is the configuration of a test server: a free port on
// 127.0.0.1, a fresh data directory, logs discarded unless -v. The store is
// a SQLite file in the data directory or, when FACTORGATE_TEST_DB is set,
// a fresh schema in that PostgreSQL database (the same one again for a
// restart on the same data directory).
func testConfig(tb testing.TB) server.Config {
	cfg := server.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.GRPCAddr = "127.0.0.1:0"
	cfg.DataDir = tb.TempDir()
	cfg.SQLiteSynchronous = "NORMAL"
	// bcrypt's cheapest cost: at the default a password hash or check
	// takes about 0.7 s under the race detector, and many tests sign in.
	// server/mfa's TestPasswordHashCost checks the default and the setting.
	cfg.PasswordHashCost = mfa.MinPasswordHashCost
	if pgtest.Enabled() {
		cfg.DB = testDB(tb, cfg.DataDir)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg
}

// withDataDir runs the server on dir (to restart on the same files, and
// on PostgreSQL on the same schema).
func withDataDir(dir string) func(*server.Config) {
	return func(c *server.Config) {
		c.DataDir = dir
		if pgtest.Enabled() {
			c.DB = "" // mustRunServer picks the data directory's schema
		}
	}
}

// testDBs maps a test data directory to its PostgreSQL schema's URL.
var testDBs sync.Map

// testDB returns the PostgreSQL URL of the test server with data directory
// dir, creating a fresh schema for a new directory.
func testDB(tb testing.TB, dir string) string {
	tb.Helper()
	if u, ok := testDBs.Load(dir); ok {
		return u.(string)
	}
	u := pgtest.SchemaURL(tb)
	testDBs.Store(dir, u)
	return u
}

// withCORS allows browser calls from origins.
func withCORS(origins ...string) func(*server.Config) {
	return func(c *server.Config) { c.CORSOrigins = origins }
}

// ---- fixtures, created through the core as the admin ----

func (e *env) newOrg(name string) string {
	e.t.Helper()
	d, _, err := e.core.AddOrganization(e.ctx, "", name, nil)
	if err != nil {
		e.t.Fatalf("AddOrganization: %v", err)
	}
	return d.ID
}

// userSeq numbers the people tests create (tests run in parallel).
var userSeq atomic.Int64

func (e *env) newHuman(org string) string {
	e.t.Helper()
	seq := int(userSeq.Add(1))
	name := "person" + time.Now().Format("150405.000000") + "-" + string(rune('a'+seq%26)) + strings.Repeat("x", seq%7)
	d, err := e.core.AddHumanUser(e.ctx, org, mfa.HumanInput{
		Username: name, GivenName: "Ada", FamilyName: "Lovelace", Email: name + "@example.com", EmailVerified: true,
		Phone: "+41791234567", PhoneVerified: true,
	})
	if err != nil {
		e.t.Fatalf("AddHumanUser: %v", err)
	}
	return d.ID
}

// enrollTOTP registers and verifies TOTP for user, the way a person would.
func (e *env) enrollTOTP(user string) {
	e.t.Helper()
	reg, _, err := e.core.RegisterTOTP(e.ctx, "", user)
	if err != nil {
		e.t.Fatalf("RegisterTOTP: %v", err)
	}
	code, err := totp.GenerateCode(reg.Secret, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.core.VerifyTOTP(e.ctx, "", user, reg.ID, code); err != nil {
		e.t.Fatalf("VerifyTOTP: %v", err)
	}
}

func (e *env) addOTP(user string, kind mfa.FactorKind) {
	e.t.Helper()
	var err error
	if kind == mfa.FactorOTPSMS {
		_, _, err = e.core.AddOTPSMS(e.ctx, "", user)
	} else {
		_, _, err = e.core.AddOTPEmail(e.ctx, "", user)
	}
	if err != nil {
		e.t.Fatalf("add %s: %v", kind, err)
	}
}

// machineToken creates a machine user in org with the given org roles (none
// for no membership) and returns its token.
func (e *env) machineToken(org string, roles ...string) (userID, token string) {
	e.t.Helper()
	seq := int(userSeq.Add(1))
	d, err := e.core.AddMachineUser(e.ctx, org, mfa.MachineInput{Username: "svc-" + time.Now().Format("150405.000000") + strings.Repeat("y", seq%11) + string(rune('a'+seq%26)), Name: "svc"})
	if err != nil {
		e.t.Fatalf("AddMachineUser: %v", err)
	}
	if len(roles) > 0 {
		if _, err := e.core.AddOrgMember(e.ctx, org, d.ID, roles); err != nil {
			e.t.Fatalf("AddOrgMember: %v", err)
		}
	}
	_, tok, _, err := e.core.AddPersonalAccessToken(e.ctx, org, d.ID, time.Time{})
	if err != nil {
		e.t.Fatalf("AddPersonalAccessToken: %v", err)
	}
	return d.ID, tok
}

func (e *env) factors(user string) []mfa.FactorView {
	e.t.Helper()
	fs, err := e.core.ListFactors(e.ctx, "", user)
	if err != nil {
		e.t.Fatal(err)
	}
	return fs
}

// ---- one call over one transport ----

// op is one RPC with its REST spelling.
type op struct {
	method   string // full gRPC method
	req      proto.Message
	newResp  func() proto.Message
	web      func(ctx context.Context, base string, hdr http.Header, opt connect.ClientOption, req proto.Message) (proto.Message, error)
	verb     string // REST method
	path     string // REST path
	restBody string
}

func newOp[Req, Res any](method string, req *Req, verb, path, body string) op {
	return op{
		method: method, req: any(req).(proto.Message),
		newResp: func() proto.Message { return any(new(Res)).(proto.Message) },
		web: func(ctx context.Context, base string, hdr http.Header, opt connect.ClientOption, req proto.Message) (proto.Message, error) {
			c := connect.NewClient[Req, Res](http.DefaultClient, base+method, opt)
			r := connect.NewRequest(any(req).(*Req))
			for k, v := range hdr {
				r.Header()[k] = v
			}
			resp, err := c.CallUnary(ctx, r)
			if err != nil {
				return nil, err
			}
			return any(resp.Msg).(proto.Message), nil
		},
		verb: verb, path: path, restBody: body,
	}
}

// outcome is what a call produced, normalised across transports.
type outcome struct {
	code     codes.Code
	message  string
	detailID string
	resp     proto.Message
	http     int    // REST only
	body     []byte // REST only
}

type transport struct {
	name string
	call func(e *env, o op, token, org string) outcome
}

var transports = []transport{
	{"grpc", (*env).callGRPC},
	{"grpc-web", (*env).callWeb},
	{"rest", (*env).callREST},
	{"connect", (*env).callConnect},
}

// nativeGRPC is gRPC over the dedicated native listener (Config.GRPCAddr);
// native_grpc_test.go runs it beside the one-port gRPC.
var nativeGRPC = transport{"grpc-native-listener", (*env).callNativeGRPC}

// callNativeGRPC calls over the dedicated native gRPC listener
// (Config.GRPCAddr, grpc-go's own transport).
func (e *env) callNativeGRPC(o op, token, org string) outcome {
	if e.native == nil {
		e.t.Fatal("the server has no native gRPC listener (Config.GRPCAddr)")
	}
	return e.invokeGRPC(e.native, o, token, org)
}

func (e *env) callGRPC(o op, token, org string) outcome { return e.invokeGRPC(e.conn, o, token, org) }

func (e *env) invokeGRPC(conn *grpc.ClientConn, o op, token, org string) outcome {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md := metadata.MD{}
	if token != "" {
		md.Set("authorization", "Bearer "+token)
	}
	if org != "" {
		md.Set("x-zitadel-orgid", org)
	}
	ctx = metadata.NewOutgoingContext(ctx, md)
	resp := o.newResp()
	err := conn.Invoke(ctx, o.method, o.req, resp)
	if err != nil {
		st := status.Convert(err)
		out := outcome{code: st.Code(), message: st.Message()}
		for _, d := range st.Details() {
			if ed, ok := d.(*message.ErrorDetail); ok {
				out.detailID = ed.GetId()
			}
		}
		return out
	}
	return outcome{code: codes.OK, resp: resp}
}

func (e *env) callWeb(o op, token, org string) outcome {
	return e.callConnectGo(o, token, org, "grpc-web", connect.WithGRPCWeb())
}

// callConnect calls with the Connect protocol and its JSON encoding, as
// ZITADEL's v2 services (connect-go handlers) are called by curl, by a
// browser or by connect-go with WithProtoJSON.
func (e *env) callConnect(o op, token, org string) outcome {
	return e.callConnectGo(o, token, org, "connect", connect.WithProtoJSON())
}

func (e *env) callConnectGo(o op, token, org, name string, opt connect.ClientOption) outcome {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hdr := http.Header{}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	if org != "" {
		hdr.Set("X-Zitadel-Orgid", org)
	}
	resp, err := o.web(ctx, e.base, hdr, opt, o.req)
	if err != nil {
		var ce *connect.Error
		if !asConnect(err, &ce) {
			e.t.Fatalf("%s %s: %v", name, o.method, err)
		}
		out := outcome{code: codes.Code(ce.Code()), message: ce.Message()}
		for _, d := range ce.Details() {
			if v, derr := d.Value(); derr == nil {
				if ed, ok := v.(*message.ErrorDetail); ok {
					out.detailID = ed.GetId()
				}
			}
		}
		return out
	}
	return outcome{code: codes.OK, resp: resp}
}

func (e *env) callREST(o op, token, org string) outcome {
	var body io.Reader
	if o.restBody != "" {
		body = strings.NewReader(o.restBody)
	}
	req, err := http.NewRequest(o.verb, e.base+o.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if o.restBody != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if org != "" {
		req.Header.Set("x-zitadel-orgid", org)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("REST %s %s: %v", o.verb, o.path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := outcome{http: res.StatusCode, body: raw}
	if res.StatusCode >= 200 && res.StatusCode < 300 { // 201 where the vendor declares it
		resp := o.newResp()
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, resp); err != nil {
			e.t.Fatalf("REST %s %s: decode %s: %v", o.verb, o.path, raw, err)
		}
		out.code, out.resp = codes.OK, resp
		return out
	}
	var st struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Details []struct {
			Type string `json:"@type"`
			ID   string `json:"id"`
		} `json:"details"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		e.t.Fatalf("REST %s %s: error body is not JSON: %q", o.verb, o.path, raw)
	}
	out.code, out.message = codes.Code(st.Code), st.Message
	for _, d := range st.Details {
		if d.Type == "type.googleapis.com/zitadel.v1.ErrorDetail" {
			out.detailID = d.ID
		}
	}
	return out
}

func asConnect(err error, target **connect.Error) bool {
	ce := new(connect.Error)
	if ok := errorsAs(err, &ce); ok {
		*target = ce
		return true
	}
	return false
}

// rawREST sends a REST request and returns status and body.
func (e *env) rawREST(verb, path, token, body string) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = bytes.NewBufferString(body)
	}
	req, _ := http.NewRequest(verb, e.base+path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, raw
}

// expect is the outcome a call must have: gRPC code, status message, the
// zitadel.v1.ErrorDetail id, and the HTTP status over REST.
type expect struct {
	code     codes.Code
	http     int
	message  string
	detailID string
}

// success is the expectation of a successful call (HTTP 200).
var success = expect{code: codes.OK, http: http.StatusOK}

// failure builds an expectation of a domain error "<text> (<id>)" with its
// ErrorDetail.
func failure(code codes.Code, httpStatus int, text, id string) expect {
	return expect{code: code, http: httpStatus, message: text + " (" + id + ")", detailID: id}
}

// mustCall makes one call over tr and fails the test unless it ends as w.
func (e *env) mustCall(t *testing.T, tr transport, o op, token, org string, w expect) outcome {
	t.Helper()
	got := tr.call(e, o, token, org)
	if got.code != w.code || got.message != w.message || got.detailID != w.detailID {
		t.Fatalf("%s over %s: got (%v, %q, detail %q), want (%v, %q, detail %q); body %s",
			o.method, tr.name, got.code, got.message, got.detailID, w.code, w.message, w.detailID, got.body)
	}
	if tr.name == "rest" && got.http != w.http {
		t.Fatalf("%s %s: HTTP status %d, want %d; body %s", o.verb, o.path, got.http, w.http, got.body)
	}
	return got
}
