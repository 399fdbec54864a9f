// Package sqlite is the embedded eventstore.Store, on modernc.org/sqlite
// (pure Go, no cgo).
//
// One database file holds the events, the claims and the read-model
// documents. The file is in WAL mode. Writes go through a single connection
// and BEGIN IMMEDIATE transactions, so they are serialised in the process
// without SQLITE_BUSY retries; reads use a separate pool of read-only
// connections and run concurrently with the writer, each seeing the last
// committed state.
//
// Group commit (eventstore.GroupCommit): one goroutine owns the writer.
// Batches that arrive while it commits wait, and the next transaction
// takes all of them (up to maxGroup) and commits them together, with one
// WAL sync for the group. A group is first written without savepoints;
// when one of its batches fails, that transaction is rolled back and the
// group written again, each batch inside a savepoint of its own: the
// failing batch is rolled back to its savepoint alone and answers its own
// error, the others commit. Every caller learns its outcome only after the
// group's COMMIT, so an acknowledged batch is durable (at the configured
// synchronous level) and a caller that lost a race reloads state that
// already has the winner's events.
//
// The schema is created and upgraded by the embedded migrations/NNNN_*.sql
// files, applied in order when the store is opened and recorded in the
// schema_migrations table.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/factorgate/factorgate/server/eventstore"
)

// Synchronous is SQLite's synchronous setting for the writer connection.
type Synchronous string

const (
	// SynchronousFull syncs the WAL on every commit: a committed batch
	// survives a power loss. The default.
	SynchronousFull Synchronous = "FULL"
	// SynchronousNormal syncs only at checkpoints: much faster; a committed
	// batch survives a crash of the process but may be lost on a power
	// loss or OS crash. The database stays consistent either way.
	SynchronousNormal Synchronous = "NORMAL"
)

// Option changes how Open opens the store.
type Option func(*config)

type config struct {
	synchronous Synchronous
	busyTimeout time.Duration
	readers     int
}

// WithSynchronous sets the durability of commits (default SynchronousFull).
func WithSynchronous(s Synchronous) Option {
	return func(c *config) { c.synchronous = s }
}

// WithBusyTimeout sets how long a connection waits for a lock held by
// another process (or a checkpoint) before failing (default 5s).
func WithBusyTimeout(d time.Duration) Option {
	return func(c *config) { c.busyTimeout = d }
}

// WithReaders sets the size of each read connection pool (default
// max(4, GOMAXPROCS)): the pool of Get and GetMany, which reads with one
// connection at a time until reads queue for it (see getPool), and the
// pool of the other reads.
func WithReaders(n int) Option {
	return func(c *config) { c.readers = n }
}

// Store is the SQLite eventstore.Store. It is safe for concurrent use.
type Store struct {
	writer *sql.DB // one connection; every transaction is BEGIN IMMEDIATE
	reader *sql.DB // read-only pool

	insertEvent, releaseClaim, takeClaim, deleteDoc, putDoc, moveDoc *sql.Stmt // on writer
	// The savepoint around each batch of a group, prepared once rather
	// than parsed for every batch.
	savepoint, rollbackTo, release   *sql.Stmt // on writer
	loadEvents, listDocs, claimOwner *sql.Stmt // on reader
	gets                             *getPool  // Get's own read-only connections

	group   *eventstore.GroupCommit // owns the writer (commitGroup)
	redone  atomic.Int64            // groups written again with savepoints (commitGroup)
	closing chan struct{}           // closed when Close begins

	closeOnce sync.Once
	closeErr  error
}

// maxGroup bounds how many batches one transaction commits.
const maxGroup = 128

var _ eventstore.Store = (*Store)(nil)

