// Package eventstore is factorgate's domain-agnostic event log.
//
// A Store appends events to aggregates and, in the same transaction, takes
// unique claims and writes read-model documents. Nothing is projected
// asynchronously: once Append returns, every Get, List and Load sees the
// batch (read-your-writes by construction).
//
// The store does not interpret payloads or documents; the domain computes
// them. The store enforces exactly three rules, and keeps one document of
// its own (the generation, see GenerationKind):
//
//   - per-aggregate sequences are contiguous and start at 1: the first event a
//     batch appends to an aggregate must carry the sequence after the one
//     stored, otherwise Append fails with ErrConflict and writes nothing;
//   - a claim key is held by at most one owner: claiming a key that another
//     owner holds fails with ErrClaimed and writes nothing (claiming a key
//     one already holds is a no-op);
//   - a batch is all or nothing.
//
// The contract is pinned down by the suite in package eventstoretest, which
// every implementation runs.
package eventstore

import (
	"context"
	"errors"
	"time"
)

// Errors returned by every Store implementation. Callers test them with
// errors.Is.
var (
	// ErrConflict: an event's sequence is not the next one of its aggregate
	// (another writer appended first). The caller reloads and retries.
	ErrConflict = errors.New("eventstore: aggregate sequence conflict")
	// ErrClaimed: a unique claim in the batch is held by another owner.
	ErrClaimed = errors.New("eventstore: unique claim already held")
	// ErrNotFound: Get found no document with that kind and id.
	ErrNotFound = errors.New("eventstore: not found")
	// ErrUnavailable: the store's database cannot be reached right now
	// (connection refused or lost, server restarting). The call may
	// succeed later; an Append that fails with it while committing may
	// have been applied.
	ErrUnavailable = errors.New("eventstore: store unavailable")
	// ErrInvalid: the batch is malformed (empty aggregate, zero sequence,
	// events of one aggregate not contiguous within the batch, …). Retrying
	// the same batch cannot succeed. See CheckBatch.
	ErrInvalid = errors.New("eventstore: invalid batch")
)

// Event is one immutable fact about one aggregate.
type Event struct {
	// Position is the global, store-assigned order of the event (strictly
	// increasing in commit order within one store, and in slice order within
	// one batch). Ignored on Append.
	Position int64
	// AggregateType and AggregateID name the stream, e.g. "user", "123".
	AggregateType string
	AggregateID   string
	// Sequence is the event's 1-based position within its aggregate.
	Sequence uint64
	// Type is a dotted past-tense name, e.g. "user.human.mfa.otp.removed".
	Type string
	// Version is the payload schema version of Type.
	Version int
	// ResourceOwner is the organization (or instance) owning the aggregate.
	ResourceOwner string
	// Creator is the id of the user who caused the event ("system" for
	// bootstrap).
	Creator string
	// CreatedAt is set by the caller (one clock reading per command). Stores
	// keep it in UTC truncated to the microsecond; the events Append returns
	// carry that stored value, so they equal what Load returns later.
	CreatedAt time.Time
	// Payload is the JSON body; nil or empty means no payload (stores return
	// nil for it).
	Payload []byte
}

// Doc is one read-model row, written in the same transaction as the events
// that produced it.
type Doc struct {
	Kind string // e.g. "user", "token", "member"
	ID   string // unique within Kind
	// Owner groups documents for List, e.g. the organization id.
	Owner string
	Data  []byte // JSON; opaque to the store; stores return nil for empty
}

// DocKey names a document to delete.
type DocKey struct {
	Kind string
	ID   string
}

// The generation document. A store keeps one document of its own, under
// GenerationKey: from the moment Watch(kinds...) returns, every transaction
// that puts a document of a watched kind, or deletes a stored one, also
// replaces the generation document's Data with a new random value (16
// bytes). So a reader that read the generation, and after it (or in the
// same GetMany, first) the documents of watched kinds it needs, may keep
// those documents: for as long as a later read finds the same generation,
// none of them has changed. The SQL stores keep this rule with triggers,
// so every writer of the database keeps it, whatever its version. Before
// the first change of a watched document the generation document does not
// exist (GetMany returns a zero Doc for it), which is a generation like
// any other. No batch may put or delete it (ErrInvalid).
const GenerationKind = "$generation"

// GenerationKey names the generation document.
var GenerationKey = DocKey{Kind: GenerationKind, ID: "watched"}

// Claim reserves a unique key (e.g. "username:<org>:<name>") for an owner.
type Claim struct {
	Key   string
	Owner string
}

// Batch is everything one command writes, applied atomically.
//
// The parts are applied in this order: Events, Release, Claims, Delete, Put.
// So a batch may hand a claim over (release a key and claim it again for
// another owner), and a batch that deletes and puts the same document leaves
// the put. Within Claims and Put, entries apply in slice order (two claims
// of one key for different owners fail with ErrClaimed; the last put of a
// document wins).
//
// Events of one aggregate may be interleaved with events of others, but
// their sequences must increase by one in slice order. An empty batch is a
// no-op.
type Batch struct {
	Events  []Event
	Claims  []Claim  // keys to take
	Release []string // keys to give back (no error when not held)
	Put     []Doc    // upserts
	Delete  []DocKey // deletes (no error when missing)
}

// Store is implemented by the in-memory, SQLite and PostgreSQL stores. All
// methods are safe for concurrent use.
type Store interface {
	// Append writes the batch atomically. It returns the stored events with
	// Position filled in.
	Append(ctx context.Context, b Batch) ([]Event, error)
	// Load returns the events of one aggregate with Sequence > after, in
	// sequence order (nil, not an error, when there are none).
	Load(ctx context.Context, aggregateType, aggregateID string, after uint64) ([]Event, error)
	// Get returns one document or ErrNotFound.
	Get(ctx context.Context, kind, id string) (Doc, error)
	// GetMany reads several documents at one moment, in one read
	// transaction (one statement's worth of round trips): for each key, in
	// order, its document, or a zero Doc (empty Kind) when there is none.
	GetMany(ctx context.Context, keys []DocKey) ([]Doc, error)
	// List returns documents of kind owned by owner with ID > after, in
	// ascending ID order (byte-wise), at most limit of them (limit <= 0: all).
	List(ctx context.Context, kind, owner, after string, limit int) ([]Doc, error)
	// Watch adds kinds to the watched kinds of the generation document (see
	// GenerationKind) and gives the generation a new value. The watched
	// kinds are kept with the data (a SQL store keeps them in the database,
	// for every process writing it); none is ever removed. An empty kind or
	// GenerationKind is ErrInvalid.
	Watch(ctx context.Context, kinds ...string) error
	// ClaimOwner returns the owner of a claim key or ErrNotFound.
	ClaimOwner(ctx context.Context, key string) (string, error)
	// Close releases the store's resources. Calling it again is harmless.
	Close() error
}
