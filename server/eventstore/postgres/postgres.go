// Package postgres is the scale-out eventstore.Store, on PostgreSQL through
// github.com/jackc/pgx/v5 and its connection pool.
//
// Many factorgate replicas may share one database. The store keeps the
// contract of package eventstore across all of them:
//
//   - Every Append is part of one transaction, sent as one pipelined
//     batch: one round trip (plus, once per connection, one to prepare the
//     statements). The checks run on the server and abort the transaction
//     when they fail (fg_fail in the migrations).
//   - Group commit, as in the SQLite store: one goroutine per Store sends
//     the appends; those that arrive while a transaction is on its way
//     wait and go together in the next one (up to maxGroup), so that one
//     lock, one round trip and one WAL flush serve all of them. Each caller
//     is answered after that transaction's commit. When a group fails,
//     nothing of it was written: a batch that lost its sequence check
//     answers ErrConflict and the others go again as a group; on any other
//     failure (a held claim, a bad value) every batch of the group is sent
//     again alone, in order, so that each gets the outcome it would have
//     had on its own.
//   - The first statement of every append locks the single row of
//     event_position and takes the batch's positions from it; the lock is
//     held until the transaction ends. So appends commit one at a time, in
//     the order of their positions: a reader never sees position n+1
//     before n, and Position is strictly increasing in commit order across
//     every replica. The same serialisation makes the per-aggregate
//     sequence check exact (an event is inserted only when its aggregate's
//     last committed sequence is the one before) and rules out deadlocks
//     between appends. The cost is that appends do not overlap in the
//     database: throughput is bounded by one commit at a time (see the
//     benchmark in bench_test.go).
//   - A lost sequence check is eventstore.ErrConflict, a claim held by
//     another owner is eventstore.ErrClaimed; a serialization failure or a
//     deadlock reported by the server (possible only with outside writers)
//     is ErrConflict as well, so the core reloads and decides again. A
//     batch is never retried blindly.
//   - When the database cannot be reached (refused, reset, restarting), the
//     error wraps eventstore.ErrUnavailable and the store drops every
//     pooled connection (they all broke); the pool opens new ones on
//     demand, so the store recovers by itself once the database is back. An Append that fails with ErrUnavailable while committing may
//     have committed.
//
// The schema is created and upgraded by the embedded migrations/NNNN_*.sql
// files, applied in one transaction under an advisory lock when the store
// is opened, and recorded in the schema_migrations table. The tables live
// in the connection's current schema (set search_path in the URL to use
// another one).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/factorgate/factorgate/server/eventstore"
)

// Store is the PostgreSQL eventstore.Store. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool

	group  *eventstore.GroupCommit // sends the appends (commitGroup)
	resent atomic.Int64            // groups that failed and went batch by batch

	closeOnce sync.Once
}

// maxGroup bounds how many batches one transaction commits.
const maxGroup = 128

// groupTimeout bounds one group's transaction when a caller has no
// deadline of its own (see groupContext).
const groupTimeout = 30 * time.Second

var _ eventstore.Store = (*Store)(nil)

// Open connects to the database at url (postgres://… or postgresql://…, any
// parameter pgx understands, e.g. pool_max_conns or search_path) and brings
// its schema up to date. Several processes may open one database at once.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL; never echo a password.
		return nil, errors.New("postgres: open: the database URL cannot be parsed")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	// The store's transactions are designed for READ COMMITTED: the one
	// position row serializes writers by its lock, and the sequence checks
	// are in the statements. At SERIALIZABLE (a database's or role's
	// default), concurrent writers would fail on that row for no conflict of
	// theirs.
	cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = "read committed"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", classify(err))
	}
	s := &Store{pool: pool}
	s.group = eventstore.NewGroupCommit(maxGroup, s.commitGroup)
	return s, nil
}

