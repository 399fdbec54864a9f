package sqlite_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
	"github.com/factorgate/factorgate/server/eventstore/sqlite"
)

// Another process holding the database's write lock past the busy timeout
// (an operator's sqlite3, `factorgate credentials create` on the server's
// file) makes the store unavailable for a moment, not broken: the append
// fails with ErrUnavailable (clients get 503 and retry), writes nothing,
// and succeeds once the lock is gone.
func TestWriteLockHeldElsewhereIsUnavailable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	s := mustOpen(t, path, sqlite.WithBusyTimeout(100*time.Millisecond))
	defer s.Close()

	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	ev := eventstore.Event{AggregateType: "user", AggregateID: "busy", Sequence: 1, Type: "t", Version: 1, CreatedAt: time.Now()}
	if _, err := s.Append(t.Context(), eventstore.Batch{Events: []eventstore.Event{ev}}); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("Append while another process holds the write lock: %v, want ErrUnavailable", err)
	}
	if _, err := conn.ExecContext(t.Context(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if evs, err := s.Load(t.Context(), "user", "busy", 0); err != nil || len(evs) != 0 {
		t.Fatalf("after the refused append: %d events (%v), want none", len(evs), err)
	}
	if _, err := s.Append(t.Context(), eventstore.Batch{Events: []eventstore.Event{ev}}); err != nil {
		t.Fatalf("Append after the lock is gone: %v", err)
	}
}
