package server_test

import (
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	mgmt "github.com/factorgate/factorgate/gen/zitadel/management"
)

// callGRPCWebText makes a gRPC-Web call in text mode, as grpc-web's
// JavaScript client does by default: the framed request base64-encoded,
// and the answer's frames base64-encoded, possibly in several padded
// pieces. It returns the answer's content type, its message frame (nil
// when there is none) and its trailers (from the trailer frame, or from
// the headers of a trailers-only answer).
func (e *env) callGRPCWebText(t *testing.T, method string, req proto.Message, ctype string) (string, []byte, map[string]string) {
	t.Helper()
	msg, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	frame := append([]byte{0, 0, 0, 0, 0}, msg...)
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(msg)))
	res, raw := e.send(t, http.MethodPost, method, http.Header{
		"Content-Type": {ctype}, "Accept": {"application/grpc-web-text"}, "X-Grpc-Web": {"1"},
		"Authorization": {"Bearer " + e.admin},
	}, []byte(base64.StdEncoding.EncodeToString(frame)))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %d %s", method, res.StatusCode, raw)
	}
	// Every piece is whole groups of four characters, so each group
	// decodes on its own.
	var body []byte
	for i := 0; i+4 <= len(raw); i += 4 {
		b, err := base64.StdEncoding.DecodeString(string(raw[i : i+4]))
		if err != nil {
			t.Fatalf("%s: the answer is not base64 at %d: %q", method, i, raw)
		}
		body = append(body, b...)
	}
	if len(raw)%4 != 0 {
		t.Fatalf("%s: answer of %d characters, not whole base64 groups: %q", method, len(raw), raw)
	}
	var data []byte
	trailers := map[string]string{}
	// A call that ends without a message may carry its status in the
	// headers (a trailers-only answer).
	for _, k := range []string{"Grpc-Status", "Grpc-Message"} {
		if v := res.Header.Get(k); v != "" {
			trailers[strings.ToLower(k)] = v
		}
	}
	for len(body) >= 5 {
		flag, n := body[0], binary.BigEndian.Uint32(body[1:5])
		if int(n) > len(body)-5 {
			t.Fatalf("%s: a frame of %d bytes in %d", method, n, len(body)-5)
		}
		payload := body[5 : 5+n]
		body = body[5+n:]
		if flag&0x80 == 0 {
			data = payload
			continue
		}
		for _, line := range strings.Split(strings.TrimSpace(string(payload)), "\r\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				trailers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
	}
	if len(body) != 0 {
		t.Fatalf("%s: %d bytes after the last frame", method, len(body))
	}
	return res.Header.Get("Content-Type"), data, trailers
}

// gRPC-Web's text mode is served as the binary mode is: the same call,
// its answer base64-encoded, errors in the trailers.
func TestGRPCWebTextMode(t *testing.T) {
	e := mustRunServer(t)
	for _, ctype := range []string{"application/grpc-web-text", "application/grpc-web-text+proto"} {
		t.Run(ctype, func(t *testing.T) {
			ct, data, tr := e.callGRPCWebText(t, mgmtSvc+"GetLoginPolicy", &mgmt.GetLoginPolicyRequest{}, ctype)
			if !strings.HasPrefix(ct, "application/grpc-web-text") {
				t.Errorf("answer Content-Type %q, want application/grpc-web-text…", ct)
			}
			if tr["grpc-status"] != "0" {
				t.Fatalf("trailers %v, want grpc-status 0", tr)
			}
			var resp mgmt.GetLoginPolicyResponse
			if err := proto.Unmarshal(data, &resp); err != nil || resp.GetPolicy() == nil {
				t.Fatalf("answer %x: %v, policy %v", data, err, resp.GetPolicy())
			}

			_, data, tr = e.callGRPCWebText(t, mgmtSvc+"RemoveSecondFactorFromLoginPolicy",
				&mgmt.RemoveSecondFactorFromLoginPolicyRequest{Type: sfOTP}, ctype)
			if tr["grpc-status"] != "5" || !strings.Contains(tr["grpc-message"], "Org-3M9od") || len(data) != 0 {
				t.Errorf("removing a factor the policy lacks: trailers %v, message %x; want grpc-status 5 (Org-3M9od) and no message", tr, data)
			}
		})
	}

	// A body that is not base64 is the caller's error, InvalidArgument (the
	// transport had made a read error of it: Unavailable); a request sent in
	// several padded pieces decodes.
	for _, body := range []string{"!!!!", "QUJD=", "QQ=A"} {
		res, raw := e.send(t, http.MethodPost, mgmtSvc+"GetLoginPolicy", http.Header{
			"Content-Type": {"application/grpc-web-text"}, "Authorization": {"Bearer " + e.admin},
		}, []byte(body))
		if res.StatusCode != http.StatusOK || res.Header.Get("Grpc-Status") != "3" || len(raw) != 0 {
			t.Errorf("body %q: HTTP %d, grpc-status %q, body %q; want 200, grpc-status 3, no body", body, res.StatusCode, res.Header.Get("Grpc-Status"), raw)
		}
	}
	msg, _ := proto.Marshal(&mgmt.RemoveSecondFactorFromLoginPolicyRequest{Type: sfOTP})
	frame := append([]byte{0, 0, 0, 0, byte(len(msg))}, msg...)
	pieces := base64.StdEncoding.EncodeToString(frame[:4]) + base64.StdEncoding.EncodeToString(frame[4:])
	res, _ := e.send(t, http.MethodPost, mgmtSvc+"RemoveSecondFactorFromLoginPolicy", http.Header{
		"Content-Type": {"application/grpc-web-text"}, "Authorization": {"Bearer " + e.admin},
	}, []byte(pieces))
	if got := res.Header.Get("Grpc-Status"); got != "5" {
		t.Errorf("a request in two padded pieces (%q): grpc-status %q, want 5 (the call ran: the policy lacks the factor)", pieces, got)
	}
}
