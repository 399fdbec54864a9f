package mfa

import (
	"bytes"
	"context"
	"errors"
	"sync"

	"github.com/factorgate/factorgate/server/eventstore"
)

// docCache keeps the decoded form of documents that requests read but do
// not change (tokens, and organizations and the instance when they are read
// for a permission decision) next to the exact bytes they were decoded
// from. It is not a cache of the data: every lookup still reads the
// document from the store, so a change or deletion made through any
// replica is seen by the next request (the staleness bound stays zero).
// Only when the stored bytes equal the remembered ones, byte for byte, is
// the decoded value reused instead of decoding the JSON again. Cached values
// are shared between requests and must never be modified.
type docCache struct {
	mu sync.RWMutex
	m  map[docKey]decodedDoc
}

type docKey struct{ kind, id string }

type decodedDoc struct {
	raw []byte
	val any
}

// docCacheSize bounds the entries; a full cache starts over (the next
// requests decode again), which keeps the code trivially correct.
const docCacheSize = 8192

func (c *docCache) get(kind, id string, raw []byte) (any, bool) {
	c.mu.RLock()
	d, ok := c.m[docKey{kind, id}]
	c.mu.RUnlock()
	if !ok || !bytes.Equal(d.raw, raw) {
		return nil, false
	}
	return d.val, true
}

// peek returns the value decoded last for a document, whatever bytes the
// store holds now. Only a field that never changes may be taken from it
// (a token's organization, see readToken).
func (c *docCache) peek(kind, id string) (any, bool) {
	c.mu.RLock()
	d, ok := c.m[docKey{kind, id}]
	c.mu.RUnlock()
	return d.val, ok
}

func (c *docCache) put(kind, id string, raw []byte, val any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= docCacheSize {
		c.m = make(map[docKey]decodedDoc, 64)
	}
	c.m[docKey{kind, id}] = decodedDoc{raw: bytes.Clone(raw), val: val}
}

// loadShared reads a document and returns its decoded value, reusing the
// value decoded before when the stored bytes are unchanged. ok is false
// when the document does not exist. The result is read-only.
func loadShared[T any](ctx context.Context, s *Service, kind, id, loadErrID, decodeErrID string) (_ *T, ok bool, _ error) {
	d, err := s.store.Get(ctx, kind, id)
	if errors.Is(err, eventstore.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, storeErr(loadErrID, err)
	}
	t, err := decodeShared[T](s, d, decodeErrID)
	return t, err == nil, err
}

// decodeShared returns the decoded value of a document that was read,
// reusing the value decoded before when its bytes are unchanged. The
// result is read-only.
func decodeShared[T any](s *Service, d eventstore.Doc, decodeErrID string) (*T, error) {
	if v, hit := s.decoded.get(d.Kind, d.ID, d.Data); hit {
		if t, isT := v.(*T); isT {
			return t, nil
		}
	}
	t := new(T)
	if err := decodeDoc(d.Data, t); err != nil {
		return nil, internal(decodeErrID, err)
	}
	s.decoded.put(d.Kind, d.ID, d.Data, t)
	return t, nil
}
