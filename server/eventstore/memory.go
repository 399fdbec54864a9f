package eventstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
)

// errClosed is returned by a Memory store after Close.
var errClosed = errors.New("eventstore: memory store closed")

// Memory is an in-memory Store for tests and development. It keeps
// everything in maps guarded by one lock; nothing survives the process.
// The zero value is not usable; call NewMemory.
type Memory struct {
	mu       sync.RWMutex
	closed   bool
	position int64
	streams  map[streamKey][]Event     // events by aggregate, index = Sequence-1
	claims   map[string]string         // key → owner
	docs     map[string]map[string]Doc // kind → id → doc
	watched  map[string]bool           // kinds whose changes replace the generation
}

type streamKey struct{ typ, id string }

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{
		streams: make(map[streamKey][]Event),
		claims:  make(map[string]string),
		docs:    make(map[string]map[string]Doc),
	}
}

// Append implements Store.
func (m *Memory) Append(ctx context.Context, b Batch) ([]Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: append: %w", err)
	}
	if err := CheckBatch(b); err != nil {
		return nil, fmt.Errorf("memory: append: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("memory: append: %w", errClosed)
	}

	// Check everything that can fail before changing anything.
	seen := make(map[streamKey]bool)
	for _, e := range b.Events {
		k := streamKey{e.AggregateType, e.AggregateID}
		if seen[k] {
			continue // contiguity within the batch is checked by CheckBatch
		}
		seen[k] = true
		if stored := uint64(len(m.streams[k])); e.Sequence != stored+1 {
			return nil, fmt.Errorf("memory: append: %w: %s/%s is at sequence %d, batch starts at %d",
				ErrConflict, e.AggregateType, e.AggregateID, stored, e.Sequence)
		}
	}
	var claims map[string]string // claim keys as the batch leaves them; "" = released
	if len(b.Release)+len(b.Claims) > 0 {
		claims = make(map[string]string, len(b.Release)+len(b.Claims))
	}
	for _, key := range b.Release {
		claims[key] = ""
	}
	for _, c := range b.Claims {
		owner, ok := claims[c.Key]
		if !ok {
			owner = m.claims[c.Key]
		}
		if owner != "" && owner != c.Owner {
			return nil, fmt.Errorf("memory: append: %w: %q", ErrClaimed, c.Key)
		}
		claims[c.Key] = c.Owner
	}

	// Apply.
	out := make([]Event, len(b.Events))
	for i, e := range b.Events {
		m.position++
		e.Position = m.position
		e.CreatedAt = NormalizeTime(e.CreatedAt)
		e.Payload = Clone(e.Payload)
		k := streamKey{e.AggregateType, e.AggregateID}
		m.streams[k] = append(m.streams[k], e)
		out[i] = e
		out[i].Payload = Clone(e.Payload)
	}
	for key, owner := range claims {
		if owner == "" {
			delete(m.claims, key)
		} else {
			m.claims[key] = owner
		}
	}
	changed := false // a watched document changed
	for _, k := range b.Delete {
		if _, ok := m.docs[k.Kind][k.ID]; ok {
			changed = changed || m.watched[k.Kind]
			delete(m.docs[k.Kind], k.ID)
		}
	}
	for _, d := range b.Put {
		changed = changed || m.watched[d.Kind]
		byID := m.docs[d.Kind]
		if byID == nil {
			byID = make(map[string]Doc)
			m.docs[d.Kind] = byID
		}
		d.Data = Clone(d.Data)
		byID[d.ID] = d
	}
	if changed {
		m.newGeneration()
	}
	return out, nil
}

// newGeneration gives the generation document a new random value; m.mu
// must be held.
func (m *Memory) newGeneration() {
	gen := make([]byte, 16)
	_, _ = rand.Read(gen) // crypto/rand.Read never fails
	m.docs[GenerationKind] = map[string]Doc{GenerationKey.ID: {Kind: GenerationKind, ID: GenerationKey.ID, Data: gen}}
}

// Watch implements Store.
func (m *Memory) Watch(ctx context.Context, kinds ...string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: watch: %w", err)
	}
	if err := CheckWatch(kinds); err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("memory: watch: %w", errClosed)
	}
	if m.watched == nil {
		m.watched = make(map[string]bool, len(kinds))
	}
	for _, k := range kinds {
		m.watched[k] = true
	}
	m.newGeneration()
	return nil
}

// rlock takes the read lock for op, unless ctx is done or the store is
// closed: then it returns the error and holds no lock.
func (m *Memory) rlock(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return fmt.Errorf("memory: %s: %w", op, errClosed)
	}
	return nil
}

// Load implements Store.
func (m *Memory) Load(ctx context.Context, aggregateType, aggregateID string, after uint64) ([]Event, error) {
	if err := m.rlock(ctx, "load"); err != nil {
		return nil, err
	}
	defer m.mu.RUnlock()
	stream := m.streams[streamKey{aggregateType, aggregateID}]
	if after >= uint64(len(stream)) {
		return nil, nil
	}
	out := slices.Clone(stream[after:])
	for i := range out {
		out[i].Payload = Clone(out[i].Payload)
	}
	return out, nil
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, kind, id string) (Doc, error) {
	if err := m.rlock(ctx, "get"); err != nil {
		return Doc{}, err
	}
	defer m.mu.RUnlock()
	d, ok := m.docs[kind][id]
	if !ok {
		return Doc{}, fmt.Errorf("memory: get %s/%s: %w", kind, id, ErrNotFound)
	}
	d.Data = Clone(d.Data)
	return d, nil
}

// GetMany implements Store.
func (m *Memory) GetMany(ctx context.Context, keys []DocKey) ([]Doc, error) {
	if err := m.rlock(ctx, "get"); err != nil {
		return nil, err
	}
	defer m.mu.RUnlock()
	out := make([]Doc, len(keys))
	for i, k := range keys {
		if d, ok := m.docs[k.Kind][k.ID]; ok {
			d.Data = Clone(d.Data)
			out[i] = d
		}
	}
	return out, nil
}

// List implements Store.
func (m *Memory) List(ctx context.Context, kind, owner, after string, limit int) ([]Doc, error) {
	if err := m.rlock(ctx, "list"); err != nil {
		return nil, err
	}
	defer m.mu.RUnlock()
	var out []Doc
	for id, d := range m.docs[kind] {
		if d.Owner == owner && id > after {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if limit > 0 && len(out) > limit {
		out = out[:limit:limit]
	}
	for i := range out {
		out[i].Data = Clone(out[i].Data)
	}
	return out, nil
}

// ClaimOwner implements Store.
func (m *Memory) ClaimOwner(ctx context.Context, key string) (string, error) {
	if err := m.rlock(ctx, "claim owner"); err != nil {
		return "", err
	}
	defer m.mu.RUnlock()
	owner, ok := m.claims[key]
	if !ok {
		return "", fmt.Errorf("memory: claim %q: %w", key, ErrNotFound)
	}
	return owner, nil
}

// Close implements Store. It drops the data; later calls fail.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.streams, m.claims, m.docs = nil, nil, nil
	return nil
}
