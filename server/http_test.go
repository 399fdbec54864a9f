package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/factorgate/factorgate/server/eventstore/postgres/pgtest"
)

// Routing, operations endpoints, CORS and the REST wire shape.

// send sends a request and returns the response with its body read.
func (e *env) send(t *testing.T, method, path string, hdr http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, raw
}

// An API prefix alone gets its dialect's 404, not ServeMux's redirect to
// the prefix with a slash (the client here does not follow redirects).
func TestAnAPIPrefixAloneIsNotFoundNotARedirect(t *testing.T) {
	e := mustRunServer(t)
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct{ path, body string }{
		{"/management/v1", `{"code":5,"message":"Not Found"`},
		{"/auth/v1", `{"code":5,"message":"Not Found"`},
		{"/admin/v1", `{"code":5,"message":"Not Found"`},
		{"/v2", `{"code":5,"message":"Not Found"`},
		{"/v2beta", `{"code":5,"message":"Not Found"`},
		{"/resources/v3alpha", `{"code":5,"message":"Not Found"`},
		{"/api/1", `"code":404,"type":"Not Found","message":"No Route Exists"`},
		{"/api/2", `{"statusCode":404,"name":"NotFoundError"`},
	} {
		req, _ := http.NewRequest(http.MethodGet, e.base+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+e.admin)
		res, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var compact bytes.Buffer // the gateway's protojson spaces its output at random
		if json.Compact(&compact, raw) == nil {
			raw = compact.Bytes()
		}
		if res.StatusCode != http.StatusNotFound || !strings.Contains(string(raw), c.body) {
			t.Errorf("GET %s: HTTP %d %q, want 404 with %s", c.path, res.StatusCode, raw, c.body)
		}
	}
}