const (
	sqlLockPositions = `UPDATE event_position SET last = last + $1 RETURNING last`
	// The sequence check is part of the insert: the row is inserted only
	// when the aggregate's last committed sequence is the one before. The
	// position is read from event_position, locked and advanced by this
	// transaction: $1 is the event's offset from the batch's last position.
	sqlInsertEvent = `WITH ins AS (
			INSERT INTO events
			(position, aggregate_type, aggregate_id, sequence, type, version, resource_owner, creator, created_at, payload)
			SELECT p.last - $1::bigint, $2::text, $3::text, $4::bigint, $5::text, $6::integer, $7::text, $8::text,
				$9::timestamptz, $10::bytea
			FROM event_position p
			WHERE coalesce((SELECT max(sequence) FROM events WHERE aggregate_type = $2 AND aggregate_id = $3), 0) = $4 - 1
			RETURNING position)
		SELECT position FROM ins
		UNION ALL
		SELECT fg_fail('FGCON', 'sequence is not the next one') WHERE NOT EXISTS (SELECT FROM ins)`
	sqlReleaseClaim = `DELETE FROM claims WHERE key = $1`
	// Takes the key when it is free or already the owner's; fails with
	// FGCLM when another owner holds it.
	sqlTakeClaim = `WITH t AS (
			INSERT INTO claims (key, owner) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET owner = excluded.owner WHERE claims.owner = excluded.owner
			RETURNING 1)
		SELECT fg_fail('FGCLM', 'claim held by another owner') WHERE NOT EXISTS (SELECT FROM t)`
	sqlDeleteDoc = `DELETE FROM docs WHERE kind = $1 AND id = $2`
	sqlPutDoc    = `INSERT INTO docs (kind, id, owner, data) VALUES ($1, $2, $3, $4)
		ON CONFLICT (kind, id) DO UPDATE SET owner = excluded.owner, data = excluded.data`
	sqlLoadEvents = `SELECT position, sequence, type, version, resource_owner, creator, created_at, payload
		FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3 ORDER BY sequence`
	sqlGetDoc     = `SELECT owner, data FROM docs WHERE kind = $1 AND id = $2`
	sqlListDocs   = `SELECT id, data FROM docs WHERE kind = $1 AND owner = $2 AND id > $3 ORDER BY id LIMIT $4`
	sqlListAll    = `SELECT id, data FROM docs WHERE kind = $1 AND owner = $2 AND id > $3 ORDER BY id`
	sqlClaimOwner = `SELECT owner FROM claims WHERE key = $1`
)

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, b eventstore.Batch) ([]eventstore.Event, error) {
	if err := eventstore.CheckBatch(b); err != nil {
		return nil, fmt.Errorf("postgres: append: %w", err)
	}
	if err := checkText(b); err != nil {
		return nil, fmt.Errorf("postgres: append: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("postgres: append: %w", err)
	}
	if len(b.Events)+len(b.Claims)+len(b.Release)+len(b.Put)+len(b.Delete) == 0 {
		return nil, nil
	}
	out, err := s.group.Append(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("postgres: append: %w", err)
	}
	return out, nil
}

// commitGroup sets each request's outcome. It runs on a context of its own:
// one caller giving up must not roll back the others.
func (s *Store) commitGroup(group []*eventstore.Pending) {
	live := group[:0:0]
	for _, r := range group {
		if err := r.Ctx.Err(); err != nil {
			r.Err = err // gave up while queued: not sent
			continue
		}
		live = append(live, r)
	}
	ctx, cancel := groupContext(live)
	defer cancel()
	live = dropInGroupConflicts(live)
	for len(live) > 1 {
		batches := make([]eventstore.Batch, len(live))
		for i, r := range live {
			batches[i] = r.Batch
		}
		outs, failed, err := s.appendGroup(ctx, batches)
		switch {
		case err == nil:
			for i, r := range live {
				r.Out = outs[i]
			}
			return
		case errors.Is(err, eventstore.ErrUnavailable), ctx.Err() != nil:
			// The database went away (perhaps while committing): sending
			// the batches again would not help, and each may have
			// committed.
			for _, r := range live {
				r.Err = err
			}
			return
		case failed >= 0 && errors.Is(err, eventstore.ErrConflict):
			// Nothing was written. The batch lost a sequence check, against
			// the store as it was plus the group's batches before it: the
			// others go again as a group. Should those not commit after
			// all, the conflict was one the caller did not need to see,
			// and a conflict only makes it reload and decide again.
			live[failed].Err = err
			live = slices.Delete(live, failed, failed+1)
		default:
			// Nothing was written, for a reason that may be the group's
			// (a claim taken by a batch before it, say): alone, in
			// order, each batch gets the outcome it would have had.
			s.resent.Add(1)
			for _, r := range live {
				r.Out, r.Err = s.append(ctx, r.Batch)
			}
			return
		}
	}
	if len(live) == 1 {
		live[0].Out, live[0].Err = s.append(ctx, live[0].Batch)
	}
}

// groupContext returns the context a group's transaction runs on: not any
// caller's (one giving up must not roll back the others), but ending at the
// latest of their deadlines, or after groupTimeout when one has none. The
// callers wait for the group whatever their own contexts say, as a batch
// that was sent may commit; so no caller waits much longer than it would
// have for an append of its own.
func groupContext(group []*eventstore.Pending) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, r := range group {
		d, ok := r.Ctx.Deadline()
		if !ok {
			return context.WithTimeout(context.Background(), groupTimeout)
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.Background(), latest)
}

// dropInGroupConflicts answers ErrConflict, without sending it, to every
// batch whose events cannot follow those of an earlier batch of the group
// on the same aggregate (two commands that loaded the same state: the
// first one wins), and returns the others. Should the earlier batch not
// commit after all, the conflict was one the caller did not need to see;
// a conflict only makes it reload and decide again.
func dropInGroupConflicts(group []*eventstore.Pending) []*eventstore.Pending {
	type agg struct{ typ, id string }
	last := map[agg]uint64{}
	kept := group[:0]
	for _, r := range group {
		ok := true
		for _, e := range r.Batch.Events {
			if seq, seen := last[agg{e.AggregateType, e.AggregateID}]; seen && e.Sequence != seq+1 {
				ok = false
				r.Err = fmt.Errorf("%w: %s/%s: sequence %d is not the next one", eventstore.ErrConflict, e.AggregateType, e.AggregateID, e.Sequence)
				break
			}
		}
		if !ok {
			continue
		}
		for _, e := range r.Batch.Events {
			last[agg{e.AggregateType, e.AggregateID}] = e.Sequence
		}
		kept = append(kept, r)
	}
	return kept
}

// appendGroup writes the batches in one transaction: all or none. On a
// failure, failed is the index of the batch whose statement failed (-1
// when none did, e.g. the commit).
func (s *Store) appendGroup(ctx context.Context, batches []eventstore.Batch) (outs [][]eventstore.Event, failed int, err error) {
	total := 0
	for _, b := range batches {
		total += len(b.Events)
	}
	pb := &pgx.Batch{}
	pb.Queue(sqlLockPositions, int64(total))
	outs = make([][]eventstore.Event, len(batches))
	left := total
	for i, b := range batches {
		outs[i] = queueBatch(pb, b, left)
		left -= len(b.Events)
	}
	br := s.pool.SendBatch(ctx, pb)
	failed = -1
	err = s.readLock(br)
	for i := 0; err == nil && i < len(batches); i++ {
		if err = s.readResults(br, batches[i], outs[i]); err != nil {
			failed = i
		}
	}
	if err != nil {
		_ = br.Close()
		return nil, failed, err
	}
	if err := br.Close(); err != nil {
		return nil, -1, fmt.Errorf("commit: %w", s.classify(err))
	}
	return outs, -1, nil
}

func (s *Store) append(ctx context.Context, b eventstore.Batch) ([]eventstore.Event, error) {
	// No BEGIN and COMMIT: the statements of one pipelined batch, up to its
	// Sync, are one implicit transaction. A failed check raises an error
	// that aborts it on the server, so nothing of a failed batch is
	// written, and the position lock is held only while the server runs
	// the batch and commits, never across a round trip.
	batch := &pgx.Batch{}
	batch.Queue(sqlLockPositions, int64(len(b.Events)))
	out := queueBatch(batch, b, len(b.Events))
	br := s.pool.SendBatch(ctx, batch)
	err := s.readLock(br)
	if err == nil {
		err = s.readResults(br, b, out)
	}
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	// Close reads the end of the batch: the commit.
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("commit: %w", s.classify(err))
	}
	return out, nil
}

