package server_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	mgmt "github.com/factorgate/factorgate/gen/zitadel/management"
	"github.com/factorgate/factorgate/gen/zitadel/policy"
	"github.com/factorgate/factorgate/server/eventstore"
	"github.com/factorgate/factorgate/server/eventstore/postgres"
	"github.com/factorgate/factorgate/server/eventstore/postgres/pgtest"
	"github.com/factorgate/factorgate/server/eventstore/sqlite"
	"github.com/factorgate/factorgate/server/mfa"
)

// startProc starts `factorgate serve` on dataDir (kept across restarts)
// and returns once it logs where it listens.
func startProc(t *testing.T, bin, name, dataDir string, args ...string) *replicaProc {
	t.Helper()
	r := &replicaProc{name: name, dataDir: dataDir, done: make(chan struct{}), logs: &bytes.Buffer{}, logsMu: &sync.Mutex{}}
	r.cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir,
		"--log-format", "text", "--log-level", "info"}, args...)...)
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			r.logsMu.Lock()
			r.logs.WriteString(sc.Text() + "\n")
			r.logsMu.Unlock()
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		r.exitErr = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() { r.kill() })
	select {
	case a := <-addr:
		r.addr, r.base = a, "http://"+a
	case <-r.done:
		t.Fatalf("%s exited before serving: %v\n%s", name, r.exitErr, r.logText())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not log its address within 60s\n%s", name, r.logText())
	}
	conn, err := grpc.NewClient(r.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	r.conn = conn
	return r
}

// kill sends SIGKILL and waits for the process to be gone.
func (r *replicaProc) kill() {
	select {
	case <-r.done:
	default:
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
		<-r.done
	}
	if r.conn != nil {
		r.conn.Close()
	}
}

// crashClient sends requests to a server that may die at any moment: a
// transport error is an unacknowledged write, not a test failure.
var crashClient = &http.Client{Timeout: 10 * time.Second}

func crashREST(base, method, path, token, org, body string) (int, map[string]any, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if org != "" {
		req.Header.Set("x-zitadel-orgid", org)
	}
	res, err := crashClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return res.StatusCode, nil, fmt.Errorf("HTTP %d, body is not JSON: %q", res.StatusCode, raw)
	}
	return res.StatusCode, out, nil
}

