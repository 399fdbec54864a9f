// Package zitadel is the ZITADEL dialect: the management.v1, admin.v1,
// auth.v1, org.v2, user.v2 (and v2beta) services and the v3alpha
// authenticator calls (resources.user.v3alpha and the superseded
// user.v3alpha), wire-compatible with ZITADEL's, over gRPC, gRPC-Web and
// REST (grpc-gateway). Handlers only translate between the
// protos and the core in server/mfa.
package zitadel

import (
	"context"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/factorgate/factorgate/gen/zitadel/admin"
	"github.com/factorgate/factorgate/gen/zitadel/auth"
	"github.com/factorgate/factorgate/gen/zitadel/authoption"
	mgmt "github.com/factorgate/factorgate/gen/zitadel/management"
	"github.com/factorgate/factorgate/gen/zitadel/message"
	orgv2 "github.com/factorgate/factorgate/gen/zitadel/org/v2"
	protocv2 "github.com/factorgate/factorgate/gen/zitadel/protoc/v2"
	resuser "github.com/factorgate/factorgate/gen/zitadel/resources/user/v3alpha"
	userv2 "github.com/factorgate/factorgate/gen/zitadel/user/v2"
	userv2beta "github.com/factorgate/factorgate/gen/zitadel/user/v2beta"
	userv3alpha "github.com/factorgate/factorgate/gen/zitadel/user/v3alpha"
	"github.com/factorgate/factorgate/server/api"
	"github.com/factorgate/factorgate/server/mfa"
)

// OrgHeader selects the organization a management call acts in.
const OrgHeader = "x-zitadel-orgid"

// Service is the ZITADEL dialect.
type Service struct {
	core *mfa.Service
}

var _ api.Service = (*Service)(nil)

// New returns the dialect over the core.
func New(core *mfa.Service) *Service { return &Service{core: core} }

// Name implements api.Service.
func (s *Service) Name() string { return "zitadel" }

// Detail is the status detail ZITADEL attaches to its errors.
func Detail(id, msg string) proto.Message { return &message.ErrorDetail{Id: id, Message: msg} }

// RegisterGRPC implements api.Service.
func (s *Service) RegisterGRPC(g grpc.ServiceRegistrar) {
	mgmt.RegisterManagementServiceServer(g, &managementServer{core: s.core})
	admin.RegisterAdminServiceServer(g, &adminServer{core: s.core})
	orgv2.RegisterOrganizationServiceServer(g, &orgServer{core: s.core})
	userv2.RegisterUserServiceServer(g, &userServer{core: s.core})
	userv2beta.RegisterUserServiceServer(g, &userV2BetaServer{core: s.core})
	resuser.RegisterZITADELUsersServer(g, &resourceUserServer{core: s.core})
	userv3alpha.RegisterUserServiceServer(g, &userV3AlphaServer{core: s.core})
	auth.RegisterAuthServiceServer(g, &authServer{core: s.core})
}

// services lists the descriptors of the services this dialect serves.
func services() []protoreflect.ServiceDescriptor {
	return []protoreflect.ServiceDescriptor{
		mgmt.File_zitadel_management_proto.Services().ByName("ManagementService"),
		admin.File_zitadel_admin_proto.Services().ByName("AdminService"),
		orgv2.File_zitadel_org_v2_org_service_proto.Services().ByName("OrganizationService"),
		userv2.File_zitadel_user_v2_user_service_proto.Services().ByName("UserService"),
		userv2beta.File_zitadel_user_v2beta_user_service_proto.Services().ByName("UserService"),
		resuser.File_zitadel_resources_user_v3alpha_user_service_proto.Services().ByName("ZITADELUsers"),
		userv3alpha.File_zitadel_user_v3alpha_user_service_proto.Services().ByName("UserService"),
		auth.File_zitadel_auth_proto.Services().ByName("AuthService"),
	}
}

