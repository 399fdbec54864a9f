package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	mgmt "github.com/factorgate/factorgate/gen/zitadel/management"
	"github.com/factorgate/factorgate/gen/zitadel/policy"
	"github.com/factorgate/factorgate/server/eventstore/postgres"
	"github.com/factorgate/factorgate/server/eventstore/postgres/pgtest"
	"github.com/factorgate/factorgate/server/mfa"
)

// replicaProc is one `factorgate serve` process.
type replicaProc struct {
	name    string
	base    string // http://addr
	addr    string
	dataDir string
	cmd     *exec.Cmd
	done    chan struct{}
	exitErr error
	logs    *bytes.Buffer
	logsMu  *sync.Mutex
	conn    *grpc.ClientConn
}

// buildFactorgate builds ./cmd/factorgate into a temporary directory.
func buildFactorgate(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("no go tool on PATH")
	}
	bin := filepath.Join(t.TempDir(), "factorgate")
	if out, err := exec.Command(goBin, "build", "-o", bin, "../cmd/factorgate").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var servingRE = regexp.MustCompile(`msg=serving addr=(\S+)`)

// startReplica starts `factorgate serve` on a fresh data directory and an
// address it picks itself (startProc), and stops it gracefully at the end
// of the test, checking that it exits 0.
func startReplica(t *testing.T, bin, name string, args ...string) *replicaProc {
	t.Helper()
	r := startProc(t, bin, "replica "+name, filepath.Join(t.TempDir(), "data"), args...)
	t.Cleanup(func() { r.stop(t) }) // runs before startProc's kill, which then finds it stopped
	return r
}

func (r *replicaProc) logText() string {
	r.logsMu.Lock()
	defer r.logsMu.Unlock()
	return r.logs.String()
}

// stop sends SIGTERM and waits; a graceful stop exits 0.
func (r *replicaProc) stop(t *testing.T) {
	if r.conn != nil {
		r.conn.Close()
	}
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
		if r.exitErr != nil {
			t.Errorf("replica %s: exit: %v\n%s", r.name, r.exitErr, r.logText())
		}
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
		t.Errorf("replica %s did not stop within 30s of SIGTERM", r.name)
	}
}

// rest sends one JSON request and returns the status and decoded body.
func (r *replicaProc) rest(t *testing.T, method, path, token, org, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, r.base+path, rd)
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if org != "" {
		req.Header.Set("x-zitadel-orgid", org)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("replica %s: %s %s: %v", r.name, method, path, err)
		return 0, nil
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Errorf("replica %s: %s %s: HTTP %d, body is not JSON: %q", r.name, method, path, res.StatusCode, raw)
	}
	return res.StatusCode, out
}

// ack is one acknowledged write: the event it reports (by its aggregate
// and details.sequence) must be in the log with the expected type.
type ack struct {
	aggType, aggID string
	sequence       uint64
	eventType      string
	what           string
}