// queueBatch queues the statements of b after the position lock; left is
// how many events of the transaction are still to be queued, b's
// included (the position of its event i is the transaction's last position
// minus left-1-i). It returns b's events as they will be stored, but for
// their positions.
func queueBatch(batch *pgx.Batch, b eventstore.Batch, left int) []eventstore.Event {
	out := make([]eventstore.Event, len(b.Events))
	for i, e := range b.Events {
		e.CreatedAt = eventstore.NormalizeTime(e.CreatedAt)
		e.Payload = eventstore.Clone(e.Payload)
		out[i] = e
		batch.Queue(sqlInsertEvent,
			int64(left-1-i), e.AggregateType, e.AggregateID, int64(e.Sequence), e.Type, int32(e.Version),
			e.ResourceOwner, e.Creator, e.CreatedAt, eventstore.NullIfEmpty(e.Payload))
	}
	for _, key := range b.Release {
		batch.Queue(sqlReleaseClaim, key)
	}
	for _, c := range b.Claims {
		batch.Queue(sqlTakeClaim, c.Key, c.Owner)
	}
	for _, k := range b.Delete {
		batch.Queue(sqlDeleteDoc, k.Kind, k.ID)
	}
	for _, d := range b.Put {
		batch.Queue(sqlPutDoc, d.Kind, d.ID, d.Owner, eventstore.NullIfEmpty(d.Data))
	}
	return out
}

