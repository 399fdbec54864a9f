// Package druid is the DruID (Genetsis) dialect: the activityid MFA API
// (POST /activityid/v1/mfa/delete) and the OAuth2 token endpoint
// /oauth2/token, as reference/druid.md describes them. Handlers only
// translate between DruID's activity bodies and the core in server/mfa.
//
// Where DruID's contract differs from the gateway's defaults, the
// difference lives here: the required headers (From, Content-Type, Accept),
// the {"result":{…}} envelope for every answer, including the chain's
// Unauthenticated, and the 417 of the MFA rule.
package druid

import (
	"context"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	druidv1 "github.com/factorgate/factorgate/gen/factorgate/druid/v1"
	"github.com/factorgate/factorgate/server/api"
	"github.com/factorgate/factorgate/server/mfa"
)

// Service is the DruID dialect.
type Service struct {
	core *mfa.Service
}

var _ api.Service = (*Service)(nil)

// New returns the dialect over the core.
func New(core *mfa.Service) *Service { return &Service{core: core} }

// Name implements api.Service.
func (s *Service) Name() string { return "druid" }

// RegisterGRPC implements api.Service.
func (s *Service) RegisterGRPC(g grpc.ServiceRegistrar) {
	druidv1.RegisterMFAServiceServer(g, &mfaServer{core: s.core})
}

// Rules implements api.Service: every MFA call needs a valid token; who may
// act on which user is the handler's and the core's business (a person
// acts on themselves only).
func (s *Service) Rules() map[string]api.Rule {
	rules := map[string]api.Rule{}
	sd := druidv1.File_factorgate_druid_v1_mfa_service_proto.Services().ByName("MFAService")
	for i := 0; i < sd.Methods().Len(); i++ {
		rules["/"+string(sd.FullName())+"/"+string(sd.Methods().Get(i).Name())] = api.Rule{Permission: mfa.PermAuthenticated}
	}
	return rules
}

// Routes implements api.Service: /activityid/v1 through the gateway (which
// calls the gRPC server over conn, so the interceptor chain runs) behind
// the header check, and /oauth2/token.
//
// The pieces of DruID's contract sit where the gateway offers a hook: the
// header check is a wrapper handler, because it must answer before the
// gateway decodes anything and for every path; the envelope of an error is
// the mux's error handler (WithErrorHandler, WithRoutingErrorHandler),
// which also sets the statuses DruID's contract fixes (417); the envelope
// of a success is the response message itself.
func (s *Service) Routes(ctx context.Context, conn grpc.ClientConnInterface) ([]api.Route, error) {
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: false},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
		}),
		runtime.WithIncomingHeaderMatcher(headerMatcher),
		runtime.WithOutgoingHeaderMatcher(api.RequestIDHeader), // DruID's answers carry no gRPC metadata
		runtime.WithMetadata(func(context.Context, *http.Request) metadata.MD {
			return metadata.Pairs(api.HeaderTransport, "rest")
		}),
		runtime.WithErrorHandler(errorHandler),
		runtime.WithRoutingErrorHandler(routingErrorHandler),
	)
	if err := druidv1.RegisterMFAServiceHandlerClient(ctx, mux, druidv1.NewMFAServiceClient(conn)); err != nil {
		return nil, err
	}
	return []api.Route{
		{Prefix: "/activityid/v1", Handler: requireHeaders(mux), Refuse: refuse},
		{Prefix: "/oauth2", Handler: &tokenEndpoint{core: s.core}, Refuse: api.RefuseOAuth},
	}, nil
}

// headerMatcher forwards the request id besides the gateway's defaults
// (Authorization, and Accept-Language and From as grpcgateway-*). A client
// cannot set the server's own transport label.
func headerMatcher(key string) (string, bool) {
	k := strings.ToLower(key)
	switch {
	case k == api.HeaderRequestID:
		return k, true
	case strings.Contains(k, api.HeaderTransport):
		return "", false
	}
	return runtime.DefaultHeaderMatcher(textproto.CanonicalMIMEHeaderKey(key))
}

// requireHeaders answers 400 in DruID's envelope when a header every
// activityid call needs is missing or unusable: From (the entry point),
// Content-Type (JSON) and Accept (JSON).
func requireHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lang := languageOf(r.Header.Get("Accept-Language"))
		var id string
		switch {
		case strings.TrimSpace(r.Header.Get("From")) == "":
			id = errFromHeader
		case !isJSON(r.Header.Get("Content-Type")):
			id = errContentType
		case !acceptsJSON(r.Header.Get("Accept")):
			id = errAccept
		default:
			next.ServeHTTP(w, r)
			return
		}
		writeEnvelope(w, http.StatusBadRequest, lang, id, "", "")
	})
}

func isJSON(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}

// acceptsJSON reports whether an Accept header admits application/json.
func acceptsJSON(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, params, _ := strings.Cut(part, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		if refused(params) {
			continue
		}
		switch mt {
		case "application/json", "application/*", "*/*":
			return true
		}
	}
	return false
}

// refused reports whether media-type parameters carry q=0 ("not
// acceptable", RFC 9110 §12.4.2).
func refused(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err == nil && q == 0
		}
	}
	return false
}