// Open opens (creating it if needed, with mode 0600) the database file at
// path and brings its schema up to date. The directory must exist.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	cfg := config{
		synchronous: SynchronousFull,
		busyTimeout: 5 * time.Second,
		readers:     max(4, runtime.GOMAXPROCS(0)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case cfg.synchronous != SynchronousFull && cfg.synchronous != SynchronousNormal:
		return nil, fmt.Errorf("sqlite: open: synchronous %q: want FULL or NORMAL", cfg.synchronous)
	case cfg.busyTimeout < 0:
		return nil, fmt.Errorf("sqlite: open: negative busy timeout %v", cfg.busyTimeout)
	case cfg.readers < 1:
		return nil, fmt.Errorf("sqlite: open: %d readers: want at least 1", cfg.readers)
	case path == "" || path == ":memory:" || strings.HasPrefix(path, "file:"):
		// A store needs a real file: the reader pool opens it separately.
		return nil, fmt.Errorf("sqlite: open: %q: want a file path", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	// Create the file ourselves so that it (and the -wal and -shm files,
	// which SQLite gives the same mode) is readable by its owner only.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}

	s := &Store{closing: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			_ = s.Close()
		}
	}()

	busy := fmt.Sprintf("busy_timeout(%d)", cfg.busyTimeout.Milliseconds())
	s.writer, err = sql.Open("sqlite", dsn(abs, url.Values{
		"_pragma": {busy, "journal_mode(WAL)", "synchronous(" + string(cfg.synchronous) + ")", "foreign_keys(1)"},
		"_txlock": {"immediate"},
	}))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	s.writer.SetMaxOpenConns(1)
	s.writer.SetMaxIdleConns(1)
	s.writer.SetConnMaxLifetime(0)
	s.writer.SetConnMaxIdleTime(0)

	var mode string
	if err := s.writer.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return nil, fmt.Errorf("sqlite: open %s: journal mode is %q, want wal", abs, mode)
	}
	if err := migrate(ctx, s.writer); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}

	readDSN := dsn(abs, url.Values{"_pragma": {busy, "query_only(1)"}})
	s.reader, err = sql.Open("sqlite", readDSN)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	s.reader.SetMaxOpenConns(cfg.readers)
	s.reader.SetMaxIdleConns(cfg.readers)
	s.reader.SetConnMaxLifetime(0)
	s.reader.SetConnMaxIdleTime(0)

	for _, p := range []struct {
		db    *sql.DB
		stmt  **sql.Stmt
		query string
	}{
		// The sequence check is part of the insert: the row is inserted
		// only when the aggregate's last stored sequence is the one before.
		{s.writer, &s.insertEvent, `INSERT INTO events
			(aggregate_type, aggregate_id, sequence, type, version, resource_owner, creator, created_at, payload)
			SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?
			WHERE coalesce((SELECT sequence FROM events WHERE aggregate_type = ? AND aggregate_id = ?
				ORDER BY sequence DESC LIMIT 1), 0) = ?`},
		{s.writer, &s.releaseClaim, `DELETE FROM claims WHERE key = ?`},
		// Changes one row when the key is free or already the owner's,
		// none when another owner holds it.
		{s.writer, &s.takeClaim, `INSERT INTO claims (key, owner) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET owner = excluded.owner WHERE claims.owner = excluded.owner`},
		{s.writer, &s.deleteDoc, `DELETE FROM docs WHERE kind = ? AND id = ?`},
		{s.writer, &s.savepoint, `SAVEPOINT batch`},
		{s.writer, &s.rollbackTo, `ROLLBACK TO batch`},
		{s.writer, &s.release, `RELEASE batch`},
		// An update that names owner rewrites the row's entry in
		// docs_kind_owner_id even when the owner stays (SQLite decides
		// which indexes an update touches by the columns it sets, not by
		// their values): one more page to write for every changed
		// document, about twice the frames a commit writes. So the upsert
		// sets data only, for a document whose owner stays; it changes
		// nothing for one whose owner changes, which moveDoc then updates.
		{s.writer, &s.putDoc, `INSERT INTO docs (kind, id, owner, data) VALUES (?, ?, ?, ?)
			ON CONFLICT (kind, id) DO UPDATE SET data = excluded.data WHERE docs.owner = excluded.owner`},
		{s.writer, &s.moveDoc, `UPDATE docs SET owner = ?, data = ? WHERE kind = ? AND id = ?`},
		{s.reader, &s.loadEvents, `SELECT position, sequence, type, version, resource_owner, creator, created_at, payload
			FROM events WHERE aggregate_type = ? AND aggregate_id = ? AND sequence > ? ORDER BY sequence`},
		{s.reader, &s.listDocs, `SELECT id, data FROM docs WHERE kind = ? AND owner = ? AND id > ? ORDER BY id LIMIT ?`},
		{s.reader, &s.claimOwner, `SELECT owner FROM claims WHERE key = ?`},
	} {
		if *p.stmt, err = p.db.PrepareContext(ctx, p.query); err != nil {
			return nil, fmt.Errorf("sqlite: open %s: prepare: %w", abs, err)
		}
	}
	if s.gets, err = openGetPool(ctx, readDSN, cfg.readers, s.closing); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	s.group = eventstore.NewGroupCommit(maxGroup, s.commitGroup)
	ok = true
	return s, nil
}