// readLock reads the result of the position lock, the first statement.
func (s *Store) readLock(br pgx.BatchResults) error {
	var last int64
	if err := br.QueryRow().Scan(&last); err != nil {
		return fmt.Errorf("lock positions: %w", s.classify(err))
	}
	return nil
}

// readResults reads the results of one batch's statements in order. The
// server stops at the first failure, so there is at most one: a broken
// rule (ErrConflict, ErrClaimed) or a server or network error, classified.
func (s *Store) readResults(br pgx.BatchResults, b eventstore.Batch, out []eventstore.Event) error {
	for i := range b.Events {
		if err := br.QueryRow().Scan(&out[i].Position); err != nil {
			return fmt.Errorf("insert event: %w", s.classifyRule(err))
		}
	}
	for range b.Release {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("release claim: %w", s.classify(err))
		}
	}
	for range b.Claims {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("take claim: %w", s.classifyRule(err))
		}
	}
	for range b.Delete {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("delete doc: %w", s.classify(err))
		}
	}
	for range b.Put {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("put doc: %w", s.classify(err))
		}
	}
	return nil
}

// GroupStats returns how many group commits ran and how many appends they
// carried since the store was opened (their ratio is the mean group size;
// served on /metrics).
func (s *Store) GroupStats() (groups, batches int64) { return s.group.Stats() }

// Load implements eventstore.Store.
func (s *Store) Load(ctx context.Context, aggregateType, aggregateID string, after uint64) ([]eventstore.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("postgres: load: %w", err)
	}
	if after >= math.MaxInt64 || !storable(aggregateType) || !storable(aggregateID) {
		return nil, nil // no stored event matches
	}
	rows, err := s.pool.Query(ctx, sqlLoadEvents, aggregateType, aggregateID, int64(after))
	if err != nil {
		return nil, fmt.Errorf("postgres: load: %w", s.classify(err))
	}
	defer rows.Close()
	var out []eventstore.Event
	for rows.Next() {
		e := eventstore.Event{AggregateType: aggregateType, AggregateID: aggregateID}
		var seq int64
		var version int32
		if err := rows.Scan(&e.Position, &seq, &e.Type, &version, &e.ResourceOwner, &e.Creator, &e.CreatedAt, &e.Payload); err != nil {
			return nil, fmt.Errorf("postgres: load: %w", s.classify(err))
		}
		e.Sequence = uint64(seq)
		e.Version = int(version)
		e.CreatedAt = e.CreatedAt.UTC()
		e.Payload = eventstore.NilIfEmpty(e.Payload)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: load: %w", s.classify(err))
	}
	return out, nil
}

