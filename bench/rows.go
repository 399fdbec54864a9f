package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/factorgate/factorgate/server/mfa"
)

// row is one line of the table: an operation at one concurrency, measured
// on factorgate and, right before, on the baseline.
type row struct {
	Op          string `json:"op"`
	Transport   string `json:"transport"`
	Concurrency int    `json:"concurrency"`
	Factorgate  result `json:"factorgate"`
	Baseline    result `json:"baseline"`
	Ratio       float64
	Seeding     time.Duration `json:"seeding_ns"`
}

// u2fPerUser is how many security keys each seeded person holds besides
// the TOTP app: the U2F rows remove keys, the TOTP rows the app.
const u2fPerUser = 2

// removalItems lists the factors a removal row removes: each person's TOTP
// app, or every person's first security key, then every second one. A
// person's keys side by side would have concurrent workers remove two keys
// of one person at once, and one of them would lose the race and run again
// (a retry, not a removal's cost).
func removalItems(users []mfa.SeededUser, kind string) []work {
	var items []work
	if kind != "u2f" {
		for _, u := range users {
			items = append(items, work{user: u.ID, factor: u.TOTPID})
		}
		return items
	}
	for i := range u2fPerUser {
		for _, u := range users {
			items = append(items, work{user: u.ID, factor: u.U2FIDs[i]})
		}
	}
	return items
}

func operations(b *bench, conc int) []op {
	// A removal row removes factors of people seeded for it alone, as
	// many as it takes (topUp); the read row cycles over the people seeded
	// before the rows (b.readers).
	removalPool := func(kind string) func(ctx context.Context) (*pool, error) {
		perPerson := 1
		if kind == "u2f" {
			perPerson = u2fPerUser
		}
		seed := func(ctx context.Context, items int) ([]work, error) {
			users, err := b.seed(ctx, peopleFor(items, perPerson), u2fPerUser)
			if err != nil {
				return nil, err
			}
			return removalItems(users, kind), nil
		}
		return func(ctx context.Context) (*pool, error) { return &pool{seed: seed}, nil }
	}
	readPool := func(ctx context.Context) (*pool, error) {
		b.readers.next.Store(0)
		return b.readers, nil
	}
	return []op{
		{name: "remove U2F (management.v1 RemoveHumanAuthFactorU2F)", transport: "gRPC", call: grpcRemoveU2F, pool: removalPool("u2f")},
		{name: "remove TOTP (user.v2 RemoveTOTP)", transport: "gRPC", call: grpcRemoveTOTP, pool: removalPool("totp")},
		{name: "remove TOTP (user.v2 RemoveTOTP)", transport: "gRPC 1-port", call: onePortRemoveTOTP, pool: removalPool("totp")},
		{name: "remove TOTP (DELETE /v2/users/{id}/totp)", transport: "REST", call: restCall("DELETE", "/v2/users/%s/totp%.0s", admin)(conc), pool: removalPool("totp")},
		{name: "remove TOTP (OneLogin DELETE /api/1/users/{id}/otp_devices/{id})", transport: "REST", call: restCall("DELETE", "/api/1/users/%s/otp_devices/%s", oneLogin)(conc), pool: removalPool("totp")},
		{name: "remove TOTP (user.v2 RemoveTOTP)", transport: "gRPC-Web", call: grpcWebRemoveTOTP(conc), pool: removalPool("totp")},
		{name: "read (user.v2 ListAuthenticationFactors)", transport: "gRPC", call: grpcListFactors, pool: readPool},
	}
}