// Rules implements api.Service: each method's permission comes from its
// auth option in the proto (v1: zitadel.v1.auth_option; v2:
// zitadel.protoc_gen_zitadel.v2.options), as in ZITADEL.
func (s *Service) Rules() map[string]api.Rule {
	rules := map[string]api.Rule{}
	for _, sd := range services() {
		for i := 0; i < sd.Methods().Len(); i++ {
			md := sd.Methods().Get(i)
			full := "/" + string(sd.FullName()) + "/" + string(md.Name())
			opts := md.Options()
			rule := api.Rule{Permission: mfa.PermAuthenticated}
			if v1, ok := proto.GetExtension(opts, authoption.E_AuthOption).(*authoption.AuthOption); ok && v1 != nil && v1.GetPermission() != "" {
				rule.Permission = v1.GetPermission()
			}
			if v2, ok := proto.GetExtension(opts, protocv2.E_Options).(*protocv2.Options); ok && v2 != nil {
				if p := v2.GetAuthOption().GetPermission(); p != "" {
					rule.Permission = p
				}
				if f := v2.GetAuthOption().GetOrgField(); f != "" {
					rule.OrgFromRequest = orgField(protoreflect.Name(f))
				}
			}
			rules[full] = rule
		}
	}
	return rules
}

// orgField reads an organization id from a request field of type
// zitadel.object.v2.Organization (its org_id).
func orgField(name protoreflect.Name) func(req any) string {
	return func(req any) string {
		m, ok := req.(proto.Message)
		if !ok {
			return ""
		}
		r := m.ProtoReflect()
		fd := r.Descriptor().Fields().ByName(name)
		if fd == nil || fd.Message() == nil || !r.Has(fd) {
			return ""
		}
		org := r.Get(fd).Message()
		id := org.Descriptor().Fields().ByName("org_id")
		if id == nil || !org.Has(id) {
			return ""
		}
		return org.Get(id).String()
	}
}

// Routes implements api.Service: ZITADEL's REST gateways. The v1 services
// are mounted under their prefixes with the prefix stripped (their proto
// paths are relative); v2, v2beta and both v3alpha paths are absolute and
// share one mux.
func (s *Service) Routes(ctx context.Context, conn grpc.ClientConnInterface) ([]api.Route, error) {
	success := successCodes()
	mgmtMux, adminMux, authMux, v2Mux := newGatewayMux(success), newGatewayMux(success), newGatewayMux(success), newGatewayMux(success)
	if err := mgmt.RegisterManagementServiceHandlerClient(ctx, mgmtMux, mgmt.NewManagementServiceClient(conn)); err != nil {
		return nil, err
	}
	if err := admin.RegisterAdminServiceHandlerClient(ctx, adminMux, admin.NewAdminServiceClient(conn)); err != nil {
		return nil, err
	}
	if err := orgv2.RegisterOrganizationServiceHandlerClient(ctx, v2Mux, orgv2.NewOrganizationServiceClient(conn)); err != nil {
		return nil, err
	}
	if err := userv2.RegisterUserServiceHandlerClient(ctx, v2Mux, userv2.NewUserServiceClient(conn)); err != nil {
		return nil, err
	}
	if err := userv2beta.RegisterUserServiceHandlerClient(ctx, v2Mux, userv2beta.NewUserServiceClient(conn)); err != nil {
		return nil, err
	}
	if err := resuser.RegisterZITADELUsersHandlerClient(ctx, v2Mux, resuser.NewZITADELUsersClient(conn)); err != nil {
		return nil, err
	}
	if err := userv3alpha.RegisterUserServiceHandlerClient(ctx, v2Mux, userv3alpha.NewUserServiceClient(conn)); err != nil {
		return nil, err
	}
	if err := auth.RegisterAuthServiceHandlerClient(ctx, authMux, auth.NewAuthServiceClient(conn)); err != nil {
		return nil, err
	}
	return []api.Route{
		{Prefix: "/management/v1", StripPrefix: true, Handler: mgmtMux},
		{Prefix: "/admin/v1", StripPrefix: true, Handler: adminMux},
		{Prefix: "/auth/v1", StripPrefix: true, Handler: authMux},
		{Prefix: "/v2", Handler: v2Mux},
		{Prefix: "/v2beta", Handler: v2Mux},
		{Prefix: "/resources/v3alpha", Handler: v2Mux},
		{Prefix: "/v3alpha", Handler: v2Mux},
		{Prefix: "/oauth/v2", Handler: &tokenEndpoint{core: s.core}, Refuse: api.RefuseOAuth},
	}, nil
}

