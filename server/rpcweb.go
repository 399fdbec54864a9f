package server

import (
	"fmt"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard"
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
	if err := c.JSONCodec.Unmarshal(data, msg); err != nil {
		return connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("unmarshal into %s: %w", msg.ProtoReflect().Descriptor().FullName(), err))
	}
	return nil
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