// wants reports whether BENCH_ROWS selects the row (all rows when unset).
func (s settings) wants(o op) bool {
	if len(s.rows) == 0 {
		return true
	}
	name := strings.ToLower(o.transport + " " + o.name)
	for _, w := range s.rows {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// interleave orders a row's slices: n on the baseline and n on factorgate
// (true), in pairs of baseline-factorgate and factorgate-baseline in turn
// (for 2: baseline, factorgate, factorgate, baseline), so that a machine
// that grows faster or slower during the row weighs on both sides alike.
func interleave(n int) []bool {
	out := make([]bool, 0, 2*n)
	for i := range n {
		out = append(out, i%2 == 1, i%2 == 0)
	}
	return out
}

func admin(t *target) string    { return t.token }
func oneLogin(t *target) string { return t.oneLogin }

func runRows(ctx context.Context) error {
	set, err := load()
	if err != nil {
		return err
	}
	started := time.Now()
	b, err := start(ctx, set)
	if err != nil {
		return err
	}
	defer b.close()
	fmt.Printf("factorgate bench: %s; %d people seeded before the rows, and each removal row's own as it goes; %s a row, %s on each side; store %s\n",
		machine(), set.users, set.duration, set.duration/2, storeName(set.db))
	users, err := b.seed(ctx, set.users, u2fPerUser)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	b.readers = &pool{cyclic: true}
	for _, u := range users {
		b.readers.items = append(b.readers.items, work{user: u.ID})
	}
	var rows []row
	for _, conc := range set.concurrency {
		for _, o := range operations(b, conc) {
			if !set.wants(o) {
				continue
			}
			r, err := runRow(ctx, b, set, o, conc)
			if err != nil {
				return err
			}
			rows = append(rows, r)
			fmt.Println(line(r))
		}
	}
	report := struct {
		Machine  string        `json:"machine"`
		Date     time.Time     `json:"date"`
		Store    string        `json:"store"`
		Users    int           `json:"users_before_rows"`
		Duration time.Duration `json:"row_duration_ns"`
		Total    time.Duration `json:"total_ns"`
		Seeding  time.Duration `json:"seeding_ns"`
		Rows     []row         `json:"rows"`
	}{machine(), time.Now().UTC(), storeName(set.db), set.users, set.duration, time.Since(started), b.seeding, rows}
	md := markdown(report.Machine, report.Store, rows)
	fmt.Print("\n" + md)
	fmt.Printf("total %s, of which seeding %s (%d people)\n", report.Total.Round(time.Second), b.seeding.Round(100*time.Millisecond), b.people)
	if err := os.MkdirAll(set.out, 0o755); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(set.out, "latest.json"), report); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(set.out, "latest.md"), []byte(md), 0o644)
}

// minSeed is the fewest people a removal row seeds at a time: Seed's
// batch, and more than a row has workers, so that removalItems keeps a
// person's keys apart across a refill too.
const minSeed = 500

// peopleFor is how many people a removal row seeds for items more
// removals, perPerson removals a person: at least minSeed.
func peopleFor(items, perPerson int) int { return max(minSeed, (items+perPerson-1)/perPerson) }

// calibrationRate is the removal rate (per second) that the people seeded
// for a row's calibration run (need) are sized for; a faster row runs
// out, which only shortens that run.
const calibrationRate = 20000

// slice is how long one stretch of a row on one side lasts: a row's
// BENCH_DURATION is cut into as many stretches on the baseline as on
// factorgate (interleave).
func (s settings) slice() time.Duration { return s.duration / time.Duration(2*s.slices) }

// runRow measures one operation at one concurrency on both servers, in
// slices (interleave).
func runRow(ctx context.Context, b *bench, set settings, o op, conc int) (row, error) {
	r := row{Op: o.name, Transport: o.transport, Concurrency: conc}
	p, err := o.pool(ctx)
	if err != nil {
		return r, fmt.Errorf("%s: seed: %w", o.name, err)
	}
	slice := set.slice()
	seeding, err := topUp(ctx, o, p, int(slice.Seconds()/8*calibrationRate))
	if err != nil {
		return r, err
	}
	r.Seeding = seeding
	var baseParts, fgParts []part
	var calibration part // the unrecorded run before the first factorgate slice (need)
	for _, fg := range interleave(set.slices) {
		// The baseline answers without doing anything: its pool is a
		// copy of the row's items that is never exhausted.
		t, pl, parts := b.nop, &pool{items: p.items, cyclic: true}, &baseParts
		if fg {
			t, pl, parts = b.fg, p, &fgParts
			want, cal, err := need(ctx, b.fg, o.call, p, conc, slice, fgParts)
			if err != nil {
				return r, err
			}
			calibration.errs += cal.errs
			if calibration.first == "" {
				calibration.first = cal.first
			}
			if seeding, err = topUp(ctx, o, p, want); err != nil {
				return r, err
			}
			r.Seeding += seeding
		}
		pt, err := drive(ctx, t, o.call, pl, conc, slice)
		if err != nil {
			return r, err
		}
		*parts = append(*parts, pt)
	}
	r.Baseline, r.Factorgate = summarize(baseParts), summarize(fgParts)
	// A failure in the calibration run is a failure of the row as well.
	r.Factorgate.Errors += calibration.errs
	if r.Factorgate.FirstError == "" {
		r.Factorgate.FirstError = calibration.first
	}
	if r.Baseline.RPS > 0 {
		r.Ratio = r.Factorgate.RPS / r.Baseline.RPS
	}
	return r, nil
}

