package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server"
)

// env is a fake environment for parseServe.
func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestParseServeDefaults(t *testing.T) {
	cfg, err := parseServe(nil, env())
	if err != nil {
		t.Fatal(err)
	}
	if want := server.DefaultConfig(); !reflect.DeepEqual(cfg, want) {
		t.Errorf("parseServe() = %+v\nwant server.DefaultConfig() = %+v", cfg, want)
	}
}

func TestParseServeEnvironmentAndFlags(t *testing.T) {
	fullEnv := env("FACTORGATE_ADDR", "0.0.0.0:9000", "FACTORGATE_DATA_DIR", "/var/lib/fg", "FACTORGATE_LOG_LEVEL", "debug",
		"FACTORGATE_CORS_ORIGINS", "https://a.example, https://b.example", "FACTORGATE_NODE", "7",
		"FACTORGATE_SHUTDOWN_TIMEOUT", "3s", "FACTORGATE_PASSWORD_HASH_COST", "12")
	cases := []struct {
		name   string
		args   []string
		getenv func(string) string
		check  func(t *testing.T, c server.Config)
	}{
		{"environment applies", nil, fullEnv, func(t *testing.T, c server.Config) {
			if c.Addr != "0.0.0.0:9000" || c.DataDir != "/var/lib/fg" || c.LogLevel != "debug" || c.Node != 7 || c.ShutdownTimeout != 3*time.Second || c.PasswordHashCost != 12 {
				t.Errorf("config %+v does not reflect the environment", c)
			}
			if !reflect.DeepEqual(c.CORSOrigins, []string{"https://a.example", "https://b.example"}) {
				t.Errorf("CORSOrigins = %q", c.CORSOrigins)
			}
		}},
		{"flags override the environment", []string{"--addr", "127.0.0.1:0", "--data-dir=/tmp/x", "-log-level", "warn", "--node", "3"}, fullEnv,
			func(t *testing.T, c server.Config) {
				if c.Addr != "127.0.0.1:0" || c.DataDir != "/tmp/x" || c.LogLevel != "warn" || c.Node != 3 {
					t.Errorf("config %+v: flags did not win", c)
				}
				if c.ShutdownTimeout != 3*time.Second {
					t.Errorf("ShutdownTimeout %v: an environment value without a flag must stay", c.ShutdownTimeout)
				}
			}},
		{"flags without environment", []string{"--db", "sqlite:///tmp/fg.db", "--masterkey-file", "/run/secrets/key", "--webauthn-origins", "https://login.example"}, env(),
			func(t *testing.T, c server.Config) {
				if c.DB != "sqlite:///tmp/fg.db" || c.MasterKeyFile != "/run/secrets/key" || !reflect.DeepEqual(c.RPOrigins, []string{"https://login.example"}) {
					t.Errorf("config %+v", c)
				}
				if c.Addr != server.DefaultConfig().Addr {
					t.Errorf("Addr %q changed without a flag", c.Addr)
				}
			}},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			cfg, err := parseServe(c.args, c.getenv)
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, cfg)
		})
	}
}

func TestParseServeErrors(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		getenv func(string) string
		want   string // part of the error
	}{
		{"node too large", []string{"--node", "128"}, env(), "node"},
		{"negative node", []string{"--node=-1"}, env(), "node"},
		{"node not a number", []string{"--node", "two"}, env(), "node"},
		{"node from the environment", nil, env("FACTORGATE_NODE", "500"), "node"},
		{"password hash cost below bcrypt's least", []string{"--password-hash-cost", "3"}, env(), "--password-hash-cost must be between 4 and 16"},
		{"password hash cost from the environment too high", nil, env("FACTORGATE_PASSWORD_HASH_COST", "17"), "--password-hash-cost must be between 4 and 16"},
		{"unknown SQLite synchronous setting", []string{"--sqlite-synchronous", "OFF"}, env(), "--sqlite-synchronous must be FULL or NORMAL"},
		{"unknown SQLite synchronous setting from the environment", nil, env("FACTORGATE_SQLITE_SYNCHRONOUS", "extra"), "--sqlite-synchronous must be FULL or NORMAL"},
		{"bad duration in the environment", nil, env("FACTORGATE_SHUTDOWN_TIMEOUT", "soon"), "FACTORGATE_SHUTDOWN_TIMEOUT"},
		{"unknown flag", []string{"--no-such-flag"}, env(), "no-such-flag"},
		{"positional argument", []string{"--addr", "127.0.0.1:1", "extra"}, env(), "extra"},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			_, err := parseServe(c.args, c.getenv)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("parseServe(%q) error = %v, want one mentioning %q", c.args, err, c.want)
			}
		})
	}
}

