package server

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// connectJSON is the JSON codec of the one port's Connect and gRPC-Web
// calls, with connect-go's behaviour, which is what ZITADEL serves its v2
// services with: fields left unset are left out of an answer (vanguard's
// default writes them as null), unknown fields of a request are discarded,
// and a request body that does not decode is the caller's error,
// invalid_argument (HTTP 400). vanguard's default codec reports it as
// Unknown, HTTP 500.
type connectJSON struct{ vanguard.JSONCodec }

func newConnectJSON(res vanguard.TypeResolver) vanguard.Codec {
	return connectJSON{vanguard.JSONCodec{
		MarshalOptions:   protojson.MarshalOptions{Resolver: res},
		UnmarshalOptions: protojson.UnmarshalOptions{Resolver: res, DiscardUnknown: true},
	}}
}

func (c connectJSON) Unmarshal(data []byte, msg proto.Message) error {
	return undecodable(msg, c.JSONCodec.Unmarshal(data, msg))
}

// undecodable makes a request's decoding error invalid_argument, with
// connect-go's wording.
func undecodable(msg proto.Message, err error) error {
	if err == nil {
		return nil
	}
	return connect.NewError(connect.CodeInvalidArgument,
		fmt.Errorf("unmarshal into %s: %w", msg.ProtoReflect().Descriptor().FullName(), err))
}

// connectProto is the proto codec of the one port's Connect calls: a
// request that does not decode is invalid_argument, as connect-go answers
// it.
type connectProto struct{ *vanguard.ProtoCodec }

func newConnectProto(res vanguard.TypeResolver) vanguard.Codec {
	return connectProto{vanguard.NewProtoCodec(res)}
}

func (c connectProto) Unmarshal(data []byte, msg proto.Message) error {
	return undecodable(msg, c.ProtoCodec.Unmarshal(data, msg))
}

// connectTargetCodec is the proto encoding under another name, in which
// vanguard hands the one port's Connect calls to the gRPC server: with a
// name other than the client's, vanguard decodes each request (connectProto,
// connectJSON) instead of passing its bytes through.
const connectTargetCodec = "factorgate-proto"

// targetProto is connectTargetCodec on vanguard's side.
type targetProto struct{ *vanguard.ProtoCodec }

func newTargetProto(res vanguard.TypeResolver) vanguard.Codec {
	return targetProto{vanguard.NewProtoCodec(res)}
}

func (targetProto) Name() string { return connectTargetCodec }

// grpcTargetProto is connectTargetCodec on the gRPC server's side: grpc-go's
// own proto codec under the other name.
type grpcTargetProto struct{ encoding.CodecV2 }

func (grpcTargetProto) Name() string { return connectTargetCodec }

func init() {
	encoding.RegisterCodecV2(grpcTargetProto{encoding.GetCodecV2(grpcproto.Name)})
}

// markConnectUnary marks a POST to an RPC path that carries a unary
// message (application/json, application/proto) as a Connect call for
// vanguard. connect-go serves a unary call without the
// Connect-Protocol-Version header (it asks for it only when told to), so a
// client that leaves it out reaches ZITADEL's v2 services; vanguard without
// it takes the call for REST and finds no route (a plain-text 404).
func markConnectUnary(r *http.Request) {
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	if strings.HasPrefix(ct, "application/") && !strings.HasPrefix(ct, "application/grpc") &&
		!strings.HasPrefix(ct, "application/connect+") && len(r.Header.Values("Connect-Protocol-Version")) == 0 {
		r.Header.Set("Connect-Protocol-Version", "1")
	}
}

