package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/factorgate/factorgate/server/eventstore"
	"github.com/factorgate/factorgate/server/eventstore/eventstoretest"
	"github.com/factorgate/factorgate/server/eventstore/postgres"
	"github.com/factorgate/factorgate/server/eventstore/postgres/pgtest"
)

// TestContract runs the store contract suite, unchanged, each subtest on a
// fresh schema of the database named by FACTORGATE_TEST_DB.
func TestContract(t *testing.T) {
	pgtest.BaseURL(t) // skips (fails on CI) without the variable
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
		return mustOpen(t, pgtest.SchemaURL(t))
	})
}

// Batches that arrive while the committer is busy go in one transaction,
// and each keeps its own outcome (eventstoretest.GroupCommit): a group
// that fails on a rule is sent again batch by batch.
func TestGroupCommitKeepsEachBatchsOutcome(t *testing.T) {
	s := mustOpen(t, pgtest.SchemaURL(t))
	defer s.Close()
	eventstoretest.GroupCommit(t, s)
	// Only the group with the failing batches was sent again; the one
	// without a failure committed as one transaction.
	if n := s.Resent(); n != 1 {
		t.Errorf("%d groups sent again batch by batch, want 1", n)
	}
}

func mustOpen(t testing.TB, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// query runs a single-value query on url with a plain connection.
func query(t *testing.T, url, sql string, dest any) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(t.Context(), sql).Scan(dest); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestConcurrentOpen opens one fresh schema from many goroutines at once,
// as replicas starting together do: every open succeeds, the migrations
// run once, and all stores work on the same tables.
func TestConcurrentOpen(t *testing.T) {
	url := pgtest.SchemaURL(t)
	const openers = 8
	stores := make([]*postgres.Store, openers)
	errs := make([]error, openers)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range openers {
		done.Go(func() {
			start.Wait()
			stores[i], errs[i] = postgres.Open(t.Context(), url)
		})
	}
	start.Done()
	done.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("opener %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	var n int
	query(t, url, "SELECT count(*) FROM schema_migrations", &n)
	if want := postgres.MigrationCount(t); n != want {
		t.Fatalf("schema_migrations has %d rows, want %d (migrations ran more than once)", n, want)
	}
	// One store appends, every other one sees it.
	if _, err := stores[0].Append(t.Context(), eventstore.Batch{
		Events: []eventstore.Event{{AggregateType: "user", AggregateID: "1", Sequence: 1, Type: "user.added"}},
	}); err != nil {
		t.Fatal(err)
	}
	for i, s := range stores {
		if ev, err := s.Load(t.Context(), "user", "1", 0); err != nil || len(ev) != 1 {
			t.Fatalf("store %d: Load = %v, %v", i, ev, err)
		}
	}
}

// TestReopen: a second open finds the schema applied and continues the
// positions.
func TestReopen(t *testing.T) {
	url := pgtest.SchemaURL(t)
	s := mustOpen(t, url)
	ev := eventstore.Event{AggregateType: "user", AggregateID: "1", Sequence: 1, Type: "user.added", Payload: []byte(`{}`)}
	first, err := s.Append(t.Context(), eventstore.Batch{Events: []eventstore.Event{ev}})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = mustOpen(t, url)
	defer s.Close()
	ev.Sequence = 2
	next, err := s.Append(t.Context(), eventstore.Batch{Events: []eventstore.Event{ev}})
	if err != nil || next[0].Position <= first[0].Position {
		t.Fatalf("Append after reopen = %+v, %v", next, err)
	}
	var n int
	query(t, url, "SELECT count(*) FROM schema_migrations", &n)
	if want := postgres.MigrationCount(t); n != want {
		t.Fatalf("schema_migrations has %d rows after reopen, want %d", n, want)
	}
}

// TestTwoStoresRace: two stores (two pools, as two replicas have) race to
// append the next event of one aggregate: exactly one wins, the others get
// ErrConflict, and the log has no gap and no repeat.
func TestTwoStoresRace(t *testing.T) {
	url := pgtest.SchemaURL(t)
	a, b := mustOpen(t, url), mustOpen(t, url)
	defer a.Close()
	defer b.Close()
	for seq := uint64(1); seq <= 20; seq++ {
		var wins, conflicts int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 6 {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				_, err := s.Append(t.Context(), eventstore.Batch{Events: []eventstore.Event{{
					AggregateType: "user", AggregateID: "1", Sequence: seq, Type: fmt.Sprintf("racer.%d", i)}}})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, eventstore.ErrConflict):
					conflicts++
				default:
					t.Errorf("racer %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if wins != 1 || conflicts != 5 {
			t.Fatalf("sequence %d: %d wins, %d conflicts; want 1 and 5", seq, wins, conflicts)
		}
	}
	events, err := b.Load(t.Context(), "user", "1", 0)
	if err != nil || len(events) != 20 {
		t.Fatalf("Load = %d events, %v", len(events), err)
	}
	for i, e := range events {
		if e.Sequence != uint64(i+1) || (i > 0 && e.Position <= events[i-1].Position) {
			t.Fatalf("event %d: sequence %d position %d", i, e.Sequence, e.Position)
		}
	}
}

// TestUnstorableText: strings PostgreSQL's text cannot hold (a NUL, invalid
// UTF-8) are refused as invalid on Append and simply not found on reads,
// never a server error.
func TestUnstorableText(t *testing.T) {
	s := mustOpen(t, pgtest.SchemaURL(t))
	defer s.Close()
	for _, bad := range []string{"a\x00b", "\xff"} {
		_, err := s.Append(t.Context(), eventstore.Batch{Claims: []eventstore.Claim{{Key: bad, Owner: "o"}}})
		if !errors.Is(err, eventstore.ErrInvalid) {
			t.Errorf("Append claim %q: %v, want ErrInvalid", bad, err)
		}
		if _, err := s.Get(t.Context(), "user", bad); !errors.Is(err, eventstore.ErrNotFound) {
			t.Errorf("Get %q: %v, want ErrNotFound", bad, err)
		}
		if _, err := s.ClaimOwner(t.Context(), bad); !errors.Is(err, eventstore.ErrNotFound) {
			t.Errorf("ClaimOwner %q: %v, want ErrNotFound", bad, err)
		}
		if ev, err := s.Load(t.Context(), "user", bad, 0); err != nil || ev != nil {
			t.Errorf("Load %q: %v, %v", bad, ev, err)
		}
		if docs, err := s.List(t.Context(), "user", bad, "", 0); err != nil || docs != nil {
			t.Errorf("List %q: %v, %v", bad, docs, err)
		}
	}
}

// TestUnreachable: a database that refuses connections is ErrUnavailable
// (port 1, where nobody listens). It needs no PostgreSQL.
func TestUnreachable(t *testing.T) {
	_, err := postgres.Open(t.Context(), "postgres://postgres:s3cret-pw@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2")
	if !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("Open of a closed port: %v, want ErrUnavailable", err)
	}
	if strings.Contains(fmt.Sprint(err), "s3cret-pw") {
		t.Fatalf("error shows the password: %v", err)
	}
	// A URL pgx cannot parse is refused without echoing it.
	_, err = postgres.Open(t.Context(), "postgres://postgres:s3cret-pw@127.0.0.1:99999999/x")
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("Open of an unparsable URL: %v", err)
	}
}

// TestSerializableDefaultIsolation: a database (or role) whose default
// isolation is SERIALIZABLE makes concurrent transactions that advance the
// one position row fail with serialization errors. The store runs its
// transactions at READ COMMITTED, the level its design assumes, whatever
// the database's default: appends of two stores to distinct new aggregates
// never conflict.
func TestSerializableDefaultIsolation(t *testing.T) {
	url := pgtest.SchemaURL(t) + "&default_transaction_isolation=serializable"
	a, b := mustOpen(t, url), mustOpen(t, url)
	defer a.Close()
	defer b.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []error
	for i := range 40 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			_, err := s.Append(t.Context(), eventstore.Batch{Events: []eventstore.Event{{
				AggregateType: "user", AggregateID: fmt.Sprintf("serial-%d", i), Sequence: 1, Type: "t", Version: 1}}})
			if err != nil {
				mu.Lock()
				failed = append(failed, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(failed) != 0 {
		t.Fatalf("%d of 40 appends to distinct new aggregates failed, first: %v", len(failed), failed[0])
	}
}
