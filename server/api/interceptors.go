package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/factorgate/factorgate/server/mfa"
)

// Rule is the access rule of one RPC, declared next to the RPC (in ZITADEL's
// protos, the auth option) and collected by its dialect.
type Rule struct {
	// Permission the caller needs in the request's organization;
	// "authenticated" means any valid token.
	Permission string
	// OrgFromRequest, when set, reads the organization from the request
	// body; it overrides the organization header (ZITADEL's org_field).
	OrgFromRequest func(req any) string
	// Scopes, when set, are the token scopes of which the caller's token
	// must carry at least one (OneLogin's API credential scopes); checked
	// after authentication, before the permission. ZITADEL rules have none.
	Scopes []string
}

// Authenticator is what the chain needs from the core.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (*mfa.Principal, error)
	Authorize(ctx context.Context, p *mfa.Principal, orgID, permission string) (string, error)
}

// Chain configures the one interceptor chain every transport goes through.
type Chain struct {
	Logger  *slog.Logger
	Metrics *Metrics
	Auth    Authenticator
	Detail  DetailFunc
	// Rules maps full method names ("/pkg.Service/Method") to their rule.
	// A method without a rule is public (health, reflection); a method of
	// a dialect service must have one.
	Rules map[string]Rule
	// OrgHeader is the metadata key selecting the organization.
	OrgHeader string
}

// Metadata keys the chain reads.
const (
	HeaderRequestID = "x-request-id"
	// HeaderTransport is set by the server itself (never trusted from the
	// client) to label logs and metrics with the transport a call came in on.
	HeaderTransport = "x-factorgate-transport"
)

