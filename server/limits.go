package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
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
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isStreaming(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		now := time.Now()
		_ = rc.SetReadDeadline(now.Add(s.cfg.ReadTimeout))
		_ = rc.SetWriteDeadline(now.Add(s.cfg.RequestTimeout + writeSlack))
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		ct := strings.ToLower(r.Header.Get("Content-Type"))
		nativeGRPC := strings.HasPrefix(ct, "application/grpc") && !strings.HasPrefix(ct, "application/grpc-web")
		if !nativeGRPC && r.Body != nil && r.Body != http.NoBody {
			if r.ContentLength > s.cfg.MaxBodyBytes {
				tooLarge(w, r, s.cfg.MaxBodyBytes)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// tooLarge answers 413 in the error body of the dialect that owns the
// path: OneLogin's v1 and v2 envelopes, DruID's result envelope, OAuth's
// error object on the token endpoints, and the gRPC-gateway status body
// (ZITADEL) elsewhere.
func tooLarge(w http.ResponseWriter, r *http.Request, limit int64) {
	msg := "request body too large (limit " + itoa(limit) + " bytes)"
	var body any
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/api/1/"):
		body = map[string]any{"status": map[string]any{"error": true, "code": http.StatusRequestEntityTooLarge, "type": "Payload Too Large", "message": msg}}
	case strings.HasPrefix(p, "/api/2/"):
		body = map[string]any{"statusCode": http.StatusRequestEntityTooLarge, "name": "PayloadTooLargeError", "message": msg}
	case strings.HasPrefix(p, "/activityid/"):
		body = map[string]any{"result": map[string]any{"status": http.StatusRequestEntityTooLarge, "message": msg,
			"errors": []any{map[string]any{"message": "Payload Too Large", "details": msg}}}}
	case strings.HasPrefix(p, "/oauth2/"), strings.HasPrefix(p, "/oauth/"), strings.HasPrefix(p, "/auth/oauth2/"):
		body = map[string]any{"error": "invalid_request", "error_description": msg}
	default:
		body = map[string]any{"code": 8, "message": msg, "details": []any{}} // ResourceExhausted
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	_ = json.NewEncoder(w).Encode(body)
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