func detailsSequence(body map[string]any) uint64 {
	d, _ := body["details"].(map[string]any)
	s, _ := d["sequence"].(string)
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

// TestPostgresTwoReplicaProcesses starts two `factorgate serve` processes
// (nodes 1 and 2) at the same moment on one empty PostgreSQL database and
// drives concurrent enrollments, removals and policy changes through both.
// Afterwards: exactly one instance was bootstrapped; each removal raced
// through both replicas ended in one success and one NotFound, with one
// removal event; enrollments racing removals of the same user lost
// nothing; every acknowledged write is in the log at the sequence it
// reported; every aggregate's sequences are 1..n without gaps, in position
// order; and every aggregate's stored document equals the fold of its
// events.
func TestPostgresTwoReplicaProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dbURL := pgtest.SchemaURL(t)
	bin := buildFactorgate(t)
	key := filepath.Join(t.TempDir(), "masterkey")
	masterKey := bytes.Repeat([]byte{0x5a}, 32)
	if err := os.WriteFile(key, []byte(fmt.Sprintf("%x\n", masterKey)), 0o600); err != nil {
		t.Fatal(err)
	}

	// Both start at once on the empty database.
	var a, b *replicaProc
	var wg sync.WaitGroup
	common := []string{"--db", dbURL, "--masterkey-file", key}
	wg.Go(func() { a = startReplica(t, bin, "A", append(common, "--node", "1")...) })
	wg.Go(func() { b = startReplica(t, bin, "B", append(common, "--node", "2")...) })
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	var admin string
	pats := 0
	for _, r := range []*replicaProc{a, b} {
		if pat, err := os.ReadFile(filepath.Join(r.dataDir, "admin.pat")); err == nil {
			pats++
			admin = strings.TrimSpace(string(pat))
		}
	}
	if pats != 1 {
		t.Fatalf("%d replicas wrote admin.pat, want exactly 1 (one bootstrap)", pats)
	}

	var mu sync.Mutex
	var acks []ack
	record := func(x ack) {
		mu.Lock()
		defer mu.Unlock()
		acks = append(acks, x)
	}
	replicas := []*replicaProc{a, b}

	// An organization and users, created alternately through A and B.
	code, body := a.rest(t, http.MethodPost, "/v2/organizations", admin, "", `{"name":"replicas"}`)
	if code/100 != 2 { // 201 where the vendor declares it
		t.Fatalf("AddOrganization: HTTP %d %v", code, body)
	}
	org, _ := body["organizationId"].(string)
	const users = 12
	ids := make([]string, users)
	for i := range users {
		wg.Go(func() {
			r := replicas[i%2]
			code, body := r.rest(t, http.MethodPost, "/v2/users/human", admin, "", fmt.Sprintf(`{
				"organization": {"orgId": %q}, "username": "person%d",
				"profile": {"givenName": "Ada", "familyName": "Lovelace"},
				"email": {"email": "person%d@example.com", "isVerified": true},
				"phone": {"phone": "+4179123%04d", "isVerified": true}}`, org, i, i, i))
			if code/100 != 2 {
				t.Errorf("AddHumanUser %d through %s: HTTP %d %v", i, r.name, code, body)
				return
			}
			ids[i], _ = body["userId"].(string)
		})
	}
	code, body = b.rest(t, http.MethodPost, "/management/v1/policies/login", admin, org,
		`{"forceMfa":true,"secondFactors":["SECOND_FACTOR_TYPE_OTP"]}`)
	if code != http.StatusOK {
		t.Fatalf("AddCustomLoginPolicy: HTTP %d %v", code, body)
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Round 1: enrollments of the same user through both replicas at once
	// (OTP email through A, OTP SMS through B), and two second factors
	// added to the organization's policy at once, one through each.
	ok := func(r *replicaProc, what, method, path, reqBody, aggType, aggID, eventType string) {
		code, body := r.rest(t, method, path, admin, org, reqBody)
		if code/100 != 2 {
			t.Errorf("%s through %s: HTTP %d %v", what, r.name, code, body)
			return
		}
		record(ack{aggType, aggID, detailsSequence(body), eventType, what + " through " + r.name})
	}
	for _, u := range ids {
		wg.Go(func() {
			ok(a, "AddOTPEmail "+u, http.MethodPost, "/v2/users/"+u+"/otp_email", "{}", "user", u, mfa.EventOTPEmailAdded)
		})
		wg.Go(func() {
			ok(b, "AddOTPSMS "+u, http.MethodPost, "/v2/users/"+u+"/otp_sms", "{}", "user", u, mfa.EventOTPSMSAdded)
		})
	}
	addFactor := func(r *replicaProc, typ policy.SecondFactorType) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+admin, "x-zitadel-orgid", org)
		resp := &mgmt.AddSecondFactorToLoginPolicyResponse{}
		if err := r.conn.Invoke(ctx, mgmtSvc+"AddSecondFactorToLoginPolicy", &mgmt.AddSecondFactorToLoginPolicyRequest{Type: typ}, resp); err != nil {
			t.Errorf("AddSecondFactorToLoginPolicy %v through %s over gRPC: %v", typ, r.name, err)
			return
		}
		record(ack{"org", org, resp.GetDetails().GetSequence(), mfa.EventOrgSecondFactorAdded, "AddSecondFactor " + typ.String() + " through " + r.name})
	}
	wg.Go(func() { addFactor(a, sfOTPSMS) })
	wg.Go(func() { addFactor(b, sfOTPEmail) })
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Round 2: every user's OTP email is removed through both replicas at
	// once, while B enrolls TOTP for the same user; the policy's OTP
	// factor is removed through both at once, while A adds U2F.
	type result struct {
		code int
		seq  uint64
	}
	removals := make([][2]result, users)
	for i, u := range ids {
		for j, r := range replicas {
			wg.Go(func() {
				code, body := r.rest(t, http.MethodDelete, "/v2/users/"+u+"/otp_email", admin, "", "")
				removals[i][j] = result{code, detailsSequence(body)}
			})
		}
		wg.Go(func() {
			ok(b, "RegisterTOTP "+u, http.MethodPost, "/v2/users/"+u+"/totp", "{}", "user", u, mfa.EventTOTPAdded)
		})
	}
	var policyRemovals [2]codes.Code
	var policySeqs [2]uint64
	for j, r := range replicas {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+admin, "x-zitadel-orgid", org)
			resp := &mgmt.RemoveSecondFactorFromLoginPolicyResponse{}
			err := r.conn.Invoke(ctx, mgmtSvc+"RemoveSecondFactorFromLoginPolicy", &mgmt.RemoveSecondFactorFromLoginPolicyRequest{Type: sfOTP}, resp)
			policyRemovals[j] = status.Code(err)
			policySeqs[j] = resp.GetDetails().GetSequence()
		})
	}
	wg.Go(func() { addFactor(a, sfU2F) })
	wg.Wait()

	for i, u := range ids {
		res := removals[i]
		switch {
		case res[0].code == http.StatusOK && res[1].code == http.StatusNotFound:
			record(ack{"user", u, res[0].seq, mfa.EventOTPEmailRemoved, "RemoveOTPEmail " + u + " through A"})
		case res[1].code == http.StatusOK && res[0].code == http.StatusNotFound:
			record(ack{"user", u, res[1].seq, mfa.EventOTPEmailRemoved, "RemoveOTPEmail " + u + " through B"})
		default:
			t.Errorf("user %s: racing removals through A and B answered HTTP %d and %d, want one 200 and one 404", u, res[0].code, res[1].code)
		}
	}
	switch {
	case policyRemovals[0] == codes.OK && policyRemovals[1] == codes.NotFound:
		record(ack{"org", org, policySeqs[0], mfa.EventOrgSecondFactorRemov, "RemoveSecondFactor OTP through A"})
	case policyRemovals[1] == codes.OK && policyRemovals[0] == codes.NotFound:
		record(ack{"org", org, policySeqs[1], mfa.EventOrgSecondFactorRemov, "RemoveSecondFactor OTP through B"})
	default:
		t.Errorf("racing policy removals through A and B: %v, want one OK and one NotFound", policyRemovals)
	}

	// Stop both replicas (graceful: exit 0), then check the database.
	a.stop(t)
	b.stop(t)

	ctx := context.Background()
	store, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	core, err := mfa.New(mfa.Config{Store: store, MasterKey: masterKey, PasswordHashCost: mfa.MinPasswordHashCost})
	if err != nil {
		t.Fatal(err)
	}

	// Every acknowledged write is in the log, at the sequence it reported.
	for _, x := range acks {
		events, err := store.Load(ctx, x.aggType, x.aggID, x.sequence-1)
		if err != nil || len(events) == 0 || events[0].Sequence != x.sequence || events[0].Type != x.eventType {
			t.Errorf("%s acknowledged sequence %d, but the log has %+v (%v)", x.what, x.sequence, first(events), err)
		}
	}

	// Per user: one OTP email added and one removed (the race lost no
	// event and wrote no second removal), one OTP SMS, one TOTP.
	for _, u := range ids {
		events, err := store.Load(ctx, "user", u, 0)
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, e := range events {
			count[e.Type]++
		}
		for typ, want := range map[string]int{mfa.EventOTPEmailAdded: 1, mfa.EventOTPEmailRemoved: 1, mfa.EventOTPSMSAdded: 1, mfa.EventTOTPAdded: 1} {
			if count[typ] != want {
				t.Errorf("user %s: %d %s events, want %d", u, count[typ], typ, want)
			}
		}
	}
	orgEvents, err := store.Load(ctx, "org", org, 0)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range orgEvents {
		count[e.Type]++
	}
	if count[mfa.EventOrgSecondFactorAdded] != 3 || count[mfa.EventOrgSecondFactorRemov] != 1 {
		t.Errorf("org: %d second factors added (want 3), %d removed (want 1)", count[mfa.EventOrgSecondFactorAdded], count[mfa.EventOrgSecondFactorRemov])
	}

	// Every aggregate: sequences 1..n in position order, and the stored
	// document equals the fold of the events.
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT DISTINCT aggregate_type, aggregate_id FROM events ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	type aggKey struct{ typ, id string }
	aggs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (aggKey, error) {
		var k aggKey
		return k, r.Scan(&k.typ, &k.id)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(aggs) < users+3 { // the users, the org, the instance, the first org, the admin
		t.Fatalf("only %d aggregates in the log", len(aggs))
	}
	for _, k := range aggs {
		events, err := store.Load(ctx, k.typ, k.id, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range events {
			if e.Sequence != uint64(i+1) {
				t.Errorf("%s/%s: event %d has sequence %d", k.typ, k.id, i, e.Sequence)
			}
			if i > 0 && e.Position <= events[i-1].Position {
				t.Errorf("%s/%s: sequence %d at position %d, not after %d", k.typ, k.id, e.Sequence, e.Position, events[i-1].Position)
			}
		}
		replayed, stored, err := core.Replay(ctx, k.typ, k.id)
		if err != nil {
			t.Errorf("Replay %s/%s: %v", k.typ, k.id, err)
			continue
		}
		var r, s map[string]any
		if err := json.Unmarshal(replayed, &r); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(stored, &s); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(r, s) {
			t.Errorf("%s/%s: the stored document differs from the fold of its events\nreplayed: %s\nstored:   %s", k.typ, k.id, replayed, stored)
		}
	}
	// Positions are unique and the counter is at the last one.
	var n, maxPos, last int64
	if err := conn.QueryRow(ctx, `SELECT count(*), coalesce(max(position), 0), (SELECT last FROM event_position) FROM events`).Scan(&n, &maxPos, &last); err != nil {
		t.Fatal(err)
	}
	if maxPos != last {
		t.Errorf("max position %d, event_position.last %d", maxPos, last)
	}
	t.Logf("%d events in %d aggregates, %d acknowledged writes checked", n, len(aggs), len(acks))
}

func first[T any](s []T) any {
	if len(s) == 0 {
		return nil
	}
	return s[0]
}