func TestRunNeedsServe(t *testing.T) {
	for _, args := range [][]string{nil, {"server"}, {"--addr", "x"}} {
		if err := run(args); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}

// The real binary: it serves, logs its address, writes admin.pat and exits
// 0 on SIGTERM.
func TestBinaryServesAndStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	// make test builds the binary once and names it in FACTORGATE_BIN.
	bin := testBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--sqlite-synchronous", "NORMAL")
	cmd.Env = append(os.Environ(), "FACTORGATE_LOG_FORMAT=text")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1) // the exit status, once
	done := make(chan struct{})   // closed when the process has exited
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
			<-done
		}
	})

	addrRE := regexp.MustCompile(`msg=serving addr=(\S+)`)
	addr := make(chan string, 1)
	var logs lockedBuffer
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteLine(sc.Text())
			if m := addrRE.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() {
		<-logsDone // Wait closes the pipe: read it all first
		exited <- cmd.Wait()
		close(done)
	}()

	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-exited:
		t.Fatalf("factorgate exited before serving: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("factorgate did not log its address within 30s")
	}
	res, err := http.Get(base + "/healthz")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %v %v", res, err)
	}
	res.Body.Close()
	pat, err := os.ReadFile(filepath.Join(dataDir, "admin.pat"))
	if err != nil || !strings.HasPrefix(string(pat), "fg_") {
		t.Fatalf("admin.pat: %q, %v", pat, err)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/management/v1/policies/login", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(pat)))
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GetLoginPolicy with the token from admin.pat: %v %v", res, err)
	} else {
		res.Body.Close()
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v, want status 0\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("factorgate still running 10s after SIGTERM\n%s", logs.String())
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("still serving after exit")
	}
	out := logs.String()
	if !strings.Contains(out, "token_file="+filepath.Join(dataDir, "admin.pat")) {
		t.Errorf("the first start does not say where the admin token is:\n%s", out)
	}
	if strings.Contains(out, strings.TrimSpace(string(pat))) {
		t.Error("the admin token itself appears in the log")
	}
}

// lockedBuffer collects log lines from one goroutine for another.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) WriteLine(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s + "\n")
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// capture runs fn with stdout sent to a buffer.
func capture(t *testing.T, fn func() error) (string, error) {
	t.Helper()
	var b strings.Builder
	old := stdout
	stdout = &b
	defer func() { stdout = old }()
	err := fn()
	return b.String(), err
}

// serve --help lists every flag with its environment variable and exits 0.
func TestServeHelpNamesEveryFlagAndItsEnvironmentVariable(t *testing.T) {
	out, err := capture(t, func() error { return run([]string{"serve", "--help"}) })
	if err != nil {
		t.Fatalf("serve --help: %v", err)
	}
	for _, f := range []string{"addr", "db", "data-dir", "masterkey-file", "tls-cert-file", "tls-key-file", "cors-origins",
		"log-level", "log-format", "node", "issuer", "webauthn-rp-id", "webauthn-origins", "sqlite-synchronous", "shutdown-timeout",
		"grpc-addr"} {
		if !strings.Contains(out, "--"+f+" ") || !strings.Contains(out, "("+envName(f)+")") {
			t.Errorf("help does not document --%s with %s:\n%s", f, envName(f), out)
		}
	}
	if !strings.Contains(out, "(default 127.0.0.1:8080)") {
		t.Errorf("help does not show the default address:\n%s", out)
	}
}

func TestVersionAndUnknownCommands(t *testing.T) {
	out, err := capture(t, func() error { return run([]string{"version"}) })
	if err != nil || !strings.HasPrefix(out, "factorgate ") || !strings.Contains(out, "go1.") {
		t.Errorf("version = %q, %v; want \"factorgate <version> … go1.x\"", out, err)
	}
	if err := run([]string{"bogus"}); err == nil || !strings.Contains(err.Error(), `unknown command "bogus"`) {
		t.Errorf("run(bogus) = %v, want an unknown-command error", err)
	}
	if err := run([]string{"serve", "--bogus"}); err == nil || !strings.Contains(err.Error(), "serve --help") {
		t.Errorf("serve --bogus = %v, want an error pointing at --help", err)
	}
}

// healthcheck: ready server → 0, nothing listening → error, a wildcard
// FACTORGATE_ADDR (as in the container image) is probed on loopback.
func TestHealthcheck(t *testing.T) {
	cfg := server.DefaultConfig()
	cfg.Addr, cfg.DataDir, cfg.SQLiteSynchronous = "127.0.0.1:0", t.TempDir(), "NORMAL"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	_, port, _ := net.SplitHostPort(srv.Addr())

	out, err := capture(t, func() error { return healthcheck([]string{"--addr", srv.Addr()}, env()) })
	if err != nil || out != "ready\n" {
		t.Errorf("healthcheck of a ready server = %q, %v", out, err)
	}
	if _, err := capture(t, func() error { return healthcheck(nil, env("FACTORGATE_ADDR", "0.0.0.0:"+port)) }); err != nil {
		t.Errorf("healthcheck with FACTORGATE_ADDR=0.0.0.0:%s: %v", port, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if _, err := capture(t, func() error { return healthcheck([]string{"--addr", closed, "--timeout", "2s"}, env()) }); err == nil || !strings.Contains(err.Error(), "not ready") {
		t.Errorf("healthcheck of a closed port = %v, want not ready", err)
	}
	if err := healthcheck([]string{"--addr", "no-port"}, env()); err == nil {
		t.Error("healthcheck --addr no-port: want an error")
	}
}

// testBinary is $FACTORGATE_BIN, or the binary built from this package.
func testBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("FACTORGATE_BIN"); bin != "" {
		return bin
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	bin := filepath.Join(t.TempDir(), "factorgate")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
