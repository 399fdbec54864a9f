// Command bench measures factorgate's factor removal and read paths against
// a no-op baseline on the same machine, in one run, so that the ratio means
// something on a shared, noisy machine (`make bench`, `make bench-scale`).
//
//	go run ./bench            removal and read rows, each beside its baseline row
//	go run ./bench scale      removal latency and server memory at growing data sizes
//	go run ./bench baseline   (internal) the no-op baseline server
//
// Environment: BENCH_FACTORGATE (the factorgate binary; default: build
// ./cmd/factorgate), BENCH_USERS (people seeded before the rows, whom
// the read row reads; default 10000: each removal row seeds its own on
// top, as many as it removes), BENCH_DURATION (a row's time, half of it
// on each side, default 10s), BENCH_SLICES (how many stretches each side
// of a row is cut into, alternated with the other side's, default 4),
// BENCH_CONCURRENCY (default "16,64"), BENCH_ROWS
// (comma-separated words: only the rows whose transport and operation
// hold one of them, e.g. "gRPC-Web,read"), BENCH_DB (default: a SQLite
// file in a temporary data directory; postgres://… for PostgreSQL),
// BENCH_SCALE_SIZES (factors, default "10000,100000,1000000"), BENCH_OUT
// (default bench/results).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/factorgate/factorgate/server"
	"github.com/factorgate/factorgate/server/mfa"
)

func main() {
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "baseline":
		err = runBaseline()
	case len(os.Args) > 1 && os.Args[1] == "scale":
		err = runScale(context.Background())
	case len(os.Args) > 1:
		err = fmt.Errorf("usage: bench [scale]")
	default:
		err = runRows(context.Background())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type settings struct {
	bin         string
	users       int
	duration    time.Duration
	concurrency []int
	db          string
	out         string
	scaleSizes  []int
	rows        []string
	// slices is how many stretches each side of a row is cut into,
	// alternated with the other side's (interleave).
	slices int
}

func load() (settings, error) {
	s := settings{bin: os.Getenv("BENCH_FACTORGATE"), users: 10000, duration: 10 * time.Second,
		concurrency: []int{16, 64}, db: os.Getenv("BENCH_DB"), out: "bench/results",
		scaleSizes: []int{10000, 100000, 1000000}, slices: 4}
	var err error
	if v := os.Getenv("BENCH_USERS"); v != "" {
		if s.users, err = strconv.Atoi(v); err != nil || s.users < 1 {
			return s, fmt.Errorf("BENCH_USERS=%q: want a positive number", v)
		}
	}
	if v := os.Getenv("BENCH_DURATION"); v != "" {
		if s.duration, err = time.ParseDuration(v); err != nil || s.duration <= 0 {
			return s, fmt.Errorf("BENCH_DURATION=%q: want a duration such as 10s", v)
		}
	}
	if v := os.Getenv("BENCH_SLICES"); v != "" {
		if s.slices, err = strconv.Atoi(v); err != nil || s.slices < 1 {
			return s, fmt.Errorf("BENCH_SLICES=%q: want a positive number", v)
		}
	}
	if v := os.Getenv("BENCH_CONCURRENCY"); v != "" {
		if s.concurrency, err = ints(v); err != nil {
			return s, fmt.Errorf("BENCH_CONCURRENCY=%q: %w", v, err)
		}
	}
	if v := os.Getenv("BENCH_SCALE_SIZES"); v != "" {
		if s.scaleSizes, err = ints(v); err != nil {
			return s, fmt.Errorf("BENCH_SCALE_SIZES=%q: %w", v, err)
		}
	}
	if v := os.Getenv("BENCH_ROWS"); v != "" {
		for _, w := range strings.Split(v, ",") {
			if w = strings.TrimSpace(w); w != "" {
				s.rows = append(s.rows, strings.ToLower(w))
			}
		}
	}
	if v := os.Getenv("BENCH_OUT"); v != "" {
		s.out = v
	}
	return s, nil
}

func ints(v string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, errors.New("want comma-separated positive numbers")
		}
		out = append(out, n)
	}
	return out, nil
}

// bench holds the processes of one run.
type bench struct {
	set     settings
	dir     string
	seeder  *server.Server // the store and core, opened in this process to seed data
	org     string
	fg, nop *target
	procs   []*exec.Cmd
	seeded  int
	// readers are the people seeded before the rows (BENCH_USERS): the
	// read row cycles over them.
	readers *pool
	// seeding is the time seed took in all, people how many it seeded.
	seeding time.Duration
	people  int
}