func TestRESTRoutingErrors(t *testing.T) {
	e := mustRunServer(t)
	cases := []struct {
		name, method, path string
		status             int
		code               codes.Code
		message            string
	}{
		{"wrong method on a management path", http.MethodGet, "/management/v1/users/1/auth_factors/otp", 405, codes.Unimplemented, "Method Not Allowed"},
		{"wrong method on an admin path", http.MethodPut, "/admin/v1/policies/login/second_factors/SECOND_FACTOR_TYPE_OTP", 405, codes.Unimplemented, "Method Not Allowed"},
		{"wrong method on a v2 path", http.MethodGet, "/v2/users/human", 405, codes.Unimplemented, "Method Not Allowed"},
		{"unknown management path", http.MethodGet, "/management/v1/no/such/thing", 404, codes.NotFound, "Not Found"},
		{"unknown admin path", http.MethodDelete, "/admin/v1/nothing", 404, codes.NotFound, "Not Found"},
		{"unknown v2 path", http.MethodGet, "/v2/nothing/here", 404, codes.NotFound, "Not Found"},
		{"unknown root path", http.MethodGet, "/definitely-not-an-api", 404, codes.NotFound, "Not Found"},
		{"RPC path with GET", http.MethodGet, "/zitadel.management.v1.ManagementService/GetLoginPolicy", 404, codes.NotFound, "Not Found"},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			res, raw := e.send(t, c.method, c.path, http.Header{"Authorization": {"Bearer " + e.admin}}, nil)
			var st struct {
				Code    *int   `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(raw, &st); err != nil {
				t.Fatalf("HTTP %d, body is not JSON: %q", res.StatusCode, raw)
			}
			if res.StatusCode != c.status || st.Code == nil || codes.Code(*st.Code) != c.code || st.Message != c.message {
				t.Fatalf("got HTTP %d %s, want HTTP %d {code %d, message %q}", res.StatusCode, raw, c.status, c.code, c.message)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
		})
	}
}

func TestHealthAndReadiness(t *testing.T) {
	e := mustRunServer(t)
	for _, c := range []struct{ path, body string }{{"/healthz", "ok"}, {"/readyz", "ready"}} {
		t.Run(c.path, func(t *testing.T) {
			res, raw := e.send(t, http.MethodGet, c.path, nil, nil)
			if res.StatusCode != http.StatusOK || strings.TrimSpace(string(raw)) != c.body {
				t.Fatalf("got HTTP %d %q, want 200 %q", res.StatusCode, raw, c.body)
			}
		})
	}
	t.Run("grpc.health.v1", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := healthpb.NewHealthClient(e.conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health check: %v, %v; want SERVING", resp.GetStatus(), err)
		}
	})
}

func TestServerReflection(t *testing.T) {
	e := mustRunServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := reflectionpb.NewServerReflectionClient(e.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ask := func(req *reflectionpb.ServerReflectionRequest) *reflectionpb.ServerReflectionResponse {
		t.Helper()
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	var names []string
	for _, s := range ask(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}).GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"zitadel.management.v1.ManagementService", "zitadel.admin.v1.AdminService",
		"zitadel.user.v2.UserService", "zitadel.org.v2.OrganizationService", "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
	files := ask(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{
		FileContainingSymbol: "zitadel.management.v1.ManagementService"}}).GetFileDescriptorResponse().GetFileDescriptorProto()
	if len(files) == 0 {
		t.Error("reflection has no descriptor for zitadel.management.v1.ManagementService")
	}
}

func TestOpenAPIDocument(t *testing.T) {
	e := mustRunServer(t)
	res, raw := e.send(t, http.MethodGet, "/openapi/zitadel/management.swagger.json", nil, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var doc struct {
		Swagger string                                `json:"swagger"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	// Path parameters are spelled as in ZITADEL's published document (the
	// JSON name of the field).
	if _, ok := doc.Paths["/users/{userId}/auth_factors/otp"]["delete"]; !ok || doc.Swagger != "2.0" {
		t.Errorf("swagger %q; no DELETE /users/{userId}/auth_factors/otp among %d paths", doc.Swagger, len(doc.Paths))
	}
	if res, _ := e.send(t, http.MethodGet, "/openapi/zitadel/nope.swagger.json", nil, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("missing document: HTTP %d, want 404", res.StatusCode)
	}
}

// The viewer's index names every document that describes paths (and no
// document of messages only), each at a URL that serves it; the viewer and
// the example page are served from the binary.
func TestOpenAPIIndexAndBrowserPages(t *testing.T) {
	e := mustRunServer(t)
	res, raw := e.send(t, http.MethodGet, "/openapi/index.json", nil, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("index: HTTP %d", res.StatusCode)
	}
	var docs []struct{ Name, URL string }
	if err := json.Unmarshal(raw, &docs); err != nil {
		t.Fatalf("index is not JSON: %v\n%s", err, raw)
	}
	names := map[string]bool{}
	for _, d := range docs {
		names[d.Name] = true
		if r, _ := e.send(t, http.MethodGet, d.URL, nil, nil); r.StatusCode != http.StatusOK {
			t.Errorf("%s: %s answers HTTP %d", d.Name, d.URL, r.StatusCode)
		}
	}
	for _, want := range []string{"zitadel/management", "zitadel/admin", "zitadel/auth", "zitadel/user/v2/user_service"} {
		if !names[want] {
			t.Errorf("index lacks %s: %v", want, names)
		}
	}
	if names["zitadel/message"] {
		t.Error("index lists zitadel/message, a document without paths")
	}
	for path, want := range map[string]string{"/ui/": "My second factors", "/ui/app.js": "", "/openapi/ui/": "swagger-ui-bundle.js"} {
		res, raw := e.send(t, http.MethodGet, path, nil, nil)
		if res.StatusCode != http.StatusOK || !strings.Contains(string(raw), want) {
			t.Errorf("GET %s: HTTP %d, body contains %q: %v", path, res.StatusCode, want, strings.Contains(string(raw), want))
		}
	}
}

// ---- metrics ----

var sampleRE = regexp.MustCompile(`^factorgate_rpc_requests_total\{(.*)\} (\S+)$`)
var labelRE = regexp.MustCompile(`(\w+)="([^"]*)"`)

// rpcCounts scrapes /metrics: requests by transport and code for method.
func (e *env) rpcCounts(t *testing.T, method string) map[[2]string]float64 {
	t.Helper()
	res, raw := e.send(t, http.MethodGet, "/metrics", nil, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d", res.StatusCode)
	}
	out := map[[2]string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		m := sampleRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for _, l := range labelRE.FindAllStringSubmatch(m[1], -1) {
			labels[l[1]] = l[2]
		}
		if labels["method"] != method {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[[2]string{labels["transport"], labels["code"]}] = v
	}
	return out
}

func TestMetricsByTransport(t *testing.T) {
	e := mustRunServer(t)
	for _, tr := range transports {
		e.mustCall(t, tr, mgmtGetLoginPolicy(), e.admin, "", success)
		e.mustCall(t, tr, mgmtGetLoginPolicy(), e.admin, "", success)
		e.mustCall(t, tr, mgmtRemoveSecondFactor(sfOTP), e.admin, "", failure(codes.NotFound, 404, "Multifactor not existing", "Org-3M9od"))
	}
	got := e.rpcCounts(t, mgmtSvc+"GetLoginPolicy")
	want := map[[2]string]float64{{"grpc", "OK"}: 2, {"grpc-web", "OK"}: 2, {"rest", "OK"}: 2, {"connect", "OK"}: 2}
	if !mapsEqual(got, want) {
		t.Errorf("GetLoginPolicy counts %v, want %v", got, want)
	}
	got = e.rpcCounts(t, mgmtSvc+"RemoveSecondFactorFromLoginPolicy")
	want = map[[2]string]float64{{"grpc", "NotFound"}: 1, {"grpc-web", "NotFound"}: 1, {"rest", "NotFound"}: 1, {"connect", "NotFound"}: 1}
	if !mapsEqual(got, want) {
		t.Errorf("RemoveSecondFactorFromLoginPolicy counts %v, want %v", got, want)
	}
}

// The store's group commit counters: every write is one append carried by
// one group commit, so the appends grow at least by the writes made, and
// the commits by at least one and at most by the appends. The SQLite store
// also counts its document reads and the read transactions that served
// them (reads waiting for a connection share one).
func TestMetricsStoreGroupCommit(t *testing.T) {
	e := mustRunServer(t)
	names := []string{"factorgate_store_group_commits_total", "factorgate_store_group_commit_appends_total",
		"factorgate_store_read_transactions_total", "factorgate_store_reads_total"}
	want := 4
	if pgtest.Enabled() {
		want = 2 // no read counters
	}
	scrape := func() map[string]float64 {
		t.Helper()
		res, raw := e.send(t, http.MethodGet, "/metrics", nil, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("/metrics: HTTP %d", res.StatusCode)
		}
		got := map[string]float64{}
		for _, line := range strings.Split(string(raw), "\n") {
			name, v, ok := strings.Cut(line, " ")
			if !ok || !slices.Contains(names, name) {
				continue
			}
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metrics line %q: %v", line, err)
			}
			got[name] = n
		}
		if len(got) != want {
			t.Fatalf("/metrics has the store counters %v, want %d of %v", got, want, names)
		}
		return got
	}
	m0 := scrape()
	for range 3 {
		e.enrollTOTP(e.newHuman(e.org)) // a person, a TOTP registration, its verification
	}
	m1 := scrape()
	c, a := m1[names[0]]-m0[names[0]], m1[names[1]]-m0[names[1]]
	if a < 9 || c < 1 || c > a {
		t.Errorf("after 9 writes: %v commits carrying %v appends", c, a)
	}
	if want == 4 {
		tx, r := m1[names[2]]-m0[names[2]], m1[names[3]]-m0[names[3]]
		if r < 9 || tx < 1 || tx > r {
			t.Errorf("after 9 requests: %v read transactions serving %v reads", tx, r)
		}
	}
}

// The transport label is the server's own: a client cannot set it.
func TestMetricsTransportLabelCannotBeSpoofed(t *testing.T) {
	e := mustRunServer(t)
	const spoof = "spoofed"
	o := mgmtGetDefaultLoginPolicy()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	md := metadata.Pairs("authorization", "Bearer "+e.admin, "x-factorgate-transport", spoof)
	if err := e.conn.Invoke(metadata.NewOutgoingContext(ctx, md), o.method, o.req, o.newResp()); err != nil {
		t.Fatalf("grpc: %v", err)
	}
	if _, err := o.web(ctx, e.base, http.Header{"Authorization": {"Bearer " + e.admin}, "X-Factorgate-Transport": {spoof}}, connect.WithGRPCWeb(), o.req); err != nil {
		t.Fatalf("grpc-web: %v", err)
	}
	for _, h := range []string{"X-Factorgate-Transport", "Grpc-Metadata-X-Factorgate-Transport"} {
		res, raw := e.send(t, http.MethodGet, o.path, http.Header{"Authorization": {"Bearer " + e.admin}, h: {spoof}}, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("rest with %s: HTTP %d %s", h, res.StatusCode, raw)
		}
	}
	got := e.rpcCounts(t, o.method)
	want := map[[2]string]float64{{"grpc", "OK"}: 1, {"grpc-web", "OK"}: 1, {"rest", "OK"}: 2}
	if !mapsEqual(got, want) {
		t.Errorf("counts %v, want %v", got, want)
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// ---- CORS ----

const appOrigin = "https://app.example.com"

func headerHas(h http.Header, key, want string) bool {
	for _, v := range h.Values(key) {
		for _, part := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), want) {
				return true
			}
		}
	}
	return false
}

// grpcWebFrame is an empty request message in gRPC-Web framing.
var grpcWebFrame = []byte{0, 0, 0, 0, 0}

func TestCORS(t *testing.T) {
	e := mustRunServer(t, withCORS(appOrigin))
	rpc := mgmtSvc + "GetLoginPolicy"
	preflight := func(origin, method string) http.Header {
		return http.Header{"Origin": {origin}, "Access-Control-Request-Method": {method},
			// as browsers send it: lower case, sorted
			"Access-Control-Request-Headers": {"authorization,content-type,x-grpc-web,x-user-agent,x-zitadel-orgid"}}
	}
	webCall := func(origin string) http.Header {
		return http.Header{"Origin": {origin}, "Content-Type": {"application/grpc-web+proto"}, "X-Grpc-Web": {"1"},
			"Authorization": {"Bearer " + e.admin}}
	}

	t.Run("preflight from an allowed origin", func(t *testing.T) {
		for _, c := range []struct{ path, method string }{{rpc, http.MethodPost}, {"/management/v1/users/1/auth_factors/otp", http.MethodDelete}} {
			res, _ := e.send(t, http.MethodOptions, c.path, preflight(appOrigin, c.method), nil)
			if res.StatusCode/100 != 2 || res.Header.Get("Access-Control-Allow-Origin") != appOrigin {
				t.Fatalf("%s: HTTP %d, Allow-Origin %q", c.path, res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
			}
			for _, h := range []string{"x-grpc-web", "authorization", "content-type", "x-zitadel-orgid", "x-user-agent"} {
				if !headerHas(res.Header, "Access-Control-Allow-Headers", h) {
					t.Errorf("%s: Access-Control-Allow-Headers %q lacks %s", c.path, res.Header.Values("Access-Control-Allow-Headers"), h)
				}
			}
			if !headerHas(res.Header, "Access-Control-Allow-Methods", c.method) {
				t.Errorf("%s: Access-Control-Allow-Methods %q lacks %s", c.path, res.Header.Values("Access-Control-Allow-Methods"), c.method)
			}
		}
	})
	t.Run("grpc-web response exposes the status headers", func(t *testing.T) {
		res, body := e.send(t, http.MethodPost, rpc, webCall(appOrigin), grpcWebFrame)
		if res.StatusCode != http.StatusOK || !regexp.MustCompile(`(?i)grpc-status: ?0\r\n`).Match(body) {
			t.Fatalf("HTTP %d, body %q: want a successful gRPC-Web answer", res.StatusCode, body)
		}
		if res.Header.Get("Access-Control-Allow-Origin") != appOrigin {
			t.Errorf("Access-Control-Allow-Origin %q", res.Header.Get("Access-Control-Allow-Origin"))
		}
		for _, h := range []string{"Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin"} {
			if !headerHas(res.Header, "Access-Control-Expose-Headers", h) {
				t.Errorf("Access-Control-Expose-Headers %q lacks %s", res.Header.Values("Access-Control-Expose-Headers"), h)
			}
		}
	})
	t.Run("disallowed origin gets no CORS headers", func(t *testing.T) {
		res, _ := e.send(t, http.MethodOptions, rpc, preflight("https://evil.example.com", http.MethodPost), nil)
		noCORS(t, "preflight", res.Header)
		res, _ = e.send(t, http.MethodPost, rpc, webCall("https://evil.example.com"), grpcWebFrame)
		noCORS(t, "call", res.Header)
	})

	// Without configured origins no browser origin is allowed ("*" must be
	// asked for).
	t.Run("no origins configured", func(t *testing.T) {
		plain := mustRunServer(t)
		res, _ := plain.send(t, http.MethodOptions, rpc, preflight(appOrigin, http.MethodPost), nil)
		noCORS(t, "preflight", res.Header)
		res, _ = plain.send(t, http.MethodPost, rpc, webCall(appOrigin), grpcWebFrame)
		noCORS(t, "call", res.Header)
	})
	t.Run("star allows any origin", func(t *testing.T) {
		open := mustRunServer(t, withCORS("*"))
		res, _ := open.send(t, http.MethodOptions, rpc, preflight("https://anywhere.example.org", http.MethodPost), nil)
		if res.Header.Get("Access-Control-Allow-Origin") == "" || !headerHas(res.Header, "Access-Control-Allow-Headers", "x-grpc-web") {
			t.Errorf("preflight headers %v: want the origin allowed", res.Header)
		}
	})
}

func noCORS(t *testing.T, what string, h http.Header) {
	t.Helper()
	for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Headers", "Access-Control-Allow-Methods", "Access-Control-Expose-Headers"} {
		if v := h.Values(k); len(v) > 0 {
			t.Errorf("%s: %s = %q, want no CORS headers", what, k, v)
		}
	}
}

// ---- REST success bodies ----

// REST success bodies are ZITADEL-shaped: lowerCamelCase names, zero values
// omitted, 64-bit integers as strings, timestamps RFC 3339, enums by name.
func TestRESTSuccessJSONShape(t *testing.T) {
	e := mustRunServer(t)
	org := e.newOrg("json-shape")
	hdr := http.Header{"Authorization": {"Bearer " + e.admin}, "X-Zitadel-Orgid": {org}}

	e.mustCall(t, transports[2], mgmtAddSecondFactor(sfOTPSMS), e.admin, org, success)
	res, raw := e.send(t, http.MethodDelete, "/management/v1/policies/login/second_factors/SECOND_FACTOR_TYPE_OTP_SMS", hdr, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d %s", res.StatusCode, raw)
	}
	var removed map[string]map[string]any
	if err := json.Unmarshal(raw, &removed); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	d := removed["details"]
	if seq, ok := d["sequence"].(string); !ok || seq == "" || seq == "0" {
		t.Errorf("details.sequence = %#v, want a non-zero decimal string", d["sequence"])
	}
	if d["resourceOwner"] != org {
		t.Errorf("details.resourceOwner = %#v, want %q", d["resourceOwner"], org)
	}
	if s, _ := d["changeDate"].(string); s == "" {
		t.Errorf("details.changeDate = %#v, want an RFC 3339 string", d["changeDate"])
	} else if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
		t.Errorf("details.changeDate %q: %v", s, err)
	}
	if len(d) != 3 {
		t.Errorf("details has keys %v, want exactly sequence, changeDate, resourceOwner (creationDate unset, so omitted)", keys(d))
	}

	res, raw = e.send(t, http.MethodGet, "/management/v1/policies/login", hdr, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d %s", res.StatusCode, raw)
	}
	var got struct {
		IsDefault *bool          `json:"isDefault"`
		Policy    map[string]any `json:"policy"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.IsDefault == nil || !*got.IsDefault {
		t.Errorf("isDefault = %v in %s", got.IsDefault, raw)
	}
	p := got.Policy
	if sf, _ := p["secondFactors"].([]any); len(sf) != 2 || sf[0] != "SECOND_FACTOR_TYPE_OTP" || sf[1] != "SECOND_FACTOR_TYPE_U2F" {
		t.Errorf("policy.secondFactors = %#v, want the enum names", p["secondFactors"])
	}
	if p["passwordCheckLifetime"] != "864000s" || p["allowUsernamePassword"] != true || p["passwordlessType"] != "PASSWORDLESS_TYPE_ALLOWED" {
		t.Errorf("policy %v: want passwordCheckLifetime \"864000s\", allowUsernamePassword true, passwordlessType by name", p)
	}
	for _, zero := range []string{"forceMfa", "hidePasswordReset", "defaultRedirectUri", "forceMfaLocalOnly"} {
		if v, ok := p[zero]; ok {
			t.Errorf("policy.%s = %#v: zero values must be omitted", zero, v)
		}
	}
	for k := range p {
		if strings.Contains(k, "_") {
			t.Errorf("policy has a snake_case key %q", k)
		}
	}
	if det, _ := p["details"].(map[string]any); det == nil || det["sequence"] == nil {
		t.Errorf("policy.details = %#v", p["details"])
	} else if _, ok := det["sequence"].(string); !ok {
		t.Errorf("policy.details.sequence = %#v, want a string", det["sequence"])
	}

	res, raw = e.send(t, http.MethodPost, "/management/v1/policies/login/second_factors/_search", hdr, nil)
	var list struct {
		Details map[string]any `json:"details"`
		Result  []string       `json:"result"`
	}
	if err := json.Unmarshal(raw, &list); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d %s: %v", res.StatusCode, raw, err)
	}
	if list.Details["totalResult"] != "2" || len(list.Result) != 2 {
		t.Errorf("list %s: want totalResult \"2\" and two results", raw)
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
