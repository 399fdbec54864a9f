package api

import "context"

type ctxKey int

const (
	orgKey ctxKey = iota + 1
	requestIDKey
)

// WithOrg records the organization a request acts in (after authorization).
func WithOrg(ctx context.Context, orgID string) context.Context {
	return context.WithValue(ctx, orgKey, orgID)
}

// OrgID returns the organization the request acts in, set by the authorize
// step: the organization header when given, the caller's own otherwise.
func OrgID(ctx context.Context) string {
	s, _ := ctx.Value(orgKey).(string)
	return s
}

// RequestID returns the request's id.
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}
