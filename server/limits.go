package server

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/factorgate/factorgate/server/api"
	"github.com/factorgate/factorgate/server/mfa"
)

// Limits on what one request may cost the server. The defaults suit a
// unary API; every one is a Config field and a serve flag (README,
// "Security").
const (
	defaultMaxBodyBytes    = 1 << 20 // REST/JSON, gRPC-Web, Connect and token form bodies
	defaultMaxMessageBytes = 4 << 20 // one gRPC message (grpc.MaxRecvMsgSize)
	defaultReadTimeout     = 30 * time.Second
	defaultRequestTimeout  = 30 * time.Second
	// writeSlack is how much longer than the request timeout a response
	// may take to write before the connection is cut.
	writeSlack = 5 * time.Second
)

// streamingMethods are the long-lived calls: no request timeout, read or
// write deadline applies to them (a client watching health would otherwise
// be cut off).
var streamingMethods = []string{"/grpc.health.v1.Health/Watch", "/grpc.reflection."}

func isStreaming(path string) bool {
	for _, m := range streamingMethods {
		if strings.HasPrefix(path, m) {
			return true
		}
	}
	return false
}

// guard applies the per-request limits in front of every transport: a
// handling timeout (the request's context ends after RequestTimeout, so a
// gRPC call answers DeadlineExceeded), read and write deadlines on the
// connection for this request (a client that sends its body slowly, or
// reads the answer slowly, is cut off), and the body size limit (a body
// declared larger than MaxBodyBytes is answered 413 in the dialect's error
// body before anything reads it; a larger body without a declared length
// fails to decode at the limit: 400 in the dialect's body). Native gRPC
// bodies are limited per message by the gRPC server (ResourceExhausted).
//
// Token requests are also limited per remote address (a token bucket per
// IP, RateLimitGrantsPerIP): 429 with Retry-After in the endpoint's body.
// The core limits them per client id or username as well.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isStreaming(r.URL.Path) {
			// A gRPC-Web or Connect request is one message even on a
			// streaming path, read before the stream starts: it is held to
			// the body limit (serveGRPCWeb bounds a gRPC-Web read in time).
			// Native gRPC is limited per message by grpc-go.
			if !isNativeGRPC(r) && r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
			}
			next.ServeHTTP(w, r)
			return
		}
		if isTokenPath(r.URL.Path) {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				host = r.RemoteAddr
			}
			if ok, after := s.perIP.Allow(host); !ok {
				api.SetRetryAfter(w, after)
				s.refuse(w, r, http.StatusTooManyRequests, codes.ResourceExhausted, "too many token requests from this address; try again later")
				return
			}
		}
		rc := http.NewResponseController(w)
		now := time.Now()
		_ = rc.SetReadDeadline(now.Add(s.cfg.ReadTimeout))
		_ = rc.SetWriteDeadline(now.Add(s.cfg.RequestTimeout + writeSlack))
		if !validUTF8(r.URL) {
			// Proto strings must be UTF-8: the gateway would fail to
			// marshal such a path or query parameter into a request.
			s.refuse(w, r, http.StatusBadRequest, codes.InvalidArgument, "the path or query is not valid UTF-8")
			return
		}
		nativeGRPC := isNativeGRPC(r) // as the root routes it: anything else is read by a gateway or transcoder
		switch {
		case nativeGRPC || isGRPCWeb(r):
			// gRPC and gRPC-Web carry their deadline in grpc-timeout: the
			// gRPC server then ends the call with DeadlineExceeded (a
			// deadline on the HTTP request instead would make it drop the
			// response).
			capGRPCTimeout(r.Header, s.cfg.RequestTimeout)
		case r.Method == http.MethodPost && s.services[rpcService(r.URL.Path)]:
			capConnectTimeout(r.Header, s.cfg.RequestTimeout) // Connect
		default:
			ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
			defer cancel()
			r = r.WithContext(ctx)
		}
		if !nativeGRPC && r.Body != nil && r.Body != http.NoBody {
			if r.ContentLength > s.cfg.MaxBodyBytes {
				w.Header().Set("Connection", "close")
				s.refuse(w, r, http.StatusRequestEntityTooLarge, codes.ResourceExhausted,
					"request body too large (limit "+strconv.FormatInt(s.cfg.MaxBodyBytes, 10)+" bytes)")
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// isNativeGRPC reports whether r is a gRPC call the one port serves with
// grpc-go (HTTP/2 and application/grpc…): the root and the guard decide
// alike, so a request that only claims the content type is held to the
// limits of what does read it.
func isNativeGRPC(r *http.Request) bool {
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	return r.ProtoMajor == 2 && strings.HasPrefix(ct, "application/grpc") && !strings.HasPrefix(ct, "application/grpc-web")
}

// isGRPCWeb reports whether r is a gRPC-Web call (binary or text mode).
func isGRPCWeb(r *http.Request) bool {
	return strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/grpc-web")
}

// nativeLimits is the native listener's first unary step: the limits the
// guard puts on the one port's requests, for calls that do not pass it.
// The call's context ends after RequestTimeout (DeadlineExceeded), and
// DruID's mfa/create, which proves a person's password, is limited per
// remote address with the one port's limiter.
func (s *Server) nativeLimits(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if info.FullMethod == druidCreateRPC {
		host := ""
		if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
			host = p.Addr.String()
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
		}
		if ok, after := s.perIP.Allow(host); !ok {
			return nil, status.Error(codes.ResourceExhausted, "too many token requests from this address; try again in "+after.Round(time.Second).String())
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	return handler(ctx, req)
}

// capGRPCTimeout sets the grpc-timeout header to d unless the client asked
// for less.
func capGRPCTimeout(h http.Header, d time.Duration) {
	if cur, ok := parseGRPCTimeout(h.Get("Grpc-Timeout")); ok && cur <= d {
		return
	}
	h.Set("Grpc-Timeout", encodeGRPCTimeout(d))
}

// capConnectTimeout sets Connect-Timeout-Ms to d unless the client asked for
// less.
func capConnectTimeout(h http.Header, d time.Duration) {
	ms := max(1, (d+time.Millisecond-1)/time.Millisecond)
	if cur, err := strconv.ParseInt(h.Get("Connect-Timeout-Ms"), 10, 64); err == nil && cur > 0 && cur <= int64(ms) {
		return
	}
	h.Set("Connect-Timeout-Ms", strconv.FormatInt(int64(ms), 10))
}

// grpcTimeoutUnits are grpc-timeout's units (at most 8 digits before one).
var grpcTimeoutUnits = []struct {
	unit byte
	d    time.Duration
}{{'n', time.Nanosecond}, {'u', time.Microsecond}, {'m', time.Millisecond}, {'S', time.Second}, {'M', time.Minute}, {'H', time.Hour}}

func parseGRPCTimeout(v string) (time.Duration, bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	for _, u := range grpcTimeoutUnits {
		if u.unit == v[len(v)-1] {
			return time.Duration(n) * u.d, true
		}
	}
	return 0, false
}

// encodeGRPCTimeout writes d in the finest unit that fits 8 digits,
// rounding up.
func encodeGRPCTimeout(d time.Duration) string {
	for _, u := range grpcTimeoutUnits {
		if n := (d + u.d - 1) / u.d; n <= 99999999 {
			return strconv.FormatInt(int64(max(n, 1)), 10) + string(u.unit)
		}
	}
	return "99999999H"
}

// validUTF8 reports whether the decoded path and every query key and value
// are valid UTF-8.
func validUTF8(u *url.URL) bool {
	if !utf8.ValidString(u.Path) {
		return false
	}
	if u.RawQuery == "" {
		return true
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return true // the gateway answers a malformed query itself
	}
	for k, vs := range q {
		if !utf8.ValidString(k) {
			return false
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return false
			}
		}
	}
	return true
}

// isTokenPath reports whether path is one of the token endpoints, or
// another request that proves a password (limited per address the same way).
func isTokenPath(path string) bool {
	return strings.HasPrefix(path, "/oauth2/") || strings.HasPrefix(path, "/oauth/v2/") || strings.HasPrefix(path, "/auth/oauth2/") ||
		path == druidCreatePath || path == druidCreateRPC // check a person's password, as the password grant does
}

// DruID's mfa/create carries a person's password: its REST path, and the
// same call on the one port's RPC path (gRPC, gRPC-Web, Connect).
const (
	druidCreatePath = "/activityid/v1/mfa/create"
	druidCreateRPC  = "/factorgate.druid.v1.MFAService/CreateMFAChannel"
)

// refuse answers a request the server refuses before routing it (413, 429,
// 400): a call to an RPC path in its protocol's terms (gRPC-Web, Connect),
// otherwise in the error body of the route that owns the path (api.Route's
// Refuse: OneLogin's envelopes, DruID's, OAuth's on the token endpoints),
// and otherwise in the gRPC-gateway status body (ZITADEL's).
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status int, code codes.Code, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	if isNativeGRPC(r) {
		// A gRPC client reads only a gRPC status (trailers-only); an
		// HTTP 429 would be Unavailable to it, which it retries.
		grpcWebStatus(w, "application/grpc", code, msg)
		return
	}
	if r.Method == http.MethodPost && s.services[rpcService(r.URL.Path)] {
		// An RPC path: a gRPC-Web call gets a gRPC status, a Connect call
		// Connect's error body (native gRPC is never refused here).
		if ct := strings.ToLower(r.Header.Get("Content-Type")); strings.HasPrefix(ct, "application/grpc-web") {
			grpcWebStatus(w, r.Header.Get("Content-Type"), code, msg)
			return
		} else if !strings.HasPrefix(ct, "application/grpc") {
			connectStatus(w, code, msg)
			return
		}
	}
	var owner *api.Route
	for i, rt := range s.refusers {
		if (r.URL.Path == rt.Prefix || strings.HasPrefix(r.URL.Path, rt.Prefix+"/")) && (owner == nil || len(rt.Prefix) > len(owner.Prefix)) {
			owner = &s.refusers[i]
		}
	}
	if owner != nil {
		owner.Refuse(w, r, status, code, msg)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": int(code), "message": msg, "details": []any{}})
}

// Token requests per remote address: 50 per second, bursts of 200.
const (
	defaultGrantsPerIP      = 50
	defaultGrantsPerIPBurst = 200
)

// coreLimits are the core's per-identity and per-user limits.
func (c *Config) coreLimits() mfa.Limits {
	codes := c.RateLimitFailedCodes / 60
	if c.RateLimitFailedCodes < 0 {
		codes = -1
	}
	return mfa.Limits{GrantRate: c.RateLimitGrants, GrantBurst: c.RateLimitGrantsBurst,
		FailedCodeRate: codes, FailedCodeBurst: c.RateLimitFailedCodesBurst}
}
