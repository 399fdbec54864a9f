package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/factorgate/factorgate/server"
	"github.com/factorgate/factorgate/server/mfa"
)

// The authorization matrix: every served RPC of every dialect (and every
// HTTP endpoint outside the gateways) × every kind of caller → the outcome,
// as data in testdata/authz_matrix.txt. Outcomes:
//
//	U  refused as unauthenticated (gRPC Unauthenticated; REST 401)
//	D  refused as not allowed (gRPC PermissionDenied; REST 403, or 401
//	   where OneLogin's contract answers a wrong scope with 401)
//	X/Y  X over gRPC, Y over REST (where the two differ)
//	A  admitted: the call passed authentication and authorization and
//	   got any other answer (success, or a validation or not-found error
//	   of the empty request) — never a 5xx
//
// Each row runs over native gRPC and over the method's REST binding (the
// google.api.http rule, path variables filled with the victim's id) against
// one server. The test enumerates grpc.Server.GetServiceInfo: a served
// method without a row fails it.

// matrixCallers are the columns of the table, in order.
var matrixCallers = []string{
	"none",         // no Authorization header
	"malformed",    // "Basic …", not a bearer token
	"unknown",      // a bearer token the server never issued
	"expired",      // a personal access token past its expiry
	"revoked",      // a personal access token that was revoked
	"self",         // the victim, a person with no roles, acting on themselves
	"peer",         // another person of the victim's organization, no roles
	"usermanager",  // a machine user with ORG_USER_MANAGER in the victim's organization
	"foreignowner", // ORG_OWNER of another organization, x-zitadel-orgid naming the victim's
	"iamowner",     // the bootstrap admin (IAM_OWNER)
	"ol-authonly",  // OneLogin API credential tokens of the victim's organization, one per scope
	"ol-readusers",
	"ol-manageusers",
	"ol-readall",
	"ol-manageall",
}

// matrixPublic are the served methods that need no token (their services
// have no rule): health and reflection.
var matrixPublic = []string{"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"}

type matrixRow struct {
	key  string // gRPC full method, or "HTTP <verb> <path>"
	want []string
	line int
}

func readMatrix(t *testing.T) []matrixRow {
	t.Helper()
	f, err := os.Open("testdata/authz_matrix.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []matrixRow
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		key := fields[0]
		if key == "HTTP" {
			if len(fields) < 3 {
				t.Fatalf("authz_matrix.txt:%d: HTTP row needs a verb and a path", n)
			}
			key, fields = strings.Join(fields[:3], " "), fields[3:]
		} else {
			fields = fields[1:]
		}
		if len(fields) != len(matrixCallers) {
			t.Fatalf("authz_matrix.txt:%d: %d outcomes, want %d (one per caller)", n, len(fields), len(matrixCallers))
		}
		rows = append(rows, matrixRow{key: key, want: fields, line: n})
	}
	return rows
}

// matrixCaller is one column: how it authenticates.
type matrixCaller struct {
	auth string // the Authorization header value ("" for none)
	org  string // x-zitadel-orgid
}

type matrixEnv struct {
	*env
	victim  string
	callers map[string]matrixCaller
}

// matrixClock lets the fixture create a token that is already past its
// expiry: the server's clock runs offset from the real one.
var matrixOffset atomic.Int64

