package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	if want := sqlite.MigrationCount(t); n != want || again != appliedAt {
		t.Fatalf("schema_migrations after reopen: %d rows (want %d), applied_at %d (was %d): migrations ran again", n, want, again, appliedAt)
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
// each keeps its own outcome (eventstoretest.GroupCommit).
func TestGroupCommitKeepsEachBatchsOutcome(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "factorgate.db"))
	defer s.Close()
	eventstoretest.GroupCommit(t, s)
}

// A group is written without savepoints; only when one of its batches
// fails is it written again with a savepoint for each batch, so that the
// others still commit and the failing one leaves nothing. A batch that
// fails alone is answered at once.
func TestAGroupIsWrittenAgainWithSavepointsOnlyWhenABatchFails(t *testing.T) {
	ctx := t.Context()
	s := mustOpen(t, filepath.Join(t.TempDir(), "factorgate.db"))
	defer s.Close()
	batch := func(id string, seq uint64, data string) eventstore.Batch {
		return eventstore.Batch{
			Events: []eventstore.Event{{AggregateType: "user", AggregateID: id, Sequence: seq, Type: "t", Version: 1, CreatedAt: time.Now()}},
			Put:    []eventstore.Doc{{Kind: "user", ID: id, Owner: "org", Data: []byte(data)}}}
	}

	const n = 12
	_, errs := eventstoretest.Gathered(t, s, n, func(i int) eventstore.Batch {
		return batch(fmt.Sprintf("fine-%d", i), 1, `{}`)
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	if got := s.GroupsRedone(); got != 0 {
		t.Fatalf("%d groups written again without a failing batch, want 0", got)
	}

	// Batch 0 and 1 append sequence 1 of one aggregate: whichever is
	// written second fails, in the same group as the others.
	_, errs = eventstoretest.Gathered(t, s, n, func(i int) eventstore.Batch {
		if i < 2 {
			return batch("contested", 1, fmt.Sprintf(`{"by":%d}`, i))
		}
		return batch(fmt.Sprintf("other-%d", i), 1, `{}`)
	})
	groups, _ := s.GroupStats()
	if got := s.GroupsRedone(); got != 1 {
		t.Errorf("%d groups written again, want 1 (the group with the losing batch)", got)
	}
	winner := -1
	for i, err := range errs {
		switch {
		case i < 2 && err == nil:
			winner = i
		case i < 2 && !errors.Is(err, eventstore.ErrConflict):
			t.Errorf("batch %d: %v, want nil or ErrConflict", i, err)
		case i >= 2 && err != nil:
			t.Errorf("batch %d: %v", i, err)
		}
	}
	if errs[0] == nil && errs[1] == nil || winner < 0 {
		t.Fatalf("outcomes of the contested batches: %v, %v; want one winner", errs[0], errs[1])
	}
	if d, err := s.Get(ctx, "user", "contested"); err != nil || string(d.Data) != fmt.Sprintf(`{"by":%d}`, winner) {
		t.Errorf("contested document %q, %v; want the winner's", d.Data, err)
	}
	if evs, err := s.Load(ctx, "user", "contested", 0); err != nil || len(evs) != 1 {
		t.Errorf("contested: %d events, %v; want 1", len(evs), err)
	}
	for i := 2; i < n; i++ {
		id := fmt.Sprintf("other-%d", i)
		if evs, err := s.Load(ctx, "user", id, 0); err != nil || len(evs) != 1 {
			t.Errorf("%s: %d events, %v; want 1", id, len(evs), err)
		}
	}

	// Alone in its group, a failing batch answers its error without a
	// second try.
	if _, err := s.Append(ctx, batch("contested", 1, `{}`)); !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("a second sequence 1: %v, want ErrConflict", err)
	}
	if g, _ := s.GroupStats(); g != groups+1 {
		t.Errorf("%d groups for one Append, want 1", g-groups)
	}
	if got := s.GroupsRedone(); got != 1 {
		t.Errorf("%d groups written again after a lone failing batch, want still 1", got)
	}
}

// A put that keeps a document's owner writes the page of the document's row
// only; its entry in the owner index (kind, owner, id) stays as it was. The
// write-ahead log shows it: one frame for the commit, where rewriting the
// index entry as well made two.
func TestPutKeepingItsOwnerLeavesTheOwnerIndexAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "factorgate.db")
	s := mustOpen(t, path)
	defer s.Close()
	put := func(owner, data string) {
		t.Helper()
		if _, err := s.Append(t.Context(), eventstore.Batch{Put: []eventstore.Doc{{Kind: "user", ID: "1", Owner: owner, Data: []byte(data)}}}); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkpoint := func(mode string) (frames int) {
		t.Helper()
		var busy, copied int
		if err := db.QueryRowContext(t.Context(), "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied); err != nil || busy != 0 {
			t.Fatalf("checkpoint: busy %d, %v", busy, err)
		}
		return frames
	}
	framesOf := func(change func()) int {
		t.Helper()
		checkpoint("TRUNCATE") // an empty log
		change()
		return checkpoint("PASSIVE")
	}
	put("org1", `{"name":"alice"}`)
	if n := framesOf(func() { put("org1", `{"name":"bob"}`) }); n != 1 {
		t.Errorf("a put keeping the owner wrote %d pages, want 1", n)
	}
	// A put that changes the owner moves the index entry too.
	if n := framesOf(func() { put("org2", `{"name":"carol"}`) }); n != 2 {
		t.Errorf("a put changing the owner wrote %d pages, want 2", n)
	}
	if got, err := s.List(t.Context(), "user", "org2", "", 0); err != nil || len(got) != 1 || string(got[0].Data) != `{"name":"carol"}` {
		t.Errorf("List(user, org2) = %v, %v; want the moved document", got, err)
	}
}