// Get implements eventstore.Store.
func (s *Store) Get(ctx context.Context, kind, id string) (eventstore.Doc, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Doc{}, fmt.Errorf("postgres: get: %w", err)
	}
	if !storable(kind) || !storable(id) {
		return eventstore.Doc{}, fmt.Errorf("postgres: get: %w", eventstore.ErrNotFound)
	}
	d := eventstore.Doc{Kind: kind, ID: id}
	err := s.pool.QueryRow(ctx, sqlGetDoc, kind, id).Scan(&d.Owner, &d.Data)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.Doc{}, fmt.Errorf("postgres: get %s/%s: %w", kind, id, eventstore.ErrNotFound)
	}
	if err != nil {
		return eventstore.Doc{}, fmt.Errorf("postgres: get %s/%s: %w", kind, id, s.classify(err))
	}
	d.Data = eventstore.NilIfEmpty(d.Data)
	return d, nil
}

// GetMany implements eventstore.Store: the queries go in one pipelined
// batch, one round trip and one implicit transaction.
func (s *Store) GetMany(ctx context.Context, keys []eventstore.DocKey) ([]eventstore.Doc, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("postgres: get: %w", err)
	}
	out := make([]eventstore.Doc, len(keys))
	batch := &pgx.Batch{}
	asked := make([]int, 0, len(keys)) // the keys sent, by index
	for i, k := range keys {
		if storable(k.Kind) && storable(k.ID) {
			batch.Queue(sqlGetDoc, k.Kind, k.ID)
			asked = append(asked, i)
		}
	}
	if len(asked) == 0 {
		return out, nil
	}
	br := s.pool.SendBatch(ctx, batch)
	for _, i := range asked {
		d := eventstore.Doc{Kind: keys[i].Kind, ID: keys[i].ID}
		err := br.QueryRow().Scan(&d.Owner, &d.Data)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			_ = br.Close()
			return nil, fmt.Errorf("postgres: get: %w", s.classify(err))
		}
		d.Data = eventstore.NilIfEmpty(d.Data)
		out[i] = d
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("postgres: get: %w", s.classify(err))
	}
	return out, nil
}

// List implements eventstore.Store.
func (s *Store) List(ctx context.Context, kind, owner, after string, limit int) ([]eventstore.Doc, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list: %w", err)
	}
	if !storable(kind) || !storable(owner) || !storable(after) {
		return nil, nil
	}
	var rows pgx.Rows
	var err error
	if limit > 0 {
		rows, err = s.pool.Query(ctx, sqlListDocs, kind, owner, after, int64(limit))
	} else {
		rows, err = s.pool.Query(ctx, sqlListAll, kind, owner, after)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: list: %w", s.classify(err))
	}
	defer rows.Close()
	var out []eventstore.Doc
	for rows.Next() {
		d := eventstore.Doc{Kind: kind, Owner: owner}
		if err := rows.Scan(&d.ID, &d.Data); err != nil {
			return nil, fmt.Errorf("postgres: list: %w", s.classify(err))
		}
		d.Data = eventstore.NilIfEmpty(d.Data)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list: %w", s.classify(err))
	}
	return out, nil
}