func newMatrixEnv(t *testing.T) *matrixEnv {
	e := &matrixEnv{env: mustRunServer(t, func(c *server.Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(matrixOffset.Load())) }
	}), callers: map[string]matrixCaller{}}
	var victimName string
	e.victim, victimName = e.druidPerson(e.org)
	e.enrollTOTP(e.victim)
	e.addOTP(e.victim, mfa.FactorOTPSMS)
	_, peerName := e.druidPerson(e.org)
	_, mgr := e.machineToken(e.org, "ORG_USER_MANAGER")
	foreignOrg := e.newOrg("foreign-" + time.Now().Format("150405.000000"))
	_, foreign := e.machineToken(foreignOrg, "ORG_OWNER")

	// expired: issued with the clock two hours back, valid for one hour.
	bot, _ := e.machineToken(e.org, "ORG_OWNER")
	matrixOffset.Store(int64(-2 * time.Hour))
	_, expired, _, err := e.core.AddPersonalAccessToken(e.ctx, e.org, bot, time.Now().Add(-time.Hour))
	matrixOffset.Store(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.core.Authenticate(context.Background(), expired); err == nil {
		t.Fatal("the expired fixture token still authenticates")
	}
	_, revoked := e.machineToken(e.org, "ORG_OWNER")
	if ok, err := e.core.RevokeToken(context.Background(), revoked); err != nil || !ok {
		t.Fatalf("RevokeToken: %v %v", ok, err)
	}

	e.callers["none"] = matrixCaller{}
	e.callers["malformed"] = matrixCaller{auth: "Basic " + e.admin}
	e.callers["unknown"] = matrixCaller{auth: "Bearer fg_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
	e.callers["expired"] = matrixCaller{auth: "Bearer " + expired}
	e.callers["revoked"] = matrixCaller{auth: "Bearer " + revoked}
	e.callers["self"] = matrixCaller{auth: "Bearer " + e.druidLogin(victimName)}
	e.callers["peer"] = matrixCaller{auth: "Bearer " + e.druidLogin(peerName)}
	e.callers["usermanager"] = matrixCaller{auth: "Bearer " + mgr}
	e.callers["foreignowner"] = matrixCaller{auth: "Bearer " + foreign, org: e.org}
	e.callers["iamowner"] = matrixCaller{auth: "Bearer " + e.admin}
	for col, scope := range map[string]string{"ol-authonly": mfa.ScopeAuthenticationOnly, "ol-readusers": mfa.ScopeReadUsers,
		"ol-manageusers": mfa.ScopeManageUsers, "ol-readall": mfa.ScopeReadAll, "ol-manageall": mfa.ScopeManageAll} {
		cred, _, err := e.core.CreateAPICredential(e.ctx, e.org, scope)
		if err != nil {
			t.Fatal(err)
		}
		g, err := e.core.APICredentialGrant(context.Background(), cred.ClientID, cred.Secret)
		if err != nil {
			t.Fatal(err)
		}
		e.callers[col] = matrixCaller{auth: "Bearer " + g.Token}
	}
	return e
}

// matrixRequest is the method's request with every field naming a user
// (user_id, id, actor.id) set to the victim, so that an admitted call acts
// on the victim's data.
func (e *matrixEnv) matrixRequest(t *testing.T, md protoreflect.MethodDescriptor) proto.Message {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
	var m protoreflect.Message
	if err != nil {
		m = dynamicpb.NewMessage(md.Input())
	} else {
		m = mt.New()
	}
	if md.Parent().FullName().Parent() == "factorgate.druid.v1" {
		if err := protojson.Unmarshal([]byte(e.druidActivity()), m.Interface()); err != nil {
			t.Fatal(err)
		}
		return m.Interface()
	}
	e.fillUser(m, 0, e.victimFactors())
	return m.Interface()
}

// victimFactors maps the request fields that name one of the victim's
// factors to its id (no U2F: "1", which names none).
func (e *matrixEnv) victimFactors() map[string]string {
	ids := map[string]string{"u2f_id": "1", "web_auth_n_id": "1"}
	for _, f := range e.factors(e.victim) {
		switch f.Kind {
		case mfa.FactorTOTP:
			ids["totp_id"] = f.ID
		case mfa.FactorOTPSMS:
			ids["otp_sms_id"] = f.ID
		case mfa.FactorOTPEmail:
			ids["otp_email_id"] = f.ID
		}
	}
	return ids
}

// druidActivity is DruID's delete activity for the victim's SMS channel.
func (e *matrixEnv) druidActivity() string {
	return `{"actor":{"id":"` + e.victim + `","objectType":"person"},"verb":"delete","object":{"objectType":"user"},` +
		`"source":{"id":"mobile","objectType":"device"},"context":{"mfa_channel":"sms"}}`
}

// rearm gives the victim a TOTP, an SMS and an email factor again (an
// earlier admitted call may have removed them), so that every row's
// refusals are checked against factors that exist.
func (e *matrixEnv) rearm(t *testing.T) {
	have := map[mfa.FactorKind]bool{}
	for _, f := range e.factors(e.victim) {
		have[f.Kind] = f.State == mfa.FactorReady
		if f.Kind == mfa.FactorTOTP && f.State != mfa.FactorReady {
			if _, err := e.core.RemoveFactor(e.ctx, "", mfa.FactorRef{UserID: e.victim, Kind: mfa.FactorTOTP, ID: f.ID}); err != nil {
				t.Fatalf("rearm: %v", err)
			}
		}
	}
	if !have[mfa.FactorTOTP] {
		e.enrollTOTP(e.victim)
	}
	for _, k := range []mfa.FactorKind{mfa.FactorOTPSMS, mfa.FactorOTPEmail} {
		if !have[k] {
			e.addOTP(e.victim, k)
		}
	}
}

func (e *matrixEnv) fillUser(m protoreflect.Message, depth int, factorIDs map[string]string) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		switch {
		case fd.IsList() || fd.IsMap() || fd.ContainingOneof() != nil && !fd.HasOptionalKeyword():
		case fd.Name() == "user_id" || fd.Name() == "id" && (depth == 0 || m.Descriptor().Name() == "Actor"):
			switch fd.Kind() {
			case protoreflect.StringKind:
				m.Set(fd, protoreflect.ValueOfString(e.victim))
			case protoreflect.Int64Kind:
				n, _ := strconv.ParseInt(e.victim, 10, 64)
				m.Set(fd, protoreflect.ValueOfInt64(n))
			}
		case depth == 0 && fd.Kind() == protoreflect.StringKind && factorIDs[string(fd.Name())] != "":
			m.Set(fd, protoreflect.ValueOfString(factorIDs[string(fd.Name())]))
		case fd.Kind() == protoreflect.MessageKind && fd.Name() == "actor" && depth == 0:
			e.fillUser(m.Mutable(fd).Message(), depth+1, factorIDs)
		}
	}
}

