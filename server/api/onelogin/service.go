// Package onelogin is the OneLogin dialect: the v1 (/api/1/users/…) and v2
// (/api/2/mfa/users/…) MFA endpoints and the OAuth2 token and revoke
// endpoints (/auth/oauth2/…), answering with OneLogin's status codes and
// JSON bodies.
//
// The MFA endpoints are gRPC services (factorgate.onelogin.v1 and v2) served
// over REST by grpc-gateway, through the in-process client connection so the
// interceptor chain (authenticate ► scope ► authorize ► validate) runs for
// REST as for gRPC. OneLogin's JSON comes out of the gateway's hooks, one
// mux per version: a marshaler (marshal.go) that writes snake_case keys in
// field order with every field present and 64-bit ids as JSON numbers; the
// http rules' response_body for v2's bare arrays; a forward-response option
// for v2's 201 and 204; and an error handler (errors.go) for the two error
// envelopes and the contract's statuses (v1 answers a missing factor with
// 400, a wrong scope with 401). No hand-written HTTP adapter was needed for
// these. The token endpoints are plain net/http handlers (token.go): they
// are not RPCs of a caller with a token, and their bodies are OAuth's.
package onelogin

import (
	"context"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	oneloginv1 "github.com/factorgate/factorgate/gen/factorgate/onelogin/v1"
	oneloginv2 "github.com/factorgate/factorgate/gen/factorgate/onelogin/v2"
	"github.com/factorgate/factorgate/server/api"
	"github.com/factorgate/factorgate/server/mfa"
)

// Service is the OneLogin dialect.
type Service struct {
	core *mfa.Service
}

var _ api.Service = (*Service)(nil)

// New returns the dialect over the core.
func New(core *mfa.Service) *Service { return &Service{core: core} }

// Name implements api.Service.
func (s *Service) Name() string { return "onelogin" }

// RegisterGRPC implements api.Service.
func (s *Service) RegisterGRPC(g grpc.ServiceRegistrar) {
	oneloginv1.RegisterMFAServiceServer(g, &v1Server{core: s.core})
	oneloginv2.RegisterMFAServiceServer(g, &v2Server{core: s.core})
	oneloginv1.RegisterCredentialServiceServer(g, &credentialServer{core: s.core})
}

// The scopes of OneLogin's MFA endpoints (reference/onelogin.md §4, §6, §9).
var (
	readScopes   = []string{mfa.ScopeReadUsers, mfa.ScopeManageUsers, mfa.ScopeReadAll, mfa.ScopeManageAll}
	manageScopes = []string{mfa.ScopeManageUsers, mfa.ScopeManageAll}
	// v2 MFA is Manage All only. For the v2 devices list the docs are
	// inconsistent; the spec's Manage All is what is enforced.
	manageAll = []string{mfa.ScopeManageAll}
)

// Rules implements api.Service: each RPC's scopes and core permission. The
// token's organization is the one it acts in (no organization header is
// forwarded on OneLogin routes).
func (s *Service) Rules() map[string]api.Rule {
	return map[string]api.Rule{
		oneloginv1.MFAService_GetAvailableFactors_FullMethodName: {Permission: mfa.PermUserRead, Scopes: readScopes},
		oneloginv1.MFAService_GetEnrolledFactors_FullMethodName:  {Permission: mfa.PermUserRead, Scopes: readScopes},
		oneloginv1.MFAService_EnrollFactor_FullMethodName:        {Permission: mfa.PermUserCredentialWrite, Scopes: manageScopes},
		oneloginv1.MFAService_VerifyFactor_FullMethodName:        {Permission: mfa.PermUserCredentialWrite, Scopes: manageScopes},
		oneloginv1.MFAService_RemoveFactor_FullMethodName:        {Permission: mfa.PermUserWrite, Scopes: manageScopes},

		oneloginv2.MFAService_GetAvailableFactors_FullMethodName: {Permission: mfa.PermUserRead, Scopes: manageAll},
		oneloginv2.MFAService_GetEnrolledFactors_FullMethodName:  {Permission: mfa.PermUserRead, Scopes: manageAll},
		oneloginv2.MFAService_RemoveFactor_FullMethodName:        {Permission: mfa.PermUserWrite, Scopes: manageAll},
		oneloginv2.MFAService_CreateRegistration_FullMethodName:  {Permission: mfa.PermUserCredentialWrite, Scopes: manageAll},
		oneloginv2.MFAService_VerifyRegistration_FullMethodName:  {Permission: mfa.PermUserCredentialWrite, Scopes: manageAll},

		// Creating a credential hands out its scope's role: the caller
		// needs org.member.write there, whatever its token's scopes.
		oneloginv1.CredentialService_CreateCredential_FullMethodName: {Permission: mfa.PermOrgMemberWrite, OrgFromRequest: credentialOrg},
	}
}

