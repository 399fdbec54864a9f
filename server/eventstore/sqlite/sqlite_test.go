package sqlite_test

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
	"github.com/factorgate/factorgate/server/eventstore/eventstoretest"
	"github.com/factorgate/factorgate/server/eventstore/sqlite"
)

func TestContract(t *testing.T) {
	for _, sync := range []sqlite.Synchronous{sqlite.SynchronousFull, sqlite.SynchronousNormal} {
		t.Run(string(sync), func(t *testing.T) {
			eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
				return mustOpen(t, filepath.Join(t.TempDir(), "factorgate.db"), sqlite.WithSynchronous(sync))
			})
		})
	}
}

// mustOpen opens the store at path; the caller closes it.
func mustOpen(t testing.TB, path string, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// rawQuery runs a single-value query on the file with a plain connection.
func rawQuery(t *testing.T, path, query string, dest any) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRowContext(t.Context(), query).Scan(dest); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "factorgate.db")
	s := mustOpen(t, path)
	ev := eventstore.Event{AggregateType: "user", AggregateID: "1", Sequence: 1, Type: "user.added", Payload: []byte(`{}`)}
	appended, err := s.Append(t.Context(), eventstore.Batch{
		Events: []eventstore.Event{ev},
		Claims: []eventstore.Claim{{Key: "k", Owner: "1"}},
		Put:    []eventstore.Doc{{Kind: "user", ID: "1", Owner: "org1", Data: []byte(`{}`)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var appliedAt int64
	rawQuery(t, path, "SELECT applied_at FROM schema_migrations WHERE version = 1", &appliedAt)

	s = mustOpen(t, path)
	defer s.Close()
	events, err := s.Load(t.Context(), "user", "1", 0)
	if err != nil || len(events) != 1 || events[0].Position != appended[0].Position {
		t.Fatalf("Load after reopen = %+v, %v", events, err)
	}
	if owner, err := s.ClaimOwner(t.Context(), "k"); err != nil || owner != "1" {
		t.Fatalf("ClaimOwner after reopen = %q, %v", owner, err)
	}
	if _, err := s.Get(t.Context(), "user", "1"); err != nil {
		t.Fatalf("Get after reopen: %v", err)
	}
	// Positions continue after the stored ones.
	ev.Sequence = 2
	next, err := s.Append(t.Context(), eventstore.Batch{Events: []eventstore.Event{ev}})
	if err != nil || next[0].Position <= appended[0].Position {
		t.Fatalf("Append after reopen = %+v, %v", next, err)
	}

	var n int
	rawQuery(t, path, "SELECT count(*) FROM schema_migrations", &n)
	var again int64
	rawQuery(t, path, "SELECT applied_at FROM schema_migrations WHERE version = 1", &again)
	if n != 1 || again != appliedAt {
		t.Fatalf("schema_migrations after reopen: %d rows, applied_at %d (was %d): migrations ran again", n, again, appliedAt)
	}
}

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "factorgate.db")
	s := mustOpen(t, path)
	defer s.Close()

	var mode string
	rawQuery(t, path, "PRAGMA journal_mode", &mode)
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("file mode = %v, want 0600", perm)
	}
	for _, table := range []string{"events", "claims", "docs", "schema_migrations"} {
		var n int
		rawQuery(t, path, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '"+table+"'", &n)
		if n != 1 {
			t.Errorf("table %s missing", table)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		path string
		opts []sqlite.Option
	}{
		{"empty path", "", nil},
		{"memory", ":memory:", nil},
		{"uri", "file:x.db", nil},
		{"missing dir", filepath.Join(dir, "nope", "x.db"), nil},
		{"bad synchronous", filepath.Join(dir, "x.db"), []sqlite.Option{sqlite.WithSynchronous("OFF")}},
		{"no readers", filepath.Join(dir, "x.db"), []sqlite.Option{sqlite.WithReaders(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqlite.Open(t.Context(), tc.path, tc.opts...)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
		})
	}
}

// TestPathEscaping opens a file whose name has characters that are special
// in SQLite URIs.
func TestPathEscaping(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a?b#c%20d")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "f?.db")
	s := mustOpen(t, path)
	if _, err := s.Append(t.Context(), eventstore.Batch{Claims: []eventstore.Claim{{Key: "k", Owner: "o"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at %s: %v", path, err)
	}
	s = mustOpen(t, path)
	defer s.Close()
	if _, err := s.ClaimOwner(t.Context(), "k"); err != nil {
		t.Fatalf("ClaimOwner after reopen: %v", err)
	}
}

func TestClosed(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "factorgate.db"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Append(t.Context(), eventstore.Batch{Claims: []eventstore.Claim{{Key: "k", Owner: "o"}}})
	if err == nil {
		t.Fatal("Append after Close succeeded")
	}
	if errors.Is(err, eventstore.ErrClaimed) || errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("Append after Close: %v", err)
	}
}

// Batches that arrive while the writer is busy commit as one group, and
// each keeps its own outcome: in one group, the winner of a sequence race
// commits, the losers answer ErrConflict, a batch whose claim is taken
// answers ErrClaimed and leaves none of its other writes, and the
// independent batches commit.
func TestGroupCommitKeepsEachBatchsOutcome(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "factorgate.db"))
	defer s.Close()
	ctx := t.Context()
	if _, err := s.Append(ctx, eventstore.Batch{Claims: []eventstore.Claim{{Key: "taken", Owner: "someone"}}}); err != nil {
		t.Fatal(err)
	}
	const racers, independent = 8, 12
	total := int64(racers + independent + 1)
	gathered := make(chan struct{})
	s.SetGroupHook(func() {
		select {
		case <-gathered:
			return
		default:
		}
		// Hold the first group until every other batch waits behind it.
		for s.InFlight() < total {
			time.Sleep(time.Millisecond)
		}
		close(gathered)
	})
	g0, b0 := s.GroupStats()
	ev := func(id string) eventstore.Event {
		return eventstore.Event{AggregateType: "user", AggregateID: id, Sequence: 1, Type: "t", Version: 1, CreatedAt: time.Now()}
	}
	var wg sync.WaitGroup
	errs := make([]error, total)
	for i := range total {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b eventstore.Batch
			switch {
			case i < racers:
				b = eventstore.Batch{Events: []eventstore.Event{ev("contested")},
					Put: []eventstore.Doc{{Kind: "user", ID: "contested", Data: []byte(fmt.Sprintf(`{"by":%d}`, i))}}}
			case i < racers+independent:
				id := fmt.Sprintf("own-%d", i)
				b = eventstore.Batch{Events: []eventstore.Event{ev(id)}, Put: []eventstore.Doc{{Kind: "user", ID: id, Data: []byte(`{}`)}}}
			default:
				b = eventstore.Batch{Events: []eventstore.Event{ev("loser")}, Claims: []eventstore.Claim{{Key: "taken", Owner: "me"}},
					Put: []eventstore.Doc{{Kind: "user", ID: "loser", Data: []byte(`{}`)}}}
			}
			_, errs[i] = s.Append(ctx, b)
		}()
	}
	wg.Wait()
	<-gathered
	won := 0
	for i, err := range errs {
		switch {
		case i < racers && err == nil:
			won++
		case i < racers && !errors.Is(err, eventstore.ErrConflict):
			t.Errorf("racer %d: %v, want nil or ErrConflict", i, err)
		case i >= racers && i < racers+independent && err != nil:
			t.Errorf("independent batch %d: %v", i, err)
		case i == racers+independent && !errors.Is(err, eventstore.ErrClaimed):
			t.Errorf("batch with a taken claim: %v, want ErrClaimed", err)
		}
	}
	if won != 1 {
		t.Errorf("%d racers won sequence 1 of one aggregate, want exactly 1", won)
	}
	if _, err := s.Get(ctx, "user", "loser"); !errors.Is(err, eventstore.ErrNotFound) {
		t.Errorf("the failed batch left its document: %v", err)
	}
	if evs, _ := s.Load(ctx, "user", "loser", 0); len(evs) != 0 {
		t.Errorf("the failed batch left %d events", len(evs))
	}
	for i := racers; i < racers+independent; i++ {
		if evs, err := s.Load(ctx, "user", fmt.Sprintf("own-%d", i), 0); err != nil || len(evs) != 1 {
			t.Errorf("own-%d: %d events, %v", i, len(evs), err)
		}
	}
	g1, b1 := s.GroupStats()
	if b1-b0 != total || g1-g0 > 2 {
		t.Errorf("%d batches in %d groups, want %d batches in at most 2 (the first, then the rest together)", b1-b0, g1-g0, total)
	}
}