// TestCrashSIGKILLRoundsLoseNoAcknowledgedWrite runs `factorgate serve`,
// drives enrollments, removals (REST and gRPC) and policy changes (gRPC)
// from several clients at once, and kills the process with SIGKILL at a
// random moment; then, with the server dead, it opens the store in the
// test and checks that every acknowledged write is in the log at the
// sequence and type it reported, that every aggregate's sequences are
// 1..n, and that every stored document of a user, organization or
// instance equals the fold of its events and exists exactly when it has
// events (no event without its read-table change, or the reverse). Then it
// restarts the server on the same data and does it again, several rounds.
// SQLite always; PostgreSQL when FACTORGATE_TEST_DB is set.
// FACTORGATE_CRASH_SEED replays a run; FACTORGATE_CRASH_ROUNDS sets the
// number of rounds (default 5).
func TestCrashSIGKILLRoundsLoseNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel() // long; shares nothing with other tests (make test time)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FACTORGATE_CRASH_SEED"); s != "" {
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatalf("FACTORGATE_CRASH_SEED: %v", err)
		}
	}
	rounds := 5
	if s := os.Getenv("FACTORGATE_CRASH_ROUNDS"); s != "" {
		if _, err := fmt.Sscan(s, &rounds); err != nil || rounds < 1 {
			t.Fatalf("FACTORGATE_CRASH_ROUNDS %q: want a positive number", s)
		}
	}
	t.Logf("seed %d (FACTORGATE_CRASH_SEED=%d replays the kill moments and the choice of requests)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	bin := buildFactorgate(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "masterkey")
	masterKey := bytes.Repeat([]byte{0x3c}, 32)
	if err := os.WriteFile(key, []byte(fmt.Sprintf("%x\n", masterKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--masterkey-file", key}
	dbURL := ""
	if pgtest.Enabled() {
		dbURL = pgtest.SchemaURL(t)
		args = append(args, "--db", dbURL)
	}

	p := startProc(t, bin, "round 1", dataDir, args...)
	pat, err := os.ReadFile(filepath.Join(dataDir, "admin.pat"))
	if err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimSpace(string(pat))

	// Fixtures: an organization with a custom policy and people with
	// verified email and phone.
	code, body, err := crashREST(p.base, http.MethodPost, "/v2/organizations", admin, "", `{"name":"crash"}`)
	if err != nil || code/100 != 2 {
		t.Fatalf("AddOrganization: HTTP %d %v %v", code, body, err)
	}
	org, _ := body["organizationId"].(string)
	code, body, err = crashREST(p.base, http.MethodPost, "/management/v1/policies/login", admin, org,
		`{"forceMfa":false,"secondFactors":["SECOND_FACTOR_TYPE_OTP"]}`)
	if err != nil || code != http.StatusOK {
		t.Fatalf("AddCustomLoginPolicy: HTTP %d %v %v", code, body, err)
	}
	const people = 8
	users := make([]string, people)
	for i := range people {
		code, body, err := crashREST(p.base, http.MethodPost, "/v2/users/human", admin, "", fmt.Sprintf(`{
			"organization": {"orgId": %q}, "username": "crash%d",
			"profile": {"givenName": "Ada", "familyName": "Lovelace"},
			"email": {"email": "crash%d@example.com", "isVerified": true},
			"phone": {"phone": "+4179555%04d", "isVerified": true}}`, org, i, i, i))
		if err != nil || code/100 != 2 {
			t.Fatalf("AddHumanUser %d: HTTP %d %v %v", i, code, body, err)
		}
		users[i], _ = body["userId"].(string)
	}

	var (
		mu      sync.Mutex
		acks    []ack
		sent    atomic.Int64
		lost    atomic.Int64 // requests that got no answer (the kill)
		refused atomic.Int64 // answered, but not a success (409/404/…)
	)
	record := func(x ack) {
		mu.Lock()
		defer mu.Unlock()
		acks = append(acks, x)
	}
	type restOp struct {
		method, path, event string
	}
	userOps := []restOp{
		{http.MethodPost, "/otp_email", mfa.EventOTPEmailAdded},
		{http.MethodDelete, "/otp_email", mfa.EventOTPEmailRemoved},
		{http.MethodPost, "/otp_sms", mfa.EventOTPSMSAdded},
		{http.MethodDelete, "/otp_sms", mfa.EventOTPSMSRemoved},
	}
	policyTypes := []policy.SecondFactorType{sfOTPSMS, sfOTPEmail, sfU2F}

	// load runs workers against p until stop is closed.
	load := func(p *replicaProc, stop <-chan struct{}, seeds []uint64) {
		var wg sync.WaitGroup
		for w, s := range seeds {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(s, uint64(w)))
				for {
					select {
					case <-stop:
						return
					default:
					}
					sent.Add(1)
					u := users[r.IntN(people)]
					switch n := r.IntN(10); {
					case n < 6: // REST v2 enrollments and removals
						o := userOps[r.IntN(len(userOps))]
						code, body, err := crashREST(p.base, o.method, "/v2/users/"+u+o.path, admin, "", func() string {
							if o.method == http.MethodPost {
								return "{}"
							}
							return ""
						}())
						switch {
						case err != nil && code == 0:
							lost.Add(1)
						case err != nil:
							t.Errorf("%s %s: %v", o.method, o.path, err)
						case code == http.StatusOK || code == http.StatusCreated:
							record(ack{"user", u, detailsSequence(body), o.event, o.method + " /v2/users/" + u + o.path})
						default:
							refused.Add(1)
						}
					case n < 8: // management.v1 removals over gRPC
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+admin, "x-zitadel-orgid", org)
						var seq uint64
						var err error
						event := mfa.EventOTPSMSRemoved
						if r.IntN(2) == 0 {
							resp := &mgmt.RemoveHumanAuthFactorOTPSMSResponse{}
							err = p.conn.Invoke(ctx, mgmtSvc+"RemoveHumanAuthFactorOTPSMS", &mgmt.RemoveHumanAuthFactorOTPSMSRequest{UserId: u}, resp)
							seq = resp.GetDetails().GetSequence()
						} else {
							event = mfa.EventOTPEmailRemoved
							resp := &mgmt.RemoveHumanAuthFactorOTPEmailResponse{}
							err = p.conn.Invoke(ctx, mgmtSvc+"RemoveHumanAuthFactorOTPEmail", &mgmt.RemoveHumanAuthFactorOTPEmailRequest{UserId: u}, resp)
							seq = resp.GetDetails().GetSequence()
						}
						cancel()
						if err == nil {
							record(ack{"user", u, seq, event, "gRPC " + event + " " + u})
						} else {
							refused.Add(1) // NotFound, or Unavailable when killed
						}
					default: // the organization's policy over gRPC
						typ := policyTypes[r.IntN(len(policyTypes))]
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+admin, "x-zitadel-orgid", org)
						var seq uint64
						var err error
						event := mfa.EventOrgSecondFactorAdded
						if r.IntN(2) == 0 {
							resp := &mgmt.AddSecondFactorToLoginPolicyResponse{}
							err = p.conn.Invoke(ctx, mgmtSvc+"AddSecondFactorToLoginPolicy", &mgmt.AddSecondFactorToLoginPolicyRequest{Type: typ}, resp)
							seq = resp.GetDetails().GetSequence()
						} else {
							event = mfa.EventOrgSecondFactorRemov
							resp := &mgmt.RemoveSecondFactorFromLoginPolicyResponse{}
							err = p.conn.Invoke(ctx, mgmtSvc+"RemoveSecondFactorFromLoginPolicy", &mgmt.RemoveSecondFactorFromLoginPolicyRequest{Type: typ}, resp)
							seq = resp.GetDetails().GetSequence()
						}
						cancel()
						if err == nil {
							record(ack{"org", org, seq, event, "gRPC " + event + " " + typ.String()})
						} else {
							refused.Add(1)
						}
					}
				}
			})
		}
		wg.Wait()
	}

	const workers = 8
	for round := 1; round <= rounds; round++ {
		if round > 1 {
			p = startProc(t, bin, fmt.Sprintf("round %d", round), dataDir, args...)
		}
		// The service answers again (after a crash: on the data the last
		// process left behind).
		if code, body, err := crashREST(p.base, http.MethodPost, "/management/v1/users/"+users[0]+"/auth_factors/_search", admin, org, "{}"); err != nil || code != http.StatusOK {
			t.Fatalf("round %d: the restarted server does not answer: HTTP %d %v %v\n%s", round, code, body, err, p.logText())
		}
		seeds := make([]uint64, workers)
		for i := range seeds {
			seeds[i] = rng.Uint64()
		}
		stop := make(chan struct{})
		killAfter := time.Duration(300+rng.IntN(1200)) * time.Millisecond
		before := len(acks)
		done := make(chan struct{})
		go func() { load(p, stop, seeds); close(done) }()
		time.Sleep(killAfter)
		// SIGKILL while the workers are still sending.
		p.kill()
		close(stop)
		<-done
		mu.Lock()
		n := len(acks) - before
		mu.Unlock()
		if n == 0 {
			t.Errorf("round %d: no write was acknowledged in %v (the load did not run)", round, killAfter)
		}
		t.Logf("round %d: SIGKILL after %v, %d writes acknowledged in the round", round, killAfter, n)
		checkCrashedStore(t, round, dataDir, dbURL, masterKey, acks)
		if t.Failed() {
			t.Fatalf("round %d failed (seed %d)", round, seed)
		}
	}
	// The last crash is survived too: the service answers again.
	p = startProc(t, bin, "after the last round", dataDir, args...)
	if code, body, err := crashREST(p.base, http.MethodPost, "/management/v1/users/"+users[0]+"/auth_factors/_search", admin, org, "{}"); err != nil || code != http.StatusOK {
		t.Fatalf("after %d rounds the server does not answer: HTTP %d %v %v", rounds, code, body, err)
	}
	p.stop(t)
	t.Logf("%d rounds of SIGKILL survived; %d requests sent, %d writes acknowledged and all %d found at their sequence; %d refused, %d unanswered (killed)",
		rounds, sent.Load(), len(acks), len(acks), refused.Load(), lost.Load())
}