// start seeds nothing yet: it opens the store in this process (node 127,
// so seeded ids never collide with the server's), then starts factorgate
// (node 0, its durable defaults) and the baseline as processes of their own.
func start(ctx context.Context, set settings) (*bench, error) {
	dir, err := os.MkdirTemp("", "factorgate-bench-")
	if err != nil {
		return nil, err
	}
	b := &bench{set: set, dir: dir}
	cfg := server.DefaultConfig()
	cfg.DataDir, cfg.DB, cfg.Node, cfg.SQLiteSynchronous = dir, set.db, 127, "NORMAL"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if b.seeder, err = server.New(ctx, cfg); err != nil {
		b.close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	b.org = b.seeder.Bootstrap().OrgID
	pat, err := os.ReadFile(filepath.Join(dir, "admin.pat"))
	if err != nil {
		b.close()
		return nil, err
	}
	if set.bin == "" {
		set.bin = filepath.Join(dir, "factorgate")
		if out, err := exec.Command("go", "build", "-o", set.bin, "./cmd/factorgate").CombinedOutput(); err != nil {
			b.close()
			return nil, fmt.Errorf("go build: %v\n%s", err, out)
		}
	}
	args := []string{"serve", "--addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--data-dir", dir}
	if set.db != "" {
		args = append(args, "--db", set.db)
	}
	addrs, pid, err := b.spawn(set.bin, args, regexp.MustCompile(`msg=serving addr=(\S+) grpc_addr=(\S+)`), true)
	if err != nil {
		b.close()
		return nil, fmt.Errorf("factorgate: %w", err)
	}
	token := strings.TrimSpace(string(pat))
	if b.fg, err = newTarget("factorgate", addrs, pid, token, b.org); err != nil {
		b.close()
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		b.close()
		return nil, err
	}
	addrs, pid, err = b.spawn(self, []string{"baseline"}, regexp.MustCompile(`^addr=(\S+) grpc_addr=(\S+)`), false)
	if err != nil {
		b.close()
		return nil, fmt.Errorf("baseline: %w", err)
	}
	if b.nop, err = newTarget("baseline", addrs, pid, token, b.org); err != nil {
		b.close()
		return nil, err
	}
	if b.fg.oneLogin, err = b.oneLoginToken(ctx, token); err != nil {
		b.close()
		return nil, fmt.Errorf("OneLogin credential: %w", err)
	}
	b.nop.oneLogin = b.fg.oneLogin
	return b, nil
}

// oneLoginToken creates a "Manage users" OneLogin API credential of the
// organization (as the admin) and gets its access token from factorgate's
// OneLogin token endpoint.
func (b *bench) oneLoginToken(ctx context.Context, adminToken string) (string, error) {
	p, err := b.seeder.Core().Authenticate(ctx, adminToken)
	if err != nil {
		return "", err
	}
	cred, _, err := b.seeder.Core().CreateAPICredential(mfa.WithPrincipal(ctx, p), b.org, mfa.ScopeManageUsers)
	if err != nil {
		return "", err
	}
	res, err := http.PostForm(b.fg.base+"/auth/oauth2/v2/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {cred.ClientID}, "client_secret": {cred.Secret}})
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var g struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&g); err != nil || g.AccessToken == "" {
		return "", fmt.Errorf("token endpoint: HTTP %d: %v", res.StatusCode, err)
	}
	return g.AccessToken, nil
}

// newTarget connects to a server: addrs are its one-port address and its
// native gRPC address.
func newTarget(name string, addrs []string, pid int, token, org string) (*target, error) {
	conn, err := dial(addrs[0])
	if err != nil {
		return nil, err
	}
	native, err := dial(addrs[1])
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &target{name: name, base: "http://" + addrs[0], pid: pid, conn: conn, native: native, token: token, org: org}, nil
}

// spawn starts a server process and waits for the line naming its
// addresses (on stderr for factorgate's log, stdout for the baseline),
// returning addrRE's groups. The process ends when this one closes its
// stdin or exits.
func (b *bench) spawn(bin string, args []string, addrRE *regexp.Regexp, fromStderr bool) ([]string, int, error) {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the bench
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, 0, err
	}
	_ = stdin // closed when this process exits
	var out io.ReadCloser
	if fromStderr {
		out, err = cmd.StderrPipe()
	} else {
		out, err = cmd.StdoutPipe()
	}
	if err != nil {
		return nil, 0, err
	}
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	b.procs = append(b.procs, cmd)
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if m := addrRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1:]
				break
			}
		}
		// The rest (factorgate's request log) is read and dropped without
		// looking at it: matching every line cost the load generator CPU
		// in factorgate's rows only.
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case a := <-found:
		return a, cmd.Process.Pid, nil
	case <-time.After(60 * time.Second):
		return nil, 0, errors.New("no address within 60s")
	}
}

func (b *bench) close() {
	for _, p := range b.procs {
		_ = p.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = p.Process.Kill()
		}
	}
	if b.seeder != nil {
		_ = b.seeder.Close()
	}
	_ = os.RemoveAll(b.dir)
}

// seed creates n people with a TOTP and u2f keys each, untimed for the
// rows; the run adds up its time (seeding) and the people (people).
func (b *bench) seed(ctx context.Context, n, u2f int) ([]mfa.SeededUser, error) {
	t0 := time.Now()
	users, err := b.seeder.Core().Seed(ctx, mfa.SeedOptions{OrgID: b.org, Users: n, U2FPerUser: u2f,
		Prefix: fmt.Sprintf("bench%d", b.seeded), BatchSize: 500})
	b.seeded++
	b.seeding += time.Since(t0)
	b.people += len(users)
	return users, err
}

// cpuTime is a process's user plus system CPU time (/proc/<pid>/stat,
// fields 14 and 15, in clock ticks of 1/100 s, Linux's USER_HZ).
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its ")".
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// memory returns a process's resident and peak resident set size in bytes.
func memory(pid int) (rss, peak int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return rss, peak, nil
}

// machine describes where the run happened.
func machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d cores (%s), %s/%s, %s", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
