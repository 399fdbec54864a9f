package api

import (
	"context"
	"net/http"

	"google.golang.org/grpc"
)

// Route mounts an HTTP handler under a path prefix. With StripPrefix the
// handler sees paths relative to the prefix (ZITADEL's v1 REST gateways are
// mounted that way).
type Route struct {
	Prefix      string
	StripPrefix bool
	Handler     http.Handler
}

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