// Watch implements eventstore.Store: the kinds go into watched_kinds,
// which the generation trigger reads (migrations/0002_generation.sql), in
// the transaction that gives the generation a new value.
func (s *Store) Watch(ctx context.Context, kinds ...string) error {
	if err := eventstore.CheckWatch(kinds); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	for _, k := range kinds {
		if !storable(k) {
			return fmt.Errorf("postgres: watch %q: %w: not storable text", k, eventstore.ErrInvalid)
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO watched_kinds (kind) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, kinds); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO docs (kind, id, owner, data) VALUES ($1, $2, '', uuid_send(gen_random_uuid()))
			ON CONFLICT (kind, id) DO UPDATE SET data = excluded.data`, eventstore.GenerationKind, eventstore.GenerationKey.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: watch: %w", s.classify(err))
	}
	return nil
}

// ClaimOwner implements eventstore.Store.
func (s *Store) ClaimOwner(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("postgres: claim: %w", err)
	}
	if !storable(key) {
		return "", fmt.Errorf("postgres: claim: %w", eventstore.ErrNotFound)
	}
	var owner string
	err := s.pool.QueryRow(ctx, sqlClaimOwner, key).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("postgres: claim %q: %w", key, eventstore.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("postgres: claim %q: %w", key, s.classify(err))
	}
	return owner, nil
}

// Close implements eventstore.Store. It waits for connections in use to be
// returned; later calls fail.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.group.Close()
		s.pool.Close()
	})
	return nil
}

// classify wraps err with eventstore.ErrUnavailable when the database could
// not be reached or went away, and with eventstore.ErrConflict for a
// serialization failure or a deadlock (the caller reloads and decides
// again). Context errors and other server errors are returned as they are.
func classify(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "40001", pe.Code == "40P01": // serialization_failure, deadlock_detected
			return fmt.Errorf("%w: %w", eventstore.ErrConflict, err)
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),                           // insufficient resources (too many connections, …)
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // shutdown, crash, cannot connect now
			return fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
		}
		return err
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	switch {
	case errors.As(err, &ce), errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.Is(err, pgconn.ErrConnClosed), pgconn.SafeToRetry(err):
		return fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
	}
	return err
}

// classifyRule turns a failed rule check into ErrConflict (FGCON, or a
// unique violation of an event's (aggregate, sequence)) or ErrClaimed
// (FGCLM, or a unique violation of a claim's key); other errors are
// classified.
func (s *Store) classifyRule(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "FGCON", pe.Code == "23505" && pe.TableName == "events":
			return fmt.Errorf("%w: %s", eventstore.ErrConflict, pe.Message)
		case pe.Code == "FGCLM", pe.Code == "23505" && pe.TableName == "claims":
			return fmt.Errorf("%w: %s", eventstore.ErrClaimed, pe.Message)
		}
	}
	return s.classify(err)
}

// classify classifies err (see the function classify). When the database
// is unavailable it also drops every pooled connection: after a restart
// or a network cut they are all dead, and the next calls should open new
// ones instead of finding the dead ones one by one.
func (s *Store) classify(err error) error {
	err = classify(err)
	if errors.Is(err, eventstore.ErrUnavailable) {
		s.pool.Reset()
	}
	return err
}

// storable reports whether s can be stored in a text column: PostgreSQL's
// text holds valid UTF-8 without NUL characters.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// checkText rejects a batch with a string PostgreSQL cannot store, with
// eventstore.ErrInvalid (retrying cannot help).
func checkText(b eventstore.Batch) error {
	bad := func(what string, i int) error {
		return fmt.Errorf("%w: %s %d: text with a NUL character or invalid UTF-8", eventstore.ErrInvalid, what, i)
	}
	for i, e := range b.Events {
		if !storable(e.AggregateType) || !storable(e.AggregateID) || !storable(e.Type) ||
			!storable(e.ResourceOwner) || !storable(e.Creator) {
			return bad("event", i)
		}
	}
	for i, c := range b.Claims {
		if !storable(c.Key) || !storable(c.Owner) {
			return bad("claim", i)
		}
	}
	for i, k := range b.Release {
		if !storable(k) {
			return bad("release", i)
		}
	}
	for i, d := range b.Put {
		if !storable(d.Kind) || !storable(d.ID) || !storable(d.Owner) {
			return bad("put", i)
		}
	}
	for i, d := range b.Delete {
		if !storable(d.Kind) || !storable(d.ID) {
			return bad("delete", i)
		}
	}
	return nil
}