// dsn returns the modernc.org/sqlite data source name of the file at the
// absolute path abs with the given query parameters.
func dsn(abs string, params url.Values) string {
	// In a SQLite URI, '?' and '#' end the path and '%' starts an escape.
	path := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
	return "file:" + path + "?" + params.Encode()
}

// Append implements eventstore.Store. The batch joins the next group
// commit; Append returns when that group has committed (or the batch
// failed on its own), never before, even if ctx ends meanwhile: once a batch
// is queued its outcome is decided by the store, and the caller is told it.
func (s *Store) Append(ctx context.Context, b eventstore.Batch) ([]eventstore.Event, error) {
	if err := eventstore.CheckBatch(b); err != nil {
		return nil, fmt.Errorf("sqlite: append: %w", unavailable(err))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: append: %w", unavailable(err))
	}
	if len(b.Events)+len(b.Claims)+len(b.Release)+len(b.Put)+len(b.Delete) == 0 {
		return nil, nil
	}
	out, err := s.group.Append(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("sqlite: append: %w", unavailable(err))
	}
	return out, nil
}

// commitGroup writes every batch of the group in one transaction and sets
// each request's outcome: first all at once (commitWhole), and when a batch
// fails there, again with each batch in a savepoint (commitSavepoints). It
// runs on a context of its own: one caller giving up must not roll back
// the others.
func (s *Store) commitGroup(group []*eventstore.Pending) {
	ctx := context.Background()
	live := 0
	for _, r := range group {
		if r.Err = r.Ctx.Err(); r.Err == nil {
			live++
		} // else gave up while queued: not written
	}
	if live == 0 || s.commitWhole(ctx, group, live) {
		return
	}
	s.redone.Add(1)
	s.commitSavepoints(ctx, group)
}

// commitWhole is the first try at a group: every batch written in one
// transaction without savepoints. A savepoint costs two statements and a
// copy of every page its batch changes first (SQLite's sub-journal), and
// most groups have no batch that fails. When a batch fails beside others,
// commitWhole rolls the transaction back, keeps nothing and reports false;
// otherwise it sets every outcome and reports true.
func (s *Store) commitWhole(ctx context.Context, group []*eventstore.Pending, live int) bool {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		setErr(group, fmt.Errorf("begin: %w", err))
		return true
	}
	for _, r := range group {
		if r.Err != nil {
			continue
		}
		if r.Out, r.Err = s.appendTx(ctx, tx, r.Batch); r.Err != nil {
			_ = tx.Rollback() // the error that matters is r.Err
			if live == 1 {
				return true // the only batch written: its error is its outcome
			}
			for _, q := range group {
				if q.Err == nil || q == r { // written or tried here: decided again
					q.Out, q.Err = nil, nil
				}
			}
			return false
		}
	}
	if err := tx.Commit(); err != nil {
		setErr(group, fmt.Errorf("commit: %w", err))
	}
	return true
}