// checkCrashedStore opens the store of a dead server and checks the log
// and the read tables against each other and the acknowledged writes.
func checkCrashedStore(t *testing.T, round int, dataDir, dbURL string, masterKey []byte, acks []ack) {
	t.Helper()
	ctx := context.Background()
	var (
		store eventstore.Store
		err   error
		query func(q string) ([][2]string, error)
	)
	if dbURL != "" {
		pg, err := postgres.Open(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		store = pg
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		query = func(q string) ([][2]string, error) {
			rows, err := conn.Query(ctx, q)
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
				var k [2]string
				return k, r.Scan(&k[0], &k[1])
			})
		}
	} else {
		path := filepath.Join(dataDir, "factorgate.db")
		// Opening the store recovers the WAL the killed process left.
		sq, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatalf("round %d: the database does not open after SIGKILL: %v", round, err)
		}
		store = sq
		db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		query = func(q string) ([][2]string, error) {
			rows, err := db.QueryContext(ctx, q)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var out [][2]string
			for rows.Next() {
				var k [2]string
				if err := rows.Scan(&k[0], &k[1]); err != nil {
					return nil, err
				}
				out = append(out, k)
			}
			return out, rows.Err()
		}
	}
	defer store.Close()
	core, err := mfa.New(mfa.Config{Store: store, MasterKey: masterKey, PasswordHashCost: mfa.MinPasswordHashCost})
	if err != nil {
		t.Fatal(err)
	}

	aggs, err := query(`SELECT DISTINCT aggregate_type, aggregate_id FROM events ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := query(`SELECT kind, id FROM docs WHERE kind IN ('user', 'org', 'instance') ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(aggs, docs) {
		t.Errorf("round %d: aggregates with events %v, but documents %v", round, aggs, docs)
	}
	// Each aggregate's log is read once a round: the acknowledged writes of
	// every round so far are checked against it below.
	logs := make(map[[2]string][]eventstore.Event, len(aggs))
	for _, k := range aggs {
		events, err := store.Load(ctx, k[0], k[1], 0)
		if err != nil {
			t.Fatal(err)
		}
		logs[k] = events
		for i, e := range events {
			if e.Sequence != uint64(i+1) {
				t.Errorf("round %d: %s/%s: event %d has sequence %d (a gap)", round, k[0], k[1], i, e.Sequence)
			}
		}
		replayed, stored, err := core.Replay(ctx, k[0], k[1])
		if err != nil {
			t.Errorf("round %d: Replay %s/%s: %v", round, k[0], k[1], err)
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
			t.Errorf("round %d: %s/%s: the stored document differs from the fold of its events\nreplayed: %s\nstored:   %s", round, k[0], k[1], replayed, stored)
		}
	}

	// Every acknowledged write, of this round and the earlier ones, is in
	// the log at the sequence it reported (the logs have no gaps, checked
	// above, so sequence n is the n-th event).
	for _, x := range acks {
		events := logs[[2]string{x.aggType, x.aggID}]
		var found []eventstore.Event
		if x.sequence >= 1 && x.sequence <= uint64(len(events)) {
			found = events[x.sequence-1:]
		}
		if len(found) == 0 || found[0].Sequence != x.sequence || found[0].Type != x.eventType {
			t.Errorf("round %d: %s was acknowledged with sequence %d, but the log has %+v", round, x.what, x.sequence, first(found))
		}
	}
}
