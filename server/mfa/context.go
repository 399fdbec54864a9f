package mfa

import (
	"context"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
)

// Principal is the authenticated caller of a request.
type Principal struct {
	UserID   string
	OrgID    string // the organization the caller's user belongs to
	TokenID  string
	Machine  bool
	Scopes   []string
	AuthTime time.Time // when the user authenticated for this token
	AMR      []string  // how: "pwd", "pat", "client_secret", …
	Expires  time.Time

	// access holds the organization, instance and named person's
	// documents read together with the token, in the same read of the
	// store (see readToken), for the request's snapshot; nil when they
	// were not read.
	access *accessSnapshot
}

type contextKey int

const principalKey contextKey = 1

// callerContext is what a context carries about its caller: the principal
// and, for one API request, the access snapshot (see WithRequestPrincipal).
type callerContext struct {
	p    *Principal
	snap *accessSnapshot
}

// accessSnapshot holds the organization and instance documents that
// Authorize read for one request, so that the command's own permission
// check in that request decides on the same documents without reading and
// decoding them again. It lives exactly as long as the request's context:
// nothing is shared between requests, so no request ever sees a document
// older than the moment it was authorized. The documents are read-only.
type accessSnapshot struct {
	orgID    string
	org      *orgState
	instance *instanceState

	// user is the document of the person the request names (WithReadAhead),
	// read together with the token; userID names it and userRead says it
	// was read (user is the zero Doc when there is none). Every load of
	// that person by the request takes it until the request writes: a
	// write, or a try that lost a race, drops it (see load and commit).
	// Until then the request reads the person as of one moment after it
	// began, as its permission checks read the organization and the
	// instance; what it decides on that state commits only if the person
	// is still at that sequence (the store's check), and a retry after a
	// lost race reads the store.
	userID   string
	user     eventstore.Doc
	userRead bool
}

// aheadUser returns the read-ahead document of person id while the
// request has not written.
func (a *accessSnapshot) aheadUser(id string) (eventstore.Doc, bool) {
	if a == nil || !a.userRead || a.userID != id {
		return eventstore.Doc{}, false
	}
	return a.user, true
}

// dropUser forgets the read-ahead document (the request wrote).
func (a *accessSnapshot) dropUser() {
	if a != nil {
		a.userRead = false
	}
}

type readAheadKey struct{}

// WithReadAhead names the person a request acts on (its user_id), before
// Authenticate: when Authenticate reads a known token together with the
// caller's organization and the instance, it reads that person's document
// in the same read of the store, for the request's loads of it until it
// writes.
func WithReadAhead(ctx context.Context, userID string) context.Context {
	if userID == "" {
		return ctx
	}
	return context.WithValue(ctx, readAheadKey{}, userID)
}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey, &callerContext{p: p})
}

// WithRequestPrincipal returns a context carrying p for one API request:
// the permission checks of that request (the chain's Authorize and the
// command's own check) share the organization and instance documents they
// read, instead of loading and decoding them twice. Use it once per
// request, never for a context that outlives the request.
//
// The snapshot starts with the documents Authenticate read together with
// the token, when it did.
func WithRequestPrincipal(ctx context.Context, p *Principal) context.Context {
	snap := &accessSnapshot{}
	if p != nil && p.access != nil {
		*snap = *p.access
	}
	return context.WithValue(ctx, principalKey, &callerContext{p: p, snap: snap})
}

// PrincipalFrom returns the caller, or nil for an unauthenticated context.
func PrincipalFrom(ctx context.Context) *Principal {
	if c, _ := ctx.Value(principalKey).(*callerContext); c != nil {
		return c.p
	}
	return nil
}

func snapshotFrom(ctx context.Context) *accessSnapshot {
	if c, _ := ctx.Value(principalKey).(*callerContext); c != nil {
		return c.snap
	}
	return nil
}

func creatorOf(ctx context.Context) string {
	if p := PrincipalFrom(ctx); p != nil {
		return p.UserID
	}
	return "system"
}

// Origin says through which API a command came: the dialect ("zitadel",
// "onelogin", "druid"), the RPC (its full gRPC method name) and the
// transport ("grpc", "grpc-web", "rest"). Removals record it in their
// event, so a user's factor history says who removed what, when, and from
// where.
type Origin struct {
	Dialect   string `json:"dialect"`
	Method    string `json:"method"`
	Transport string `json:"transport"`
}

const originKey contextKey = 2

// WithOrigin returns a context carrying o.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey, o)
}

// OriginFrom returns the API a command came through, or nil when it did
// not come through one (bootstrap, tests calling the core).
func OriginFrom(ctx context.Context) *Origin {
	if o, ok := ctx.Value(originKey).(Origin); ok {
		return &o
	}
	return nil
}
