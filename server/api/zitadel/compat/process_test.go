package compat

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// This file runs the real factorgate binary in a separate process. The
// binary is built from the main module (the repository root), never
// imported: this module links zitadel-go's generated packages, which
// register the same proto names as factorgate's own (see doc.go).

const (
	buildTimeout    = 3 * time.Minute // a cold build compiles the whole server
	startTimeout    = 20 * time.Second
	shutdownTimeout = 15 * time.Second
)

// factorgateBuild is the binary, built once per test process.
var factorgateBuild struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// TestMain stops the shared server (a graceful stop must exit 0) and
// removes the binary built by the first test that needed it.
func TestMain(m *testing.M) {
	code := m.Run()
	if err := stopSharedFactorgate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	if factorgateBuild.dir != "" {
		_ = os.RemoveAll(factorgateBuild.dir)
	}
	os.Exit(code)
}

// repoRoot is the main module's directory, four levels up from this one.
func repoRoot() (string, error) {
	root, err := filepath.Abs(filepath.Join("..", "..", "..", ".."))
	if err != nil {
		return "", err
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("repository root %s: %w", root, err)
	}
	if !bytes.HasPrefix(gomod, []byte("module github.com/factorgate/factorgate\n")) {
		return "", fmt.Errorf("%s/go.mod is not the factorgate main module", root)
	}
	return root, nil
}

// factorgateBinary builds ./cmd/factorgate once per test process, or
// returns FACTORGATE_BIN when it names one (`make test` builds the binary
// once for every package that runs it).
func factorgateBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("FACTORGATE_BIN"); bin != "" {
		return bin
	}
	b := &factorgateBuild
	b.once.Do(func() {
		root, err := repoRoot()
		if err != nil {
			b.err = err
			return
		}
		if b.dir, b.err = os.MkdirTemp("", "factorgate-compat-"); b.err != nil {
			return
		}
		b.bin = filepath.Join(b.dir, "factorgate")
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.bin, "./cmd/factorgate")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOWORK=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build ./cmd/factorgate in %s: %w\n%s", root, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin
}

// factorgateProcess is one running server.
type factorgateProcess struct {
	Addr     string // host:port it listens on
	Host     string
	Port     string
	AdminPAT string // the bootstrap admin's token, from <data-dir>/admin.pat
	DataDir  string
}

// serverLog collects the server's stderr and reports the address of the
// first `msg=serving` line.
type serverLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	scanned int
	addr    chan string
	found   bool
}

var servingLine = regexp.MustCompile(`(?m)^.*\bmsg=serving\b.*\baddr=(\S+)`)

func (l *serverLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.found {
		// Only look at complete lines.
		data := l.buf.Bytes()
		if end := bytes.LastIndexByte(data, '\n'); end >= l.scanned {
			if m := servingLine.FindSubmatch(data[l.scanned : end+1]); m != nil {
				l.found = true
				l.addr <- string(m[1])
			}
			l.scanned = end + 1
		}
	}
	return len(p), nil
}

func (l *serverLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// shared is the one server all stock-client tests talk to, started by the
// first of them: a start costs a second, and every test creates its own
// organizations and users.
var shared struct {
	once sync.Once
	proc *factorgateProcess
	run  *runningFactorgate
	err  error
}

// sharedFactorgate returns the shared server, starting it on first use. A
// failing test gets the server's log.
func sharedFactorgate(t *testing.T) *factorgateProcess {
	t.Helper()
	bin := factorgateBinary(t)
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "factorgate-compat-data-")
		if err != nil {
			shared.err = err
			return
		}
		shared.proc, shared.run, shared.err = launchFactorgate(bin, dir)
		if shared.err != nil {
			_ = os.RemoveAll(dir)
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("factorgate log:\n%s", shared.run.logs)
		}
	})
	t.Logf("factorgate serving on %s, data dir %s", shared.proc.Addr, shared.proc.DataDir)
	return shared.proc
}

// stopSharedFactorgate stops the shared server, if one was started, and
// removes its data directory.
func stopSharedFactorgate() error {
	if shared.run == nil {
		return nil
	}
	defer os.RemoveAll(shared.proc.DataDir)
	if err := shared.run.stop(); err != nil {
		return fmt.Errorf("%w\nfactorgate log:\n%s", err, shared.run.logs)
	}
	return nil
}

// runningFactorgate is a started process.
type runningFactorgate struct {
	cmd    *exec.Cmd
	exited chan error
	logs   *serverLog
}

// stop sends SIGTERM and fails unless the process exits 0 within
// shutdownTimeout.
func (r *runningFactorgate) stop() error {
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM: %w", err)
	}
	select {
	case err := <-r.exited:
		if err != nil { // a graceful stop exits 0
			return fmt.Errorf("factorgate did not exit cleanly on SIGTERM: %w", err)
		}
		return nil
	case <-time.After(shutdownTimeout):
		_ = r.cmd.Process.Kill()
		<-r.exited
		return fmt.Errorf("factorgate did not exit within %v of SIGTERM; killed", shutdownTimeout)
	}
}

// launchFactorgate starts bin on a free loopback port with dataDir and
// waits until it serves.
func launchFactorgate(bin, dataDir string) (*factorgateProcess, *runningFactorgate, error) {
	logs := &serverLog{addr: make(chan string, 1)}
	cmd := exec.Command(bin, "serve",
		"--addr", "127.0.0.1:0",
		"--data-dir", dataDir,
		"--sqlite-synchronous", "NORMAL",
		"--log-format", "text",
	)
	// No FACTORGATE_* settings from the caller's environment.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FACTORGATE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdout = logs
	cmd.Stderr = logs
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", bin, err)
	}
	run := &runningFactorgate{cmd: cmd, exited: make(chan error, 1), logs: logs}
	go func() { run.exited <- cmd.Wait() }()
	fail := func(format string, args ...any) (*factorgateProcess, *runningFactorgate, error) {
		if err := run.stop(); err != nil {
			format += "; stopping: %v"
			args = append(args, err)
		}
		return nil, nil, fmt.Errorf(format+"\nfactorgate log:\n%s", append(args, logs)...)
	}

	var addr string
	select {
	case addr = <-logs.addr:
	case err := <-run.exited:
		return nil, nil, fmt.Errorf("factorgate exited before serving: %v\nfactorgate log:\n%s", err, logs)
	case <-time.After(startTimeout):
		return fail("no `msg=serving` line within %v", startTimeout)
	}
	host, port, ok := strings.Cut(addr, ":")
	if !ok || host != "127.0.0.1" || port == "" || port == "0" {
		return fail("serving line has addr=%q, want 127.0.0.1:<port>", addr)
	}
	pat, err := os.ReadFile(filepath.Join(dataDir, "admin.pat"))
	if err != nil {
		return fail("admin.pat: %v", err)
	}
	token := strings.TrimSpace(string(pat))
	if token == "" {
		return fail("admin.pat is empty")
	}
	return &factorgateProcess{Addr: addr, Host: host, Port: port, AdminPAT: token, DataDir: dataDir}, run, nil
}