// normalizeConnectType readies a POST to an RPC path that is neither gRPC
// nor gRPC-Web for the Connect transcoder: media types are
// case-insensitive (connect-go takes Application/JSON), so the type is
// written in lower case; a body that is not application/… gets 415 with
// Accept-Post, as connect-go answers it, instead of the transcoder's
// "no such route". It reports whether the call goes on.
func normalizeConnectType(w http.ResponseWriter, r *http.Request) bool {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "application/") {
		w.Header().Set("Accept-Post", "application/json, application/proto")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnsupportedMediaType)
		_, _ = w.Write([]byte(`{"code":"invalid_argument","message":"unsupported content type: want application/json or application/proto"}`))
		return false
	}
	if cs, ok := params["charset"]; ok {
		params["charset"] = strings.ToLower(cs)
	}
	r.Header.Set("Content-Type", mime.FormatMediaType(mt, params))
	return true
}

// readWhole reads r's body within readTimeout and clears the deadline
// after (a stream's answer may outlive it). On a failure it returns the
// status to answer, in the caller's protocol, and marks the connection to
// close, so the rest of the body is not waited for.
func readWhole(w http.ResponseWriter, r *http.Request, readTimeout time.Duration) (raw []byte, code codes.Code, msg string, ok bool) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(readTimeout))
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		w.Header().Set("Connection", "close")
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return nil, codes.ResourceExhausted, "request body too large (limit " + strconv.FormatInt(tooLarge.Limit, 10) + " bytes)", false
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, codes.DeadlineExceeded, "the request body did not arrive in time", false
		default: // the client went away, or sent less than it declared
			return nil, codes.Canceled, "the request body ended early", false
		}
	}
	_ = rc.SetReadDeadline(time.Time{})
	return raw, codes.OK, "", true
}

// setBody hands b on as r's body.
func setBody(r *http.Request, b []byte) {
	r.ContentLength = int64(len(b))
	r.Header.Set("Content-Length", strconv.Itoa(len(b)))
	r.Body = io.NopCloser(bytes.NewReader(b))
}

// readConnectStreamRequest reads the one request message of a Connect call
// on a streaming path whole within readTimeout (the guard sets no read
// deadline there, as the answer outlives it) and hands it on as the body.
// A body that does not arrive in time, or ends early, is answered here;
// it reports whether the call goes on.
func readConnectStreamRequest(w http.ResponseWriter, r *http.Request, readTimeout time.Duration) bool {
	raw, code, msg, ok := readWhole(w, r, readTimeout)
	if !ok {
		connectStatus(w, code, msg)
		return false
	}
	setBody(r, raw)
	return true
}

// serveGRPCWeb serves a gRPC-Web call through next (vanguard), and
// gRPC-Web's text mode too (application/grpc-web-text: the same frames,
// base64-encoded both ways), which grpc-web's JavaScript client uses by
// default and improbable-eng's wrapper (which serves ZITADEL's v1 services
// over gRPC-Web) accepts; vanguard speaks the binary mode only.
//
// The text-mode request is read within readTimeout (on the streaming paths
// the guard sets no read deadline, as their responses outlive it).
func serveGRPCWeb(w http.ResponseWriter, r *http.Request, next http.Handler, readTimeout time.Duration) {
	const text = "application/grpc-web-text"
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	isText := strings.HasPrefix(ct, text)
	// A gRPC-Web call is unary or server-streaming: its request is one
	// message, limited by the guard (MaxBodyBytes), so it is read whole and
	// a body that is not base64, or whose frames are cut short, is
	// answered here as InvalidArgument, not as the read error the
	// transport would make of it (Internal).
	raw, code, msg, ok := readWhole(w, r, readTimeout)
	if !ok {
		grpcWebStatus(w, ct, code, msg)
		return
	}
	frames := raw
	if isText {
		if frames, ok = decodeBase64Pieces(raw); !ok {
			grpcWebStatus(w, ct, codes.InvalidArgument, "the request is not base64 (gRPC-Web text mode)")
			return
		}
	}
	if err := checkFrames(frames); err != nil {
		grpcWebStatus(w, ct, codes.InvalidArgument, "protocol error: "+err.Error())
		return
	}
	setBody(r, frames)
	if !isText {
		next.ServeHTTP(w, r)
		return
	}
	r.Header.Set("Content-Type", "application/grpc-web"+ct[len(text):])
	tw := &textResponse{ResponseWriter: w}
	defer tw.end()
	next.ServeHTTP(tw, r)
}

