package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server/mfa"
)

// TestMain lets the test binary play the baseline server, as the bench
// binary does when it re-executes itself.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "baseline" {
		if err := runBaseline(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A short run of `make bench` end to end: every row runs on both servers
// without errors and the report is written. It measures nothing worth
// reading; it keeps the program from rotting.
func TestBenchRunsEveryRowWithoutErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	// make test builds the binary once and names it in FACTORGATE_BIN.
	bin := os.Getenv("FACTORGATE_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "factorgate")
		if out, err := exec.Command("go", "build", "-o", bin, "../cmd/factorgate").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	out := t.TempDir()
	t.Setenv("BENCH_FACTORGATE", bin)
	t.Setenv("BENCH_DURATION", "200ms")
	t.Setenv("BENCH_USERS", "30")
	t.Setenv("BENCH_CONCURRENCY", "2")
	t.Setenv("BENCH_OUT", out)
	if err := runRows(context.Background()); err != nil {
		t.Fatalf("runRows: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(out, "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var report struct {
		Users    int           `json:"users_before_rows"`
		Duration time.Duration `json:"row_duration_ns"`
		Seeding  time.Duration `json:"seeding_ns"`
		Rows     []row
	}
	if err := json.Unmarshal(data, &report); err != nil {
		t.Fatal(err)
	}
	if len(report.Rows) != 7 {
		t.Fatalf("%d rows, want 7 (six removals, one of them over gRPC on the one port, and a read)", len(report.Rows))
	}
	if report.Users != 30 || report.Duration != 200*time.Millisecond || report.Seeding <= 0 {
		t.Errorf("report: %d people before the rows, %s a row, seeding %s; want 30, 200ms and some seeding",
			report.Users, report.Duration, report.Seeding)
	}
	for _, r := range report.Rows {
		// A row's time is shared by its sides: each runs at least half of
		// it (a slice ends when its last request returns), and no removal
		// row runs out of people.
		for side, res := range map[string]result{"factorgate": r.Factorgate, "baseline": r.Baseline} {
			if res.Elapsed < report.Duration/2 || res.Exhausted {
				t.Errorf("%s over %s on %s: measured %s (people ran out: %v), want at least %s", r.Op, r.Transport, side,
					res.Elapsed, res.Exhausted, report.Duration/2)
			}
		}
		if removal := strings.HasPrefix(r.Op, "remove"); removal != (r.Seeding > 0) {
			t.Errorf("%s over %s: seeding %s; want some for a removal row (its own people), none for the read", r.Op, r.Transport, r.Seeding)
		}
		if r.Factorgate.Requests == 0 || r.Baseline.Requests == 0 {
			t.Errorf("%s over %s: %d requests to factorgate, %d to the baseline", r.Op, r.Transport, r.Factorgate.Requests, r.Baseline.Requests)
		}
		// Every removal is one append; the read writes nothing; the
		// baseline has no store.
		removal := strings.HasPrefix(r.Op, "remove")
		if removal != (r.Factorgate.AppendsPerCommit >= 1) || r.Baseline.AppendsPerCommit != 0 {
			t.Errorf("%s over %s: %.2f appends per commit (baseline %.2f)", r.Op, r.Transport, r.Factorgate.AppendsPerCommit, r.Baseline.AppendsPerCommit)
		}
		// Every request reads documents; the SQLite store counts the reads
		// and the read transactions serving them.
		sqlite := os.Getenv("BENCH_DB") == ""
		if sqlite != (r.Factorgate.ReadsPerTransaction >= 1) || r.Baseline.ReadsPerTransaction != 0 {
			t.Errorf("%s over %s: %.2f reads per read transaction (baseline %.2f)", r.Op, r.Transport, r.Factorgate.ReadsPerTransaction, r.Baseline.ReadsPerTransaction)
		}
		if r.Factorgate.Errors != 0 || r.Baseline.Errors != 0 {
			t.Errorf("%s over %s: errors %d (%s) / baseline %d (%s)", r.Op, r.Transport,
				r.Factorgate.Errors, r.Factorgate.FirstError, r.Baseline.Errors, r.Baseline.FirstError)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "latest.md")); err != nil {
		t.Error(err)
	}
}

// The U2F rows remove every person's first key, then every second one, so
// that concurrent workers never hold two keys of one person: two removals
// on one person race, and the loser runs again. Each factor is listed
// once.
func TestRemovalItemsKeepAPersonsKeysApart(t *testing.T) {
	users := make([]mfa.SeededUser, 100)
	for i := range users {
		id := fmt.Sprint("u", i)
		users[i] = mfa.SeededUser{ID: id, TOTPID: id + "-totp"}
		for k := range u2fPerUser {
			users[i].U2FIDs = append(users[i].U2FIDs, fmt.Sprint(id, "-key", k))
		}
	}
	for _, kind := range []string{"u2f", "totp"} {
		items := removalItems(users, kind)
		want := len(users)
		if kind == "u2f" {
			want *= u2fPerUser
		}
		seen := map[string]bool{}
		for _, w := range items {
			if seen[w.factor] {
				t.Fatalf("%s: factor %s listed twice", kind, w.factor)
			}
			seen[w.factor] = true
		}
		if len(seen) != want {
			t.Fatalf("%s: %d factors listed, want %d", kind, len(seen), want)
		}
		// Any 64 consecutive items (the most workers a row runs) name 64
		// people.
		for i := 0; i+64 <= len(items); i++ {
			people := map[string]bool{}
			for _, w := range items[i : i+64] {
				people[w.user] = true
			}
			if len(people) != 64 {
				t.Fatalf("%s: items %d to %d name %d people, want 64", kind, i, i+63, len(people))
			}
		}
	}
}

// A row alternates its slices in pairs, baseline first, then factorgate
// first, so that a drift of the machine during the row weighs on both.
func TestInterleaveAlternatesThePairs(t *testing.T) {
	for n, want := range map[int]string{1: "BF", 2: "BFFB", 4: "BFFBBFFB"} {
		var got strings.Builder
		for _, fg := range interleave(n) {
			got.WriteString(map[bool]string{false: "B", true: "F"}[fg])
		}
		if got.String() != want {
			t.Errorf("interleave(%d) = %s, want %s", n, got.String(), want)
		}
	}
}

// A row's result is that of all its slices together: the rate is every
// request over the time of every slice, CPU per request every slice's CPU
// over every request, the percentiles those of every request, and the
// store's ratios those of the summed counters (not a mean of the slices'
// ratios).
func TestSummarizeAddsTheSlicesUp(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	parts := []part{
		{lat: ms(1, 1, 1, 1, 1, 1, 1, 1), elapsed: time.Second, cpu: 80 * time.Millisecond,
			store: counters{"factorgate_store_group_commit_appends_total": 8, "factorgate_store_group_commits_total": 1}},
		{lat: ms(9, 9), errs: 2, first: "HTTP 500", elapsed: time.Second, cpu: 120 * time.Millisecond, exhausted: true,
			store: counters{"factorgate_store_group_commit_appends_total": 2, "factorgate_store_group_commits_total": 2,
				"factorgate_store_reads_total": 4, "factorgate_store_read_transactions_total": 2}},
	}
	r := summarize(parts)
	if r.Requests != 10 || r.Errors != 2 || r.FirstError != "HTTP 500" || !r.Exhausted {
		t.Errorf("requests %d, errors %d (%q), exhausted %v; want 10, 2 (HTTP 500), true", r.Requests, r.Errors, r.FirstError, r.Exhausted)
	}
	if r.Elapsed != 2*time.Second || r.RPS != 5 {
		t.Errorf("elapsed %s, %.1f req/s; want 2s, 5", r.Elapsed, r.RPS)
	}
	if r.CPUPerReq != 20*time.Millisecond {
		t.Errorf("CPU per request %s, want 20ms", r.CPUPerReq)
	}
	if r.P50 != time.Millisecond || r.P99 != 9*time.Millisecond {
		t.Errorf("p50 %s, p99 %s; want 1ms, 9ms", r.P50, r.P99)
	}
	if r.AppendsPerCommit != 10.0/3 || r.ReadsPerTransaction != 2 {
		t.Errorf("appends per commit %.3f, reads per transaction %.1f; want 3.333, 2", r.AppendsPerCommit, r.ReadsPerTransaction)
	}
	// A target without store counters (the baseline) has no ratios.
	if b := summarize([]part{{lat: ms(1), elapsed: time.Second}}); b.AppendsPerCommit != 0 || b.ReadsPerTransaction != 0 {
		t.Errorf("baseline: %.1f appends per commit, %.1f reads per transaction; want 0", b.AppendsPerCommit, b.ReadsPerTransaction)
	}
}

// A removal row gets more people before a slice that would run out: refill
// keeps the items not handed out yet, in order, before the new ones, also
// after workers took past the end, and leaves the old items (which the
// baseline's pool shares) as they were; expected scales the last slice's
// requests to the next slice's length, with a quarter to spare.
func TestRefillKeepsWhatIsLeftAndExpectedScalesTheRate(t *testing.T) {
	old := []work{{user: "a"}, {user: "b"}, {user: "c"}}
	p := &pool{items: old}
	base := &pool{items: old, cyclic: true}
	p.take()
	if got := p.remaining(); got != 2 {
		t.Fatalf("remaining %d, want 2", got)
	}
	p.refill([]work{{user: "d"}})
	var got []string
	for {
		w, ok := p.take()
		if !ok {
			break
		}
		got = append(got, w.user)
	}
	if strings.Join(got, "") != "bcd" {
		t.Errorf("after refill took %v, want b c d", got)
	}
	// Workers that found the pool empty took past its end.
	p.take()
	p.refill([]work{{user: "e"}, {user: "f"}})
	if w, ok := p.take(); !ok || w.user != "e" || p.remaining() != 1 {
		t.Errorf("after a refill of an emptied pool: %v %v, %d left; want e, 1 left", w, ok, p.remaining())
	}
	if w, _ := base.take(); w.user != "a" || len(base.items) != 3 || base.items[2].user != "c" {
		t.Errorf("the baseline's items changed: %v", base.items)
	}
	pt := part{lat: make([]time.Duration, 100), elapsed: 500 * time.Millisecond}
	if got := pt.expected(time.Second); got != 300 {
		t.Errorf("expected(1s) after 100 requests in 0.5s = %d, want 300 (200, and half as many again)", got)
	}
	if got := (part{}).expected(time.Second); got != 0 {
		t.Errorf("expected of an empty part = %d, want 0", got)
	}
}

// Before a removal row's first slice on factorgate there is no slice to
// take a rate from: need measures one with a short run of the row's own
// call, which takes from the pool but is not part of the row's figures;
// after it, the fastest rate of the slices so far; a read row's pool
// needs nothing.
func TestNeedCalibratesTheFirstSlice(t *testing.T) {
	self := &target{name: "self", base: "http://127.0.0.1:1", pid: os.Getpid()}
	var calls atomic.Int64
	fn := func(ctx context.Context, _ *target, _ work) error {
		calls.Add(1)
		time.Sleep(time.Millisecond)
		return nil
	}
	p := &pool{items: make([]work, 100000)}
	want, cal, err := need(context.Background(), self, fn, p, 2, 400*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := calls.Load()
	if n == 0 || int64(len(cal.lat)) != n || int(p.next.Load()) != int(n) {
		t.Fatalf("first slice: %d calls, %d measured, %d taken from the pool; want a run that measured and took each call", n, len(cal.lat), p.next.Load())
	}
	if cal.elapsed < 50*time.Millisecond || cal.elapsed > 400*time.Millisecond {
		t.Errorf("first slice: the calibration ran %s, want about 50ms (400ms/8)", cal.elapsed)
	}
	if want != cal.expected(400*time.Millisecond) || want <= int(n) {
		t.Errorf("first slice: need %d after %d calls in %s, want %d", want, n, cal.elapsed, cal.expected(400*time.Millisecond))
	}

	fast := part{lat: make([]time.Duration, 100), elapsed: 500 * time.Millisecond}
	slow := part{lat: make([]time.Duration, 50), elapsed: 500 * time.Millisecond}
	calls.Store(0)
	if want, cal, err := need(context.Background(), self, fn, p, 2, time.Second, []part{{}, fast, slow}); err != nil || want != 300 || calls.Load() != 0 || cal.lat != nil {
		t.Errorf("later slice: need %d (%v), %d calls, calibration %v; want 300 from the fastest slice so far, no calls", want, err, calls.Load(), cal.lat)
	}
	if want, _, err := need(context.Background(), self, fn, &pool{items: p.items, cyclic: true}, 2, time.Second, nil); err != nil || want != 0 || calls.Load() != 0 {
		t.Errorf("read row: need %d (%v), %d calls; want 0, none", want, err, calls.Load())
	}
}

// A removal row seeds what it is short of, and no less than minSeed
// people at a time; a read row's pool seeds nothing. A row's time is cut
// into as many slices on each side.
func TestTopUpSeedsWhatTheRowIsShortOf(t *testing.T) {
	var asked []int
	p := &pool{seed: func(_ context.Context, n int) ([]work, error) {
		asked = append(asked, n)
		return make([]work, n), nil
	}}
	o := op{name: "remove"}
	for _, step := range []struct{ take, want, asked, left int }{
		{0, 100, 100, 100}, // empty: all of it
		{40, 100, 40, 100}, // 60 left: the 40 short
		{0, 50, 0, 100},    // enough: nothing
	} {
		for range step.take {
			p.take()
		}
		asked = nil
		if _, err := topUp(context.Background(), o, p, step.want); err != nil {
			t.Fatal(err)
		}
		if got := sum(asked); got != step.asked || p.remaining() != step.left {
			t.Errorf("take %d, want %d: seeded %d, %d left; want %d seeded, %d left", step.take, step.want, got, p.remaining(), step.asked, step.left)
		}
	}
	asked = nil
	reads := &pool{items: make([]work, 3), cyclic: true, seed: p.seed}
	if _, err := topUp(context.Background(), o, reads, 10); err != nil || len(asked) != 0 {
		t.Errorf("a read row's pool: seeded %v (%v), want nothing", asked, err)
	}
	for _, c := range []struct{ items, perPerson, people int }{
		{1, 1, minSeed}, {1, 2, minSeed}, {minSeed + 1, 1, minSeed + 1}, {2*minSeed + 3, 2, minSeed + 2},
	} {
		if got := peopleFor(c.items, c.perPerson); got != c.people {
			t.Errorf("peopleFor(%d, %d) = %d, want %d", c.items, c.perPerson, got, c.people)
		}
	}
	if got := (settings{duration: 2 * time.Second, slices: 4}).slice(); got != 250*time.Millisecond {
		t.Errorf("a 2s row in 4 slices a side: slices of %s, want 250ms", got)
	}
}

func sum(v []int) int {
	n := 0
	for _, x := range v {
		n += x
	}
	return n
}
