package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/factorgate/factorgate/server/eventstore"
	"github.com/factorgate/factorgate/server/eventstore/eventstoretest"
	"github.com/factorgate/factorgate/server/eventstore/sqlite"
)

// BenchmarkAppend measures batches of one event plus one doc upsert, the
// shape of a typical command, one aggregate per goroutine. It reports
// tx/s; compare with "Storage figures" in the toolchain notes.
func BenchmarkAppend(b *testing.B) {
	for _, sync := range []sqlite.Synchronous{sqlite.SynchronousFull, sqlite.SynchronousNormal} {
		b.Run("sequential/"+string(sync), func(b *testing.B) {
			s := mustOpen(b, filepath.Join(b.TempDir(), "bench.db"), sqlite.WithSynchronous(sync))
			defer s.Close()
			var seq uint64
			for b.Loop() {
				seq++
				eventstoretest.AppendCommand(b, s, "0", seq)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
		})
		b.Run("parallel/"+string(sync), func(b *testing.B) {
			s := mustOpen(b, filepath.Join(b.TempDir(), "bench.db"), sqlite.WithSynchronous(sync))
			defer s.Close()
			var ids atomic.Int64
			b.SetParallelism(4) // 4×GOMAXPROCS writers queue on the one writer connection
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
}

// BenchmarkGet measures the point reads every request makes (its token,
// organization, instance and person documents), with a request's
// cancellable context.
func BenchmarkGet(b *testing.B) {
	const docs = 1000
	s := storeOfPeople(b, docs)
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	i := 0
	for b.Loop() {
		i = (i + 7) % docs
		if _, err := s.Get(ctx, "user", fmt.Sprint(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetMany measures one request's reads in one call: four
// documents (its token, organization, instance and person), with a
// request's cancellable context.
func BenchmarkGetMany(b *testing.B) {
	const docs = 1000
	s := storeOfPeople(b, docs)
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	keys := make([]eventstore.DocKey, 4)
	i := 0
	for b.Loop() {
		for k := range keys {
			i = (i + 7) % docs
			keys[k] = eventstore.DocKey{Kind: "user", ID: fmt.Sprint(i)}
		}
		got, err := s.GetMany(ctx, keys)
		if err != nil {
			b.Fatal(err)
		}
		if got[3].ID == "" {
			b.Fatal("a stored document was not found")
		}
	}
}

// storeOfPeople opens a store in b's temporary directory holding the
// documents of n people, "0" to n-1; it is closed when b ends.
func storeOfPeople(b *testing.B, n int) *sqlite.Store {
	s := mustOpen(b, filepath.Join(b.TempDir(), "bench.db"))
	b.Cleanup(func() { _ = s.Close() })
	for i := range n {
		eventstoretest.AppendCommand(b, s, fmt.Sprint(i), 1)
	}
	return s
}