func (e *matrixEnv) callGRPCClass(t *testing.T, method string, req proto.Message, c matrixCaller) (string, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md := metadata.MD{}
	if c.auth != "" {
		md.Set("authorization", c.auth)
	}
	if c.org != "" {
		md.Set("x-zitadel-orgid", c.org)
	}
	ctx = metadata.NewOutgoingContext(ctx, md)
	resp := dynamicpb.NewMessage(outputOf(t, method))
	err := e.conn.Invoke(ctx, method, req, resp)
	st := status.Convert(err)
	switch st.Code() {
	case codes.Unauthenticated:
		return "U", st.Message()
	case codes.PermissionDenied:
		return "D", st.Message()
	case codes.NotFound:
		if strings.HasSuffix(st.Message(), "("+mfa.ErrNoMembership.ID+")") {
			return "D", st.Message() // ZITADEL's "membership not found"
		}
	case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unavailable:
		return "5xx:" + st.Code().String(), st.Message()
	}
	return "A", st.Code().String()
}

// restBinding returns the verb and path of a method's google.api.http rule,
// path variables filled with the victim (user ids) or "1".
func (e *matrixEnv) restBinding(md protoreflect.MethodDescriptor) (verb, path, body string, ok bool) {
	rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
	if rule == nil {
		return "", "", "", false
	}
	switch p := rule.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		verb, path = http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		verb, path = http.MethodPost, p.Post
	case *annotations.HttpRule_Put:
		verb, path = http.MethodPut, p.Put
	case *annotations.HttpRule_Delete:
		verb, path = http.MethodDelete, p.Delete
	case *annotations.HttpRule_Patch:
		verb, path = http.MethodPatch, p.Patch
	default:
		return "", "", "", false
	}
	factorIDs := e.victimFactors()
	var b strings.Builder
	for {
		i := strings.IndexByte(path, '{')
		if i < 0 {
			b.WriteString(path)
			break
		}
		j := strings.IndexByte(path[i:], '}') + i
		b.WriteString(path[:i])
		name := path[i+1 : j]
		if name == "user_id" || name == "id" || strings.HasSuffix(name, ".user_id") {
			b.WriteString(e.victim)
		} else if id := factorIDs[name]; id != "" {
			b.WriteString(id)
		} else {
			b.WriteString("1")
		}
		path = path[j+1:]
	}
	path = b.String()
	// ZITADEL's v1 services are mounted under their prefix.
	switch md.Parent().FullName() {
	case "zitadel.management.v1.ManagementService":
		path = "/management/v1" + path
	case "zitadel.admin.v1.AdminService":
		path = "/admin/v1" + path
	case "zitadel.auth.v1.AuthService":
		path = "/auth/v1" + path
	}
	if rule.GetBody() != "" {
		body = "{}"
		if md.Parent().FullName().Parent() == "factorgate.druid.v1" {
			body = e.druidActivity()
		}
	}
	return verb, path, body, true
}

func (e *matrixEnv) callHTTPClass(t *testing.T, verb, path, body string, c matrixCaller) (string, string) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(verb, e.base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	if c.org != "" {
		req.Header.Set("x-zitadel-orgid", c.org)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("From", "authz-matrix")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", verb, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	switch {
	case res.StatusCode == http.StatusUnauthorized && strings.HasPrefix(path, "/api/1/") && strings.Contains(string(raw), `"Insufficient Permission"`):
		return "D", string(raw) // OneLogin v1 answers a wrong scope with 401
	case res.StatusCode == http.StatusUnauthorized:
		return "U", string(raw)
	case res.StatusCode == http.StatusForbidden:
		return "D", string(raw)
	case res.StatusCode == http.StatusNotFound && strings.Contains(string(raw), mfa.ErrNoMembership.ID):
		return "D", string(raw) // ZITADEL's "membership not found"
	case res.StatusCode >= 500:
		return "5xx:" + strconv.Itoa(res.StatusCode), string(raw)
	}
	return "A", strconv.Itoa(res.StatusCode)
}

func outputOf(t *testing.T, method string) protoreflect.MessageDescriptor {
	md := methodDescriptor(t, method)
	return md.Output()
}

func methodDescriptor(t *testing.T, method string) protoreflect.MethodDescriptor {
	svc, name, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	md := d.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(name))
	if md == nil {
		t.Fatalf("%s: no such method", method)
	}
	return md
}