// successCodes maps the response message of each RPC that declares an HTTP
// success status other than 200 (v2 options http_response.success_code, e.g.
// 201 for org.v2 AddOrganization) to that status.
func successCodes() map[protoreflect.FullName]int {
	out := map[protoreflect.FullName]int{}
	for _, sd := range services() {
		for i := 0; i < sd.Methods().Len(); i++ {
			md := sd.Methods().Get(i)
			if v2, ok := proto.GetExtension(md.Options(), protocv2.E_Options).(*protocv2.Options); ok && v2 != nil {
				if c := int(v2.GetHttpResponse().GetSuccessCode()); c != 0 && c != http.StatusOK {
					out[md.Output().FullName()] = c
				}
			}
		}
	}
	return out
}

func newGatewayMux(successCodes map[protoreflect.FullName]int) *runtime.ServeMux {
	return runtime.NewServeMux(
		// Like ZITADEL's gateway: answer with the RPC's declared success
		// status instead of 200.
		runtime.WithForwardResponseOption(func(_ context.Context, w http.ResponseWriter, resp proto.Message) error {
			if c, ok := successCodes[resp.ProtoReflect().Descriptor().FullName()]; ok {
				w.WriteHeader(c)
			}
			return nil
		}),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: false},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
		}),
		runtime.WithIncomingHeaderMatcher(headerMatcher),
		// Metadata goes back as Grpc-Metadata-* headers (the gateway's
		// default), but the request id as X-Request-Id, as on every other
		// transport.
		runtime.WithOutgoingHeaderMatcher(func(key string) (string, bool) {
			if h, ok := api.RequestIDHeader(key); ok {
				return h, true
			}
			return runtime.MetadataHeaderPrefix + key, true
		}),
		runtime.WithMetadata(func(context.Context, *http.Request) metadata.MD {
			return metadata.Pairs(api.HeaderTransport, "rest")
		}),
		runtime.WithRoutingErrorHandler(routingError),
		// The gateway's own error body, plus Retry-After for a rate limit.
		runtime.WithErrorHandler(func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
			api.RetryAfterFrom(w, status.Convert(err))
			runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
		}),
	)
}

// headerMatcher forwards ZITADEL's x-zitadel-* headers and the request id
// to gRPC metadata, besides the gateway's defaults (Authorization, …).
// A client cannot set the server's own transport label.
func headerMatcher(key string) (string, bool) {
	k := strings.ToLower(key)
	switch {
	case strings.HasPrefix(k, "x-zitadel-"), k == api.HeaderRequestID:
		return k, true
	case strings.Contains(k, api.HeaderTransport):
		return "", false
	}
	return runtime.DefaultHeaderMatcher(textproto.CanonicalMIMEHeaderKey(key))
}

// routingError answers a wrong method on a known path with 405 (ZITADEL
// overrides the gateway's 501) and everything else as the gateway does.
func routingError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	if httpStatus == http.StatusMethodNotAllowed {
		w.Header().Set("Content-Type", m.ContentType(nil))
		w.WriteHeader(http.StatusMethodNotAllowed)
		body, _ := m.Marshal(status.New(codes.Unimplemented, http.StatusText(http.StatusMethodNotAllowed)).Proto())
		_, _ = w.Write(body)
		return
	}
	runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, httpStatus)
}