// Unary returns the unary interceptor: recover ► request id + log ►
// metrics ► error mapping ► authenticate ► authorize ► validate ► handler.
func (c *Chain) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		start := time.Now()
		md, _ := metadata.FromIncomingContext(ctx)
		reqID := first(md, HeaderRequestID)
		if reqID == "" || len(reqID) > 128 {
			reqID = newRequestID()
		}
		ctx = context.WithValue(ctx, requestIDKey, reqID)
		_ = grpc.SetHeader(ctx, metadata.Pairs(HeaderRequestID, reqID))
		transport := first(md, HeaderTransport)
		if transport == "" {
			transport = "grpc"
		}
		defer func() {
			if r := recover(); r != nil {
				c.Logger.Error("panic", "method", info.FullMethod, "request_id", reqID, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				resp, err = nil, status.Error(codes.Internal, "Internal error")
			}
			st, level := ToStatus(err, c.Detail)
			if err != nil {
				resp, err = nil, st.Err()
			}
			elapsed := time.Since(start)
			if c.Logger.Enabled(ctx, level) {
				// LogAttrs with a fixed-size array: no boxing of each
				// value into an interface, no growing slice.
				var buf [8]slog.Attr
				attrs := append(buf[:0], slog.String("method", info.FullMethod), slog.String("code", st.Code().String()),
					slog.String("transport", transport), slog.String("request_id", reqID), slog.Duration("duration", elapsed))
				if p := mfa.PrincipalFrom(ctx); p != nil {
					attrs = append(attrs, slog.String("caller", p.UserID))
				}
				if st.Code() != codes.OK {
					attrs = append(attrs, slog.String("error", st.Message()))
					if e := mfa.AsError(errCause(err, st)); e.Err != nil && level >= slog.LevelError {
						attrs = append(attrs, slog.String("cause", e.Err.Error()))
					}
				}
				c.Logger.LogAttrs(ctx, level, "rpc", attrs...)
			}
			c.Metrics.observe(info.FullMethod, transport, st.Code(), elapsed)
		}()
		ctx = mfa.WithOrigin(ctx, OriginOf(info.FullMethod, transport))
		ctx, err = c.admit(ctx, md, info.FullMethod, req)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// OriginOf names the API of a call for the audit trail: the dialect from
// the RPC's proto package (zitadel.*, factorgate.<dialect>.*), the RPC and
// the transport.
func OriginOf(fullMethod, transport string) mfa.Origin {
	pkg, _, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	dialect, rest, _ := strings.Cut(pkg, ".")
	if dialect == "factorgate" {
		dialect, _, _ = strings.Cut(rest, ".")
	}
	return mfa.Origin{Dialect: dialect, Method: fullMethod, Transport: transport}
}

// errCause keeps the original error for logging when it carried a cause.
func errCause(err error, st *status.Status) error {
	if err == nil {
		return st.Err()
	}
	return err
}

// admit runs authenticate ► authorize ► validate for one call.
func (c *Chain) admit(ctx context.Context, md metadata.MD, method string, req any) (context.Context, error) {
	rule, ok := c.Rules[method]
	if !ok {
		return ctx, nil
	}
	token, err := BearerToken(first(md, "authorization"))
	if err != nil {
		return ctx, err
	}
	p, err := c.Auth.Authenticate(mfa.WithReadAhead(ctx, requestUserID(req)), token)
	if err != nil {
		return ctx, err
	}
	ctx = mfa.WithRequestPrincipal(ctx, p)
	if len(rule.Scopes) > 0 && !slices.ContainsFunc(rule.Scopes, func(s string) bool { return slices.Contains(p.Scopes, s) }) {
		return ctx, mfa.ErrInsufficientScope
	}
	orgID := first(md, c.OrgHeader)
	if rule.OrgFromRequest != nil {
		if o := rule.OrgFromRequest(req); o != "" {
			orgID = o
		}
	}
	orgID, err = c.Auth.Authorize(ctx, p, orgID, rule.Permission)
	if err != nil {
		return ctx, err
	}
	ctx = WithOrg(ctx, orgID)
	if err := validate(req); err != nil {
		return ctx, err
	}
	return ctx, nil
}

// requestUserID returns the request's top-level user_id, the person most
// calls act on (ZITADEL's and OneLogin's requests name it so), or "".
func requestUserID(req any) string {
	m, ok := req.(proto.Message)
	if !ok {
		return ""
	}
	r := m.ProtoReflect()
	f := r.Descriptor().Fields().ByName("user_id")
	if f == nil || f.Kind() != protoreflect.StringKind || f.Cardinality() == protoreflect.Repeated {
		return ""
	}
	return r.Get(f).String()
}

// validate runs the request's generated validation (protoc-gen-validate's
// Validate, which stops at the first violation, as ZITADEL's servers do).
func validate(req any) error {
	v, ok := req.(interface{ Validate() error })
	if !ok {
		return nil
	}
	if err := v.Validate(); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return nil
}

// Stream returns the stream interceptor for the few streaming services
// (reflection, health watch): recover and log.
func (c *Chain) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		start := time.Now()
		defer func() {
			if r := recover(); r != nil {
				c.Logger.Error("panic", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "Internal error")
			}
			st, _ := ToStatus(err, c.Detail)
			c.Logger.Debug("stream", "method", info.FullMethod, "code", st.Code().String(), "duration", time.Since(start))
		}()
		if _, ok := c.Rules[info.FullMethod]; ok {
			return status.Error(codes.Unimplemented, "streaming is not supported for this method")
		}
		return handler(srv, ss)
	}
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// RequestIDHeader is a gateway's outgoing header matcher step: the request
// id the chain sets goes back as X-Request-Id (the header CORS exposes),
// not as Grpc-Metadata-X-Request-Id; ok is false for any other key.
func RequestIDHeader(key string) (string, bool) {
	if key == HeaderRequestID {
		return "X-Request-Id", true
	}
	return "", false
}

// SetRequestIDHeader sets X-Request-Id from a call's header metadata: for a
// gateway's error handler, which writes the answer without the outgoing
// header matcher.
func SetRequestIDHeader(w http.ResponseWriter, md metadata.MD) {
	if id := md.Get(HeaderRequestID); len(id) > 0 {
		w.Header().Set("X-Request-Id", id[0])
	}
}