// checkFrames reports a gRPC-Web request body whose length-prefixed frames
// are cut short: a prefix of fewer than 5 bytes, or a frame that promises
// more bytes than follow.
func checkFrames(b []byte) error {
	for len(b) > 0 {
		if len(b) < 5 {
			return fmt.Errorf("incomplete frame prefix: %d of 5 bytes", len(b))
		}
		n := uint64(binary.BigEndian.Uint32(b[1:5]))
		if rest := uint64(len(b) - 5); rest < n {
			return fmt.Errorf("promised %d bytes in a frame, got %d", n, rest)
		}
		b = b[5+n:]
	}
	return nil
}

// textResponse base64-encodes a gRPC-Web answer. Each flush ends the
// encoding with its padding and starts a new one, as improbable-eng's
// wrapper does, so what a client has received always decodes.
type textResponse struct {
	http.ResponseWriter
	enc         io.WriteCloser
	wroteHeader bool
}

func (t *textResponse) WriteHeader(code int) {
	if t.wroteHeader {
		return
	}
	t.wroteHeader = true
	h := t.Header()
	if ct := h.Get("Content-Type"); strings.HasPrefix(ct, "application/grpc-web") {
		h.Set("Content-Type", "application/grpc-web-text"+strings.TrimPrefix(ct, "application/grpc-web"))
	}
	h.Del("Content-Length")
	t.ResponseWriter.WriteHeader(code)
}

func (t *textResponse) Write(p []byte) (int, error) {
	t.WriteHeader(http.StatusOK)
	if t.enc == nil {
		t.enc = base64.NewEncoder(base64.StdEncoding, t.ResponseWriter)
	}
	return t.enc.Write(p)
}

func (t *textResponse) Flush() {
	t.end()
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (t *textResponse) end() {
	if t.enc != nil {
		_ = t.enc.Close() // writes the padding; a write error shows on the connection
		t.enc = nil
	}
}

func (t *textResponse) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// decodeBase64Pieces decodes standard base64 that may be several padded
// pieces one after the other (what a client that encodes each chunk it
// sends produces): every piece is whole groups of four characters.
func decodeBase64Pieces(b []byte) ([]byte, bool) {
	if len(b)%4 != 0 {
		return nil, false
	}
	out := make([]byte, 0, len(b)/4*3)
	for len(b) > 0 {
		end := len(b)
		if i := bytes.IndexByte(b, '='); i >= 0 { // a piece ends with its padding
			end = i + 1
			for end < len(b) && b[end] == '=' {
				end++
			}
		}
		n, err := base64.StdEncoding.Decode(out[len(out):cap(out)], b[:end])
		if err != nil {
			return nil, false
		}
		out, b = out[:len(out)+n], b[end:]
	}
	return out, true
}

// grpcWebStatus answers a gRPC-Web call with a status only (a
// trailers-only answer: the status in the headers, no body).
func grpcWebStatus(w http.ResponseWriter, ctype string, code codes.Code, msg string) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Grpc-Status", strconv.Itoa(int(code)))
	h.Set("Grpc-Message", url.PathEscape(msg))
	w.WriteHeader(http.StatusOK)
}

// connectStatus answers a Connect call with Connect's error body and the
// HTTP status Connect gives the code.
func connectStatus(w http.ResponseWriter, code codes.Code, msg string) {
	status := http.StatusInternalServerError
	switch code {
	case codes.InvalidArgument:
		status = http.StatusBadRequest
	case codes.ResourceExhausted:
		status = http.StatusTooManyRequests
	case codes.Unavailable:
		status = http.StatusServiceUnavailable
	}
	body, _ := json.Marshal(map[string]string{"code": connect.Code(code).String(), "message": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