// commitSavepoints writes each live batch of the group inside a savepoint of
// its own, so that a batch that fails undoes its own changes only, and
// commits the others.
func (s *Store) commitSavepoints(ctx context.Context, group []*eventstore.Pending) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		setErr(group, fmt.Errorf("begin: %w", err))
		return
	}
	written := 0
	for _, r := range group {
		if r.Err != nil {
			continue
		}
		if r.Out, r.Err = s.appendSavepoint(ctx, tx, r.Batch); errors.Is(r.Err, errSavepoint) {
			// The batch's own changes could not be undone: keep nothing.
			_ = tx.Rollback() // the error that matters is r.Err
			setErr(group, r.Err)
			return
		}
		if r.Err == nil {
			written++
		}
	}
	if written == 0 {
		_ = tx.Rollback() // nothing to keep; each request has its error
		return
	}
	if err := tx.Commit(); err != nil {
		setErr(group, fmt.Errorf("commit: %w", err))
	}
}

// setErr answers err to every request of the group.
func setErr(group []*eventstore.Pending, err error) {
	for _, r := range group {
		r.Out, r.Err = nil, err
	}
}

// errSavepoint marks a failure of the savepoint statements themselves.
var errSavepoint = errors.New("savepoint failed")

// appendSavepoint applies one batch of a group inside a savepoint, so that
// its failure undoes its own changes only.
func (s *Store) appendSavepoint(ctx context.Context, tx *sql.Tx, b eventstore.Batch) ([]eventstore.Event, error) {
	if _, err := tx.StmtContext(ctx, s.savepoint).ExecContext(ctx); err != nil {
		return nil, fmt.Errorf("%w: %w", errSavepoint, err)
	}
	out, err := s.appendTx(ctx, tx, b)
	if err != nil {
		if _, rerr := tx.StmtContext(ctx, s.rollbackTo).ExecContext(ctx); rerr != nil {
			return nil, fmt.Errorf("%w: rollback to: %w (after %w)", errSavepoint, rerr, err)
		}
	}
	if _, rerr := tx.StmtContext(ctx, s.release).ExecContext(ctx); rerr != nil {
		return nil, fmt.Errorf("%w: release: %w", errSavepoint, rerr)
	}
	return out, err
}

