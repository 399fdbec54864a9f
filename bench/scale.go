package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// scalePoint is the removal latency and server memory at one data size.
type scalePoint struct {
	Factors  int           `json:"factors"`
	Seeding  time.Duration `json:"seeding_ns"`
	Removals result        `json:"removals"`
	RSS      int64         `json:"rss_bytes"`
	PeakRSS  int64         `json:"peak_rss_bytes"`
}

// scaleProbe is how many removals each size measures, at concurrency 16.
const scaleProbe = 3000

// runScale grows the data to each size in BENCH_SCALE_SIZES (factors: each
// seeded person holds a TOTP app and three keys) and measures native gRPC
// removals of keys at each, to show the cost does not grow with the data.
func runScale(ctx context.Context) error {
	set, err := load()
	if err != nil {
		return err
	}
	b, err := start(ctx, set)
	if err != nil {
		return err
	}
	defer b.close()
	fmt.Printf("factorgate bench scale: %s; store %s\n", machine(), storeName(set.db))
	const perUser = 4 // TOTP + 3 keys
	var points []scalePoint
	have := 0
	for _, size := range set.scaleSizes {
		pt := scalePoint{Factors: size}
		t0 := time.Now()
		var probe []work
		for have < size {
			n := min((size-have+perUser-1)/perUser, 20000)
			users, err := b.seed(ctx, n, perUser-1)
			if err != nil {
				return err
			}
			have += n * perUser
			for _, u := range users {
				if len(probe) < scaleProbe {
					probe = append(probe, work{user: u.ID, factor: u.U2FIDs[0]})
				}
			}
		}
		pt.Seeding = time.Since(t0)
		if len(probe) < scaleProbe {
			// Growing from the previous size added too few people: take
			// more keys for the probe from a small extra batch.
			users, err := b.seed(ctx, (scaleProbe-len(probe)+perUser-2)/(perUser-1), perUser-1)
			if err != nil {
				return err
			}
			for _, u := range users {
				for _, k := range u.U2FIDs {
					probe = append(probe, work{user: u.ID, factor: k})
				}
			}
			have += len(users) * perUser
		}
		p := &pool{items: probe[:scaleProbe]}
		removals, err := drive(ctx, b.fg, grpcRemoveU2F, p, 16, 5*time.Minute)
		if err != nil {
			return err
		}
		pt.Removals = summarize([]part{removals})
		if pt.RSS, pt.PeakRSS, err = memory(b.fg.pid); err != nil {
			return err
		}
		points = append(points, pt)
		fmt.Printf("%9d factors: seeding %s; %d removals: p50 %s ms, p99 %s ms, %.0f req/s, errors %d; server RSS %d MiB, peak %d MiB\n",
			size, pt.Seeding.Round(time.Millisecond), pt.Removals.Requests, ms(pt.Removals.P50), ms(pt.Removals.P99),
			pt.Removals.RPS, pt.Removals.Errors, pt.RSS>>20, pt.PeakRSS>>20)
	}
	var s strings.Builder
	fmt.Fprintf(&s, "Machine: %s. Store: %s. %d native gRPC key removals per size at concurrency 16.\n\n", machine(), storeName(set.db), scaleProbe)
	s.WriteString("| factors | p50 ms | p99 ms | req/s | errors | server RSS MiB | peak RSS MiB | p50 vs first |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, pt := range points {
		fmt.Fprintf(&s, "| %d | %s | %s | %.0f | %d | %d | %d | %.2f× |\n", pt.Factors, ms(pt.Removals.P50), ms(pt.Removals.P99),
			pt.Removals.RPS, pt.Removals.Errors, pt.RSS>>20, pt.PeakRSS>>20, float64(pt.Removals.P50)/float64(points[0].Removals.P50))
	}
	fmt.Print("\n" + s.String())
	if err := os.MkdirAll(set.out, 0o755); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(set.out, "scale.json"), points); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(set.out, "scale.md"), []byte(s.String()), 0o644)
}
