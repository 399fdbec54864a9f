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
