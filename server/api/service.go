package api

import (
	"context"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// Route mounts an HTTP handler under a path prefix. With StripPrefix the
// handler sees paths relative to the prefix (ZITADEL's v1 REST gateways are
// mounted that way).
type Route struct {
	Prefix      string
	StripPrefix bool
	Handler     http.Handler
	// Refuse writes the route's error body for the requests the server
	// refuses before they reach Handler (a body over the limit, too many
	// token requests, a path that is not UTF-8); nil means the gRPC-gateway
	// status body, ZITADEL's.
	Refuse RefuseFunc
}

// RefuseFunc writes a dialect's error body for a refusal: status is the
// HTTP status, code the matching gRPC code, msg what went wrong. The server
// has set Cache-Control (and Retry-After where it applies).
type RefuseFunc func(w http.ResponseWriter, r *http.Request, status int, code codes.Code, msg string)

// Service is what one API dialect gives the server: its gRPC services, its
// REST routes (served through a client connection to the same services
// behind the same interceptor chain, InProcess, so the chain runs for REST
// too), and its access rules.
type Service interface {
	Name() string
	RegisterGRPC(s grpc.ServiceRegistrar)
	Routes(ctx context.Context, conn grpc.ClientConnInterface) ([]Route, error)
	Rules() map[string]Rule
}
