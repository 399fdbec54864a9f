package postgres_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/factorgate/factorgate/server/eventstore/eventstoretest"
	"github.com/factorgate/factorgate/server/eventstore/postgres/pgtest"
)

// BenchmarkAppend measures batches of one event plus one doc upsert, the
// shape of a typical command, one aggregate per goroutine, on a fresh
// schema of FACTORGATE_TEST_DB. It reports tx/s; compare with "Storage
// figures" in the toolchain notes. Appends commit one at a time (the
// position lock), so the parallel figure shows what pipelining and the
// pool buy, not parallel commits.
func BenchmarkAppend(b *testing.B) {
	b.Run("sequential", func(b *testing.B) {
		s := mustOpen(b, pgtest.SchemaURL(b))
		defer s.Close()
		var seq uint64
		for b.Loop() {
			seq++
			eventstoretest.AppendCommand(b, s, "0", seq)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
	})
	b.Run("parallel", func(b *testing.B) {
		s := mustOpen(b, pgtest.SchemaURL(b))
		defer s.Close()
		var ids atomic.Int64
		b.SetParallelism(8) // 8×GOMAXPROCS writers
		b.RunParallel(func(pb *testing.PB) {
			id := fmt.Sprint(ids.Add(1))
			var seq uint64
			for pb.Next() {
				seq++
				eventstoretest.AppendCommand(b, s, id, seq)
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
	})
}