// Reads that arrive while every reader connection is busy wait, and the
// next holder of a connection serves them all in one read transaction;
// each gets its own documents, including a write acknowledged before it
// was asked for.
func TestReadsQueuedForAConnectionShareOneReadTransaction(t *testing.T) {
	ctx := t.Context()
	s := mustOpen(t, filepath.Join(t.TempDir(), "reads.db"), sqlite.WithReaders(1))
	defer s.Close()
	const readers = 16
	put := func(i int, data string) {
		t.Helper()
		if _, err := s.Append(ctx, eventstore.Batch{Put: []eventstore.Doc{{Kind: "user", ID: fmt.Sprint(i), Owner: "o", Data: []byte(data)}}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range readers {
		put(i, "before")
	}
	release := s.HoldReader() // the only connection, busy
	for i := range readers {
		put(i, fmt.Sprintf(`"%d"`, i)) // acknowledged before the reads are asked for
	}
	tx0, r0 := s.ReadStats()
	errs := make(chan error, readers)
	for i := range readers {
		go func() {
			keys := []eventstore.DocKey{{Kind: "user", ID: fmt.Sprint(i)}, {Kind: "user", ID: "none"}}
			var docs []eventstore.Doc
			var err error
			if i%2 == 0 {
				docs, err = s.GetMany(ctx, keys)
			} else {
				var d eventstore.Doc
				d, err = s.Get(ctx, keys[0].Kind, keys[0].ID)
				docs = []eventstore.Doc{d, {}}
			}
			switch {
			case err != nil:
			case string(docs[0].Data) != fmt.Sprintf(`"%d"`, i) || docs[0].ID != fmt.Sprint(i) || docs[1].Kind != "":
				err = fmt.Errorf("read %d: %+v", i, docs)
			}
			errs <- err
		}()
	}
	for s.QueuedReads() < readers {
		time.Sleep(time.Millisecond)
	}
	release()
	for range readers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	tx1, r1 := s.ReadStats()
	if tx1-tx0 != 1 || r1-r0 != readers {
		t.Fatalf("%d reads in %d read transactions, want %d in 1", r1-r0, tx1-tx0, readers)
	}
}

// Reads wait for the connection that is reading, though others are free,
// until SpillQueue of them wait; the next read takes a free connection and
// reads every waiting read with its own, in one read transaction, while
// the first connection is still held.
func TestReadsWaitForTheReadingConnectionUntilTheQueueIsLong(t *testing.T) {
	ctx := t.Context()
	s := mustOpen(t, filepath.Join(t.TempDir(), "spill.db"), sqlite.WithReaders(4))
	defer s.Close()
	if _, err := s.Append(ctx, eventstore.Batch{Put: []eventstore.Doc{{Kind: "user", ID: "1", Owner: "o", Data: []byte(`"x"`)}}}); err != nil {
		t.Fatal(err)
	}
	release := s.HoldReader() // one connection reading; three free
	defer func() {
		if release != nil {
			release()
		}
	}()
	errs := make(chan error, sqlite.SpillQueue+1)
	read := func() {
		d, err := s.Get(ctx, "user", "1")
		if err == nil && string(d.Data) != `"x"` {
			err = fmt.Errorf("read %q", d.Data)
		}
		errs <- err
	}
	tx0, r0 := s.ReadStats()
	for range sqlite.SpillQueue {
		go read()
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.QueuedReads() < sqlite.SpillQueue {
		if time.Now().After(deadline) {
			t.Fatalf("%d reads wait, want %d: a read took a free connection while one was reading", s.QueuedReads(), sqlite.SpillQueue)
		}
		time.Sleep(time.Millisecond)
	}
	if tx, _ := s.ReadStats(); tx != tx0 {
		t.Fatalf("%d read transactions ran while %d reads were to wait", tx-tx0, sqlite.SpillQueue)
	}
	go read() // the queue is long: this one reads, with all of them
	for range sqlite.SpillQueue + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	tx1, r1 := s.ReadStats()
	if tx1-tx0 != 1 || r1-r0 != sqlite.SpillQueue+1 {
		t.Fatalf("%d reads in %d read transactions, want %d in 1", r1-r0, tx1-tx0, sqlite.SpillQueue+1)
	}
	release()
	release = nil
	// Nothing reads now: a read takes a connection at once.
	go read()
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if s.QueuedReads() != 0 {
		t.Fatalf("%d reads wait with every connection free", s.QueuedReads())
	}
}

// A read that gives up while it waits for a connection leaves the queue and
// ends with its context's error; the connection is not lost.
func TestAQueuedReadThatGivesUpLeavesTheQueue(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "giveup.db"), sqlite.WithReaders(1))
	defer s.Close()
	release := s.HoldReader()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := s.GetMany(ctx, []eventstore.DocKey{{Kind: "user", ID: "1"}})
		done <- err
	}()
	for s.QueuedReads() < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("GetMany after its context ended: %v, want context.Canceled", err)
	}
	if n := s.QueuedReads(); n != 0 {
		t.Fatalf("%d reads queued after the only one gave up", n)
	}
	release()
	if _, err := s.GetMany(t.Context(), []eventstore.DocKey{{Kind: "user", ID: "1"}}); err != nil {
		t.Fatalf("GetMany on the connection given back: %v", err)
	}
}
