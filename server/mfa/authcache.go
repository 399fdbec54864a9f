package mfa

import "sync"

// authCache keeps, on this node, the documents that authentication and the
// permission checks of a request read: tokens (by hash), their
// organizations and the instance, together with the store's generation
// (eventstore.GenerationKind) read before them. Bootstrap has the store
// watch those three kinds, so every change of one of them, by any writer of
// the database (other replicas, other versions, the CLI), gives the
// generation a new random value in the same transaction. A request reads
// the generation (with the person it names, in one read) and takes the
// documents from here only when the generation is still the one they were
// kept with: then none of them has changed since they were read, and the
// request decides exactly as if it had read them again. A token revoked or
// a membership removed through any node is refused by the very next
// request on every node: the bound stays zero.
//
// Entries are decoded values shared between requests; they are never
// modified.
type authCache struct {
	mu       sync.RWMutex
	gen      string // the generation every entry was read at or after
	tokens   map[string]*tokenDoc
	orgs     map[string]*orgState
	instance *instanceState
}

// authCacheSize bounds the tokens kept; a full cache starts over.
const authCacheSize = 8192

// lookup returns the kept token with hash, its organization and the
// instance, and the generation they were kept with.
func (c *authCache) lookup(hash string) (gen string, td *tokenDoc, org *orgState, in *instanceState, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	td = c.tokens[hash]
	if td == nil || c.instance == nil {
		return "", nil, nil, nil, false
	}
	org = c.orgs[td.OrgID]
	if org == nil {
		return "", nil, nil, nil, false
	}
	return c.gen, td, org, c.instance, true
}

// keep records a token, its organization and the instance, all read after
// (or in one snapshot with) the generation gen. Entries of another
// generation are dropped.
func (c *authCache) keep(gen, hash string, td *tokenDoc, org *orgState, in *instanceState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.tokens == nil || len(c.tokens) >= authCacheSize {
		c.gen = gen
		c.tokens = make(map[string]*tokenDoc, 64)
		c.orgs = make(map[string]*orgState, 8)
	}
	c.tokens[hash] = td
	c.orgs[td.OrgID] = org
	c.instance = in
}