// need is how many items a removal row's next slice of length d on
// factorgate is likely to take, with some to spare (expected): at the
// fastest rate of the row's slices so far; before the first slice, at the
// rate of a short run (d/8) that is not part of the row's figures, which
// it returns (its errors still count). Without it the first slice, with no rate to go by,
// ran out of people on a fast machine. A read row's pool (cyclic) needs
// none.
func need(ctx context.Context, t *target, fn call, p *pool, conc int, d time.Duration, done []part) (int, part, error) {
	switch {
	case p.cyclic:
		return 0, part{}, nil
	case len(done) > 0:
		most := 0
		for _, pt := range done {
			most = max(most, pt.expected(d))
		}
		return most, part{}, nil
	}
	cal, err := drive(ctx, t, fn, p, conc, d/8)
	if err != nil {
		return 0, part{}, err
	}
	return cal.expected(d), cal, nil
}

// topUp seeds fresh people for a removal row's pool p, outside the
// measurement, until it holds want items not handed out yet (the next
// slice's need, see need; at least minSeed people at a time), and returns
// the time it took. A read row's pool (cyclic) never runs out.
func topUp(ctx context.Context, o op, p *pool, want int) (time.Duration, error) {
	short := want - p.remaining()
	if p.cyclic || p.seed == nil || short <= 0 {
		return 0, nil
	}
	t0 := time.Now()
	more, err := p.seed(ctx, short)
	if err != nil {
		return 0, fmt.Errorf("%s: seed: %w", o.name, err)
	}
	p.refill(more)
	return time.Since(t0), nil
}

func storeName(db string) string {
	if db == "" {
		return "SQLite (synchronous=FULL, WAL)"
	}
	if i := strings.Index(db, "://"); i > 0 {
		return db[:i]
	}
	return db
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

func line(r row) string {
	ex := ""
	if r.Factorgate.Exhausted {
		ex = fmt.Sprintf(" (people ran out in a slice; %s measured)", r.Factorgate.Elapsed.Round(100*time.Millisecond))
	}
	errs := ""
	if r.Factorgate.Errors > 0 {
		errs = " first error: " + r.Factorgate.FirstError
	}
	return fmt.Sprintf("%-55s %-8s c=%-3d %8.0f req/s  p50 %s ms  p99 %s ms  errors %d  cpu %s ms/req  baseline %8.0f req/s  ratio %.2f  appends/commit %s  reads/txn %s%s%s",
		r.Op, r.Transport, r.Concurrency, r.Factorgate.RPS, ms(r.Factorgate.P50), ms(r.Factorgate.P99), r.Factorgate.Errors,
		fmt.Sprintf("%.3f", float64(r.Factorgate.CPUPerReq)/float64(time.Millisecond)), r.Baseline.RPS, r.Ratio,
		mean(r.Factorgate.AppendsPerCommit), mean(r.Factorgate.ReadsPerTransaction), ex, errs)
}

// mean formats a mean over a row, "–" when there is none.
func mean(v float64) string {
	if v > 0 {
		return fmt.Sprintf("%.1f", v)
	}
	return "–"
}

func markdown(machine, store string, rows []row) string {
	var s strings.Builder
	fmt.Fprintf(&s, "Machine: %s. Store: %s.\n\n", machine, store)
	s.WriteString("| operation | transport | conc | req/s | p50 ms | p99 ms | errors | server CPU ms/req | baseline req/s | baseline CPU ms/req | ratio | appends/commit | reads/txn |\n")
	s.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&s, "| %s | %s | %d | %.0f | %s | %s | %d | %.3f | %.0f | %.3f | %.2f | %s | %s |\n", r.Op, r.Transport, r.Concurrency,
			r.Factorgate.RPS, ms(r.Factorgate.P50), ms(r.Factorgate.P99), r.Factorgate.Errors,
			float64(r.Factorgate.CPUPerReq)/float64(time.Millisecond), r.Baseline.RPS,
			float64(r.Baseline.CPUPerReq)/float64(time.Millisecond), r.Ratio,
			mean(r.Factorgate.AppendsPerCommit), mean(r.Factorgate.ReadsPerTransaction))
	}
	return s.String()
}