// matrixHTTPPrefixes are the non-gateway HTTP endpoints: each needs at
// least one HTTP row. The gateways' paths are covered through the RPC rows.
var matrixHTTPEndpoints = []string{"/healthz", "/readyz", "/metrics", "/openapi/", "/ui/", "/oauth/v2/token", "/auth/oauth2/v2/token", "/auth/oauth2/token", "/auth/oauth2/revoke", "/oauth2/token"}

func TestAuthorizationMatrixEveryMethodEveryCaller(t *testing.T) {
	t.Parallel() // long; shares nothing with other tests (make test time)
	e := newMatrixEnv(t)
	rows := readMatrix(t)
	byKey := map[string]matrixRow{}
	for _, r := range rows {
		if _, dup := byKey[r.key]; dup {
			t.Fatalf("authz_matrix.txt:%d: %s has two rows", r.line, r.key)
		}
		byKey[r.key] = r
	}

	// Completeness: every served method of every dialect has a row.
	var served []string
	for svc, info := range e.srv.GRPCServiceInfo() {
		if slices.Contains(matrixPublic, svc) {
			continue
		}
		for _, m := range info.Methods {
			served = append(served, "/"+svc+"/"+m.Name)
		}
	}
	slices.Sort(served)
	for _, m := range served {
		if _, ok := byKey[m]; !ok {
			t.Errorf("served method %s has no row in testdata/authz_matrix.txt", m)
		}
	}
	for _, p := range matrixHTTPEndpoints {
		if !slices.ContainsFunc(rows, func(r matrixRow) bool {
			_, path, _ := strings.Cut(strings.TrimPrefix(r.key, "HTTP "), " ")
			return strings.HasPrefix(r.key, "HTTP ") && strings.HasPrefix(path, p)
		}) {
			t.Errorf("HTTP endpoint %s has no row in testdata/authz_matrix.txt", p)
		}
	}
	for _, r := range rows {
		if !strings.HasPrefix(r.key, "HTTP ") && !slices.Contains(served, r.key) {
			t.Errorf("authz_matrix.txt:%d: %s is not served", r.line, r.key)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	var got strings.Builder // the observed table, printed when a cell differs
	cells, calls := 0, 0
	lastDetail := ""
	for _, r := range rows {
		fmt.Fprintf(&got, "%s", r.key)
		// Refusals first; every call finds the victim's factors in place
		// (rearm), so a refusal is never hidden behind a not-found.
		order := make([]int, 0, len(matrixCallers))
		for i := range matrixCallers {
			if !strings.HasPrefix(r.want[i], "A") {
				order = append(order, i)
			}
		}
		for i := range matrixCallers {
			if strings.HasPrefix(r.want[i], "A") {
				order = append(order, i)
			}
		}
		observed := make([]string, len(matrixCallers))
		for _, i := range order {
			caller := matrixCallers[i]
			e.rearm(t)
			c := e.callers[caller]
			want, wantREST, split := strings.Cut(r.want[i], "/")
			if !split {
				wantREST = want
			}
			var outs []string
			if verb, path, ok := strings.Cut(strings.TrimPrefix(r.key, "HTTP "), " "); strings.HasPrefix(r.key, "HTTP ") && ok {
				o, detail := e.callHTTPClass(t, verb, path, "", c)
				lastDetail = detail
				calls++
				if o != want {
					t.Errorf("%s as %s: got %s (%s), want %s", r.key, caller, o, detail, want)
				}
				outs = append(outs, o)
			} else {
				md := methodDescriptor(t, r.key)
				req := e.matrixRequest(t, md)
				o, detail := e.callGRPCClass(t, r.key, req, c)
				lastDetail = detail
				calls++
				if o != want {
					t.Errorf("%s over gRPC as %s: got %s (%s), want %s", r.key, caller, o, detail, want)
				}
				outs = append(outs, o)
				if verb, path, body, ok := e.restBinding(md); ok {
					o, detail := e.callHTTPClass(t, verb, path, body, c)
					calls++
					if o != wantREST {
						t.Errorf("%s over REST (%s %s) as %s: got %s (%s), want %s", r.key, verb, path, caller, o, detail, wantREST)
					}
				}
			}
			cells++
			observed[i] = outs[0]
			if os.Getenv("MATRIX_DEBUG") != "" {
				observed[i] += "(" + lastDetail + ")"
			}
		}
		got.WriteString(" " + strings.Join(observed, " "))
		got.WriteString("\n")
	}
	if t.Failed() {
		t.Logf("observed (gRPC, or HTTP for HTTP rows):\n%s", got.String())
	}
	t.Logf("authorization matrix: %d rows × %d callers = %d cells, %d calls", len(rows), len(matrixCallers), cells, calls)
}