// Routes implements api.Service.
func (s *Service) Routes(ctx context.Context, conn grpc.ClientConnInterface) ([]api.Route, error) {
	v1Mux, v2Mux := newGatewayMux(1), newGatewayMux(2)
	if err := oneloginv1.RegisterMFAServiceHandlerClient(ctx, v1Mux, oneloginv1.NewMFAServiceClient(conn)); err != nil {
		return nil, err
	}
	if err := oneloginv1.RegisterCredentialServiceHandlerClient(ctx, v1Mux, oneloginv1.NewCredentialServiceClient(conn)); err != nil {
		return nil, err
	}
	if err := oneloginv2.RegisterMFAServiceHandlerClient(ctx, v2Mux, oneloginv2.NewMFAServiceClient(conn)); err != nil {
		return nil, err
	}
	return []api.Route{
		{Prefix: "/api/1", Handler: normalizeBearer(v1Mux), Refuse: refuseV1},
		{Prefix: "/api/2", Handler: normalizeBearer(v2Mux), Refuse: refuseV2},
		{Prefix: "/auth/oauth2", Handler: &tokenEndpoint{core: s.core}, Refuse: refuseToken},
	}, nil
}

func newGatewayMux(version int) *runtime.ServeMux {
	return runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, marshaler{}),
		runtime.WithForwardResponseOption(successStatus),
		runtime.WithErrorHandler(errorHandler(version)),
		runtime.WithRoutingErrorHandler(routingErrorHandler(version)),
		runtime.WithIncomingHeaderMatcher(headerMatcher),
		// The gateway would forward gRPC metadata as Grpc-Metadata-*
		// headers; OneLogin sends none of those. The request id goes back
		// as X-Request-Id.
		runtime.WithOutgoingHeaderMatcher(api.RequestIDHeader),
		runtime.WithMetadata(func(context.Context, *http.Request) metadata.MD {
			return metadata.Pairs(api.HeaderTransport, "rest")
		}),
	)
}

// headerMatcher forwards the Authorization header and the request id,
// nothing else: in particular no organization header, so a OneLogin token
// always acts in its own organization.
func headerMatcher(key string) (string, bool) {
	switch k := strings.ToLower(key); k {
	case "authorization", api.HeaderRequestID:
		return k, true
	}
	return "", false
}

// successStatus answers v2 registrations with 201 and v2 removal with 204
// (no body: the marshaler writes none for it).
func successStatus(_ context.Context, w http.ResponseWriter, m proto.Message) error {
	switch m.(type) {
	case *oneloginv2.CreateRegistrationResponse:
		w.WriteHeader(http.StatusCreated)
	case *oneloginv2.RemoveFactorResponse:
		w.Header().Del("Content-Type")
		w.WriteHeader(http.StatusNoContent)
	}
	return nil
}

// normalizeBearer rewrites the Authorization spellings OneLogin's docs and
// SDKs use (reference/onelogin.md §10: "Bearer x", "bearer x", "bearer:x",
// "bearer: x") to "Bearer x" before the gateway, so the one parser of the
// interceptor chain stays strict for every other dialect.
func normalizeBearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("Authorization"); v != "" {
			if token, ok := bearerToken(v); ok {
				r.Header.Set("Authorization", "Bearer "+token)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// bearerToken reads "bearer" (any case), then a colon and/or blanks, then
// the token.
func bearerToken(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if len(v) < len("bearer")+1 || !strings.EqualFold(v[:len("bearer")], "bearer") {
		return "", false
	}
	rest := v[len("bearer"):]
	if c := rest[0]; c != ' ' && c != '\t' && c != ':' {
		return "", false
	}
	rest = strings.TrimLeft(rest, " \t")
	rest = strings.TrimPrefix(rest, ":")
	rest = strings.TrimSpace(rest)
	if rest == "" || strings.ContainsAny(rest, " \t") {
		return "", false
	}
	return rest, true
}