func (s *Store) appendTx(ctx context.Context, tx *sql.Tx, b eventstore.Batch) ([]eventstore.Event, error) {
	var out []eventstore.Event
	if len(b.Events) > 0 {
		out = make([]eventstore.Event, len(b.Events))
		insert := tx.StmtContext(ctx, s.insertEvent)
		for i, e := range b.Events {
			e.CreatedAt = eventstore.NormalizeTime(e.CreatedAt)
			seq := int64(e.Sequence) // CheckBatch: 1 <= Sequence <= MaxInt64
			res, err := insert.ExecContext(ctx,
				e.AggregateType, e.AggregateID, seq, e.Type, e.Version, e.ResourceOwner, e.Creator,
				e.CreatedAt.UnixMicro(), eventstore.NullIfEmpty(e.Payload),
				e.AggregateType, e.AggregateID, seq-1)
			if isConstraint(err) {
				return nil, fmt.Errorf("%w: %s/%s sequence %d: %w", eventstore.ErrConflict, e.AggregateType, e.AggregateID, seq, err)
			}
			if err != nil {
				return nil, fmt.Errorf("insert event: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return nil, fmt.Errorf("insert event: %w", err)
			} else if n == 0 {
				return nil, fmt.Errorf("%w: %s/%s: sequence %d is not the next one",
					eventstore.ErrConflict, e.AggregateType, e.AggregateID, seq)
			}
			if e.Position, err = res.LastInsertId(); err != nil {
				return nil, fmt.Errorf("insert event: %w", err)
			}
			e.Payload = eventstore.Clone(e.Payload)
			out[i] = e
		}
	}
	if len(b.Release) > 0 {
		release := tx.StmtContext(ctx, s.releaseClaim)
		for _, key := range b.Release {
			if _, err := release.ExecContext(ctx, key); err != nil {
				return nil, fmt.Errorf("release claim: %w", err)
			}
		}
	}
	if len(b.Claims) > 0 {
		take := tx.StmtContext(ctx, s.takeClaim)
		for _, c := range b.Claims {
			res, err := take.ExecContext(ctx, c.Key, c.Owner)
			if isConstraint(err) {
				return nil, fmt.Errorf("%w: %q: %w", eventstore.ErrClaimed, c.Key, err)
			}
			if err != nil {
				return nil, fmt.Errorf("take claim: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return nil, fmt.Errorf("take claim: %w", err)
			} else if n == 0 {
				return nil, fmt.Errorf("%w: %q", eventstore.ErrClaimed, c.Key)
			}
		}
	}
	if len(b.Delete) > 0 {
		del := tx.StmtContext(ctx, s.deleteDoc)
		for _, k := range b.Delete {
			if _, err := del.ExecContext(ctx, k.Kind, k.ID); err != nil {
				return nil, fmt.Errorf("delete doc: %w", err)
			}
		}
	}
	if len(b.Put) > 0 {
		put := tx.StmtContext(ctx, s.putDoc)
		for _, d := range b.Put {
			data := eventstore.NullIfEmpty(d.Data)
			res, err := put.ExecContext(ctx, d.Kind, d.ID, d.Owner, data)
			if err != nil {
				return nil, fmt.Errorf("put doc: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return nil, fmt.Errorf("put doc: %w", err)
			} else if n == 0 { // stored with another owner
				if _, err := tx.StmtContext(ctx, s.moveDoc).ExecContext(ctx, d.Owner, data, d.Kind, d.ID); err != nil {
					return nil, fmt.Errorf("put doc: %w", err)
				}
			}
		}
	}
	return out, nil
}

// GroupStats returns how many group commits ran and how many appends they
// carried since the store was opened (their ratio is the mean group size;
// served on /metrics).
func (s *Store) GroupStats() (groups, batches int64) { return s.group.Stats() }

// ReadStats returns how many read transactions served how many document
// reads (Get and GetMany) since the store was opened: reads that queue
// for the reading connection share one (their ratio is the mean group
// size; served on /metrics).
func (s *Store) ReadStats() (transactions, reads int64) { return s.gets.stats() }

// Load implements eventstore.Store.
func (s *Store) Load(ctx context.Context, aggregateType, aggregateID string, after uint64) ([]eventstore.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: load: %w", unavailable(err))
	}
	if after >= math.MaxInt64 {
		return nil, nil // no stored sequence is above it
	}
	rows, err := s.loadEvents.QueryContext(ctx, aggregateType, aggregateID, int64(after))
	if err != nil {
		return nil, fmt.Errorf("sqlite: load: %w", unavailable(err))
	}
	defer rows.Close()
	var out []eventstore.Event
	for rows.Next() {
		e := eventstore.Event{AggregateType: aggregateType, AggregateID: aggregateID}
		var seq, createdAt int64
		if err := rows.Scan(&e.Position, &seq, &e.Type, &e.Version, &e.ResourceOwner, &e.Creator, &createdAt, &e.Payload); err != nil {
			return nil, fmt.Errorf("sqlite: load: %w", unavailable(err))
		}
		e.Sequence = uint64(seq)
		e.CreatedAt = time.UnixMicro(createdAt).UTC()
		e.Payload = eventstore.NilIfEmpty(e.Payload)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: load: %w", unavailable(err))
	}
	return out, nil
}

// Get implements eventstore.Store.
func (s *Store) Get(ctx context.Context, kind, id string) (eventstore.Doc, error) {
	owner, data, found, err := s.gets.get(ctx, kind, id)
	if err != nil {
		return eventstore.Doc{}, fmt.Errorf("sqlite: get %s/%s: %w", kind, id, unavailable(err))
	}
	if !found {
		return eventstore.Doc{}, fmt.Errorf("sqlite: get %s/%s: %w", kind, id, eventstore.ErrNotFound)
	}
	return eventstore.Doc{Kind: kind, ID: id, Owner: owner, Data: eventstore.NilIfEmpty(data)}, nil
}

// GetMany implements eventstore.Store.
func (s *Store) GetMany(ctx context.Context, keys []eventstore.DocKey) ([]eventstore.Doc, error) {
	out, err := s.gets.getMany(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("sqlite: get: %w", unavailable(err))
	}
	return out, nil
}

// List implements eventstore.Store.
func (s *Store) List(ctx context.Context, kind, owner, after string, limit int) ([]eventstore.Doc, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.listDocs.QueryContext(ctx, kind, owner, after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list: %w", unavailable(err))
	}
	defer rows.Close()
	var out []eventstore.Doc
	for rows.Next() {
		d := eventstore.Doc{Kind: kind, Owner: owner}
		if err := rows.Scan(&d.ID, &d.Data); err != nil {
			return nil, fmt.Errorf("sqlite: list: %w", unavailable(err))
		}
		d.Data = eventstore.NilIfEmpty(d.Data)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list: %w", unavailable(err))
	}
	return out, nil
}

// Watch implements eventstore.Store: the kinds go into watched_kinds,
// which the generation triggers read (migrations/0002_generation.sql), in
// the transaction that gives the generation a new value.
func (s *Store) Watch(ctx context.Context, kinds ...string) error {
	if err := eventstore.CheckWatch(kinds); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: watch: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, k := range kinds {
		if _, err := tx.ExecContext(ctx, `INSERT INTO watched_kinds (kind) VALUES (?) ON CONFLICT DO NOTHING`, k); err != nil {
			return fmt.Errorf("sqlite: watch: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO docs (kind, id, owner, data) VALUES (?, ?, '', randomblob(16))
		ON CONFLICT (kind, id) DO UPDATE SET data = excluded.data`, eventstore.GenerationKind, eventstore.GenerationKey.ID); err != nil {
		return fmt.Errorf("sqlite: watch: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: watch: %w", err)
	}
	return nil
}

// ClaimOwner implements eventstore.Store.
func (s *Store) ClaimOwner(ctx context.Context, key string) (string, error) {
	var owner string
	err := s.claimOwner.QueryRowContext(ctx, key).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("sqlite: claim %q: %w", key, eventstore.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("sqlite: claim %q: %w", key, unavailable(err))
	}
	return owner, nil
}

// Close implements eventstore.Store. It waits for running calls on the
// writer to finish; later calls fail.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		if s.group != nil {
			s.group.Close()
		}
		var errs []error
		for _, st := range []*sql.Stmt{
			s.insertEvent, s.releaseClaim, s.takeClaim, s.deleteDoc, s.putDoc, s.moveDoc,
			s.savepoint, s.rollbackTo, s.release, s.loadEvents, s.listDocs, s.claimOwner,
		} {
			if st != nil {
				errs = append(errs, st.Close())
			}
		}
		if s.gets != nil {
			errs = append(errs, s.gets.close())
		}
		if s.reader != nil {
			errs = append(errs, s.reader.Close())
		}
		if s.writer != nil {
			// Recommended before closing a long-lived connection; cheap.
			if _, err := s.writer.Exec("PRAGMA optimize"); err != nil {
				errs = append(errs, err)
			}
			errs = append(errs, s.writer.Close())
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("sqlite: close: %w", err)
		}
	})
	return s.closeErr
}

// unavailable marks err with eventstore.ErrUnavailable when SQLite could
// not take a lock within the busy timeout (another process holds the
// database: an operator's sqlite3, a second factorgate command): the call
// may succeed later, and clients are told so (503), not that it broke.
func unavailable(err error) error {
	var e *sqlite.Error
	if !errors.As(err, &e) || errors.Is(err, eventstore.ErrUnavailable) {
		return err
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
	}
	return err
}

// isConstraint reports whether err is a unique or primary key violation.
func isConstraint(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return true
	}
	return false
}
