package mfa

import (
	"context"
	"time"
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
}

type contextKey int

const principalKey contextKey = 1

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// PrincipalFrom returns the caller, or nil for an unauthenticated context.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey).(*Principal)
	return p
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
