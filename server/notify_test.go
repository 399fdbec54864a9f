package server_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server"
	"github.com/factorgate/factorgate/server/mfa"
)

const testWebhookSecret = "whsec-test-0123456789"

// delivery is one request the test's webhook receiver got.
type delivery struct {
	ID     string
	Status int // what the receiver answered
	Body   server.NotificationBody
}

// receiver is a webhook endpoint on 127.0.0.1 that checks every request
// the way a real receiver should: the signature over timestamp and body,
// a timestamp at most five minutes old, the idempotency key.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	log    []delivery
	tries  map[string]int
	status func(id string, try int) int // the answer to the try-th request for id (1-based)
	got2xx chan string
}

func newReceiver(t testing.TB, status func(id string, try int) int) *receiver {
	r := &receiver{t: t, tries: map[string]int{}, status: status, got2xx: make(chan string, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setStatus(f func(id string, try int) int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = f
}

// verifySignature is the receiver's side of X-Factorgate-Signature.
func verifySignature(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return fmt.Errorf("malformed signature header %q", header)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("timestamp %s outside the tolerance (replay?)", ts)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, want) {
		return fmt.Errorf("signature mismatch")
	}
	return nil
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("webhook request %s with Content-Type %q", req.Method, req.Header.Get("Content-Type"))
	}
	if err := verifySignature(testWebhookSecret, req.Header.Get(server.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
		r.t.Errorf("webhook signature: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	// A body signed with another secret, or changed on the way, fails.
	if verifySignature("other", req.Header.Get(server.SignatureHeader), body, time.Now(), 5*time.Minute) == nil ||
		verifySignature(testWebhookSecret, req.Header.Get(server.SignatureHeader), append(body, ' '), time.Now(), 5*time.Minute) == nil {
		r.t.Errorf("the signature check accepts a wrong secret or a changed body")
	}
	var b server.NotificationBody
	if err := json.Unmarshal(body, &b); err != nil || b.ID == "" || req.Header.Get("Idempotency-Key") != b.ID {
		r.t.Errorf("webhook body %s (Idempotency-Key %q): %v", body, req.Header.Get("Idempotency-Key"), err)
	}
	r.mu.Lock()
	r.tries[b.ID]++
	status := r.status(b.ID, r.tries[b.ID])
	r.log = append(r.log, delivery{ID: b.ID, Status: status, Body: b})
	r.mu.Unlock()
	w.WriteHeader(status)
	if status >= 200 && status < 300 {
		select {
		case r.got2xx <- b.ID:
		default: // nobody waits for that many
		}
	}
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.log...)
}

// acked returns how many 2xx answers each notification id got.
func (r *receiver) acked() map[string]int {
	out := map[string]int{}
	for _, d := range r.deliveries() {
		if d.Status >= 200 && d.Status < 300 {
			out[d.ID]++
		}
	}
	return out
}

// logTable renders the receiver's log: id, try, status (for the closing note).
func (r *receiver) logTable() string {
	var sb strings.Builder
	tries := map[string]int{}
	for _, d := range r.deliveries() {
		tries[d.ID]++
		fmt.Fprintf(&sb, "  %s %-15s try %d -> %d\n", d.ID, d.Body.Type, tries[d.ID], d.Status)
	}
	return sb.String()
}

// withWebhook points the server at urls, with fast retries for tests.
func withWebhook(urls ...string) func(*server.Config) {
	return func(c *server.Config) {
		for _, u := range urls {
			w, err := server.ParseWebhook(u)
			if err != nil {
				panic(err)
			}
			c.Webhooks = append(c.Webhooks, w)
		}
		c.WebhookSecret = testWebhookSecret
		c.WebhookPoll, c.WebhookBackoff, c.WebhookMaxBackoff = 10*time.Millisecond, 20*time.Millisecond, 100*time.Millisecond
	}
}

// waitUntil polls cond until it holds; it is a wait, not a timing
// assertion: the bound only keeps a broken build from hanging.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type listedNotification struct {
	server.NotificationBody
	State      string `json:"state"`
	Attempts   int    `json:"attempts"`
	LastStatus int    `json:"lastStatus"`
}

func listNotifications(t testing.TB, base, token, query string) (int, []listedNotification) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/factorgate/v1/notifications?"+query, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Notifications []listedNotification `json:"notifications"`
	}
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("listing: %v: %s", err, raw)
		}
	} else if !strings.Contains(string(raw), `"message"`) {
		t.Fatalf("listing error %d without a JSON message: %s", res.StatusCode, raw)
	}
	return res.StatusCode, out.Notifications
}

func TestWebhookSignedPayloadRetriedAfter500AndListedAsDelivered(t *testing.T) {
	rcv := newReceiver(t, func(_ string, try int) int {
		if try == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	e := mustRunServer(t, withWebhook(rcv.srv.URL))
	user := e.newHuman(e.org)
	e.enrollTOTP(user)
	code, raw := e.rawREST(http.MethodDelete, "/v2/users/"+user+"/totp", e.admin, "")
	if code != http.StatusOK {
		t.Fatalf("RemoveTOTP: %d %s", code, raw)
	}
	adminID := e.srv.Bootstrap().AdminUserID

	var removal delivery
	waitUntil(t, "the removal acknowledged", func() bool {
		for _, d := range rcv.deliveries() {
			if d.Body.Type == mfa.ActionFactorRemoved && d.Status == http.StatusNoContent {
				removal = d
				return true
			}
		}
		return false
	})
	b := removal.Body
	if b.UserID != user || b.OrgID != e.org || b.Actor != adminID || b.Factor == nil || b.Factor.Type != "totp" ||
		b.Via == nil || b.Via.Dialect != "zitadel" || b.Via.Transport != "rest" || !strings.HasSuffix(b.Via.Method, "/RemoveTOTP") ||
		b.Event.Type != mfa.EventTOTPRemoved || b.Event.AggregateID != user || b.OccurredAt.IsZero() {
		t.Fatalf("removal notification = %+v (via %+v)", b, b.Via)
	}
	// Every notification: a 500, then one 204; never a second 2xx.
	waitUntil(t, "the enrolment acknowledged too", func() bool { return len(rcv.acked()) == 2 })
	for id, n := range rcv.acked() {
		if n != 1 {
			t.Fatalf("notification %s acknowledged %d times", id, n)
		}
	}
	// The receiver's 2xx comes before the dispatcher records it: wait for the record.
	var list []listedNotification
	waitUntil(t, "both recorded as delivered", func() bool {
		_, list = listNotifications(t, e.base, e.admin, "state=delivered")
		return len(list) == 2
	})
	for _, n := range list {
		if n.State != mfa.NotificationDelivered || n.Attempts != 2 || n.LastStatus != http.StatusNoContent {
			t.Fatalf("listed %+v, want delivered after 2 attempts", n)
		}
	}
	if code, list := listNotifications(t, e.base, e.admin, "state=pending"); code != http.StatusOK || len(list) != 0 {
		t.Fatalf("pending listing: %d %+v", code, list)
	}
	t.Logf("delivery log (receiver: first try 500, then 204):\n%s", rcv.logTable())

	// The counters show it (they count just after the record).
	waitUntil(t, "the delivery counters", func() bool {
		res, body := e.send(t, http.MethodGet, "/metrics", nil, nil)
		return res.StatusCode == http.StatusOK && strings.Contains(string(body), `factorgate_webhook_attempts_total{outcome="5xx"} 2`) &&
			strings.Contains(string(body), `factorgate_webhook_attempts_total{outcome="2xx"} 2`) &&
			strings.Contains(string(body), "factorgate_notifications_delivered_total 2")
	})
}

func TestNotificationListingBadInputGetsJSONErrors(t *testing.T) {
	rcv := newReceiver(t, func(string, int) int { return http.StatusServiceUnavailable })
	e := mustRunServer(t, withWebhook(rcv.srv.URL))
	other := e.newOrg("listing-other")
	e.enrollTOTP(e.newHuman(other))
	e.enrollTOTP(e.newHuman(e.org))
	_, plain := e.machineToken(e.org)
	_, manager := e.machineToken(e.org, "ORG_USER_MANAGER")
	for _, tc := range []struct {
		name, token, query string
		want               int
	}{
		{"NoTokenGets401", "", "state=pending", http.StatusUnauthorized},
		{"BadTokenGets401", "fg_nope", "state=pending", http.StatusUnauthorized},
		{"UnknownStateGets400", e.admin, "state=lost", http.StatusBadRequest},
		{"BadLimitGets400", e.admin, "limit=0", http.StatusBadRequest},
		{"UserWithoutRoleGets404NoMembershipAsZITADEL", plain, "state=pending", http.StatusNotFound},
		{"OrgManagerOfOtherOrgGets404NoMembership", manager, "org_id=" + other, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _ := listNotifications(t, e.base, tc.token, tc.query); code != tc.want {
				t.Fatalf("status %d, want %d", code, tc.want)
			}
		})
	}
	t.Run("OrgManagerSeesOnlyTheirOrganization", func(t *testing.T) {
		code, list := listNotifications(t, e.base, manager, "state=pending")
		if code != http.StatusOK || len(list) != 1 || list[0].OrgID != e.org {
			t.Fatalf("%d %+v", code, list)
		}
	})
	t.Run("InstanceAdminSeesEvery", func(t *testing.T) {
		code, list := listNotifications(t, e.base, e.admin, "")
		if code != http.StatusOK || len(list) != 2 {
			t.Fatalf("%d %+v", code, list)
		}
	})
}

func TestWebhookPerOrganizationTargets(t *testing.T) {
	all := newReceiver(t, func(string, int) int { return http.StatusOK })
	mine := newReceiver(t, func(string, int) int { return http.StatusOK })
	dir := t.TempDir()
	e := mustRunServer(t, withDataDir(dir))
	other := e.newOrg("webhook-org")
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	e = mustRunServer(t, withDataDir(dir), withWebhook(all.srv.URL, "org="+other+"="+mine.srv.URL))
	e.enrollTOTP(e.newHuman(e.org))
	e.enrollTOTP(e.newHuman(other))
	waitUntil(t, "both delivered", func() bool { return len(all.acked()) == 2 && len(mine.acked()) == 1 })
	for _, d := range mine.deliveries() {
		if d.Body.OrgID != other {
			t.Fatalf("the organization's webhook got %s's notification", d.Body.OrgID)
		}
	}
}

func TestWebhookPendingDeliveredAfterRestart(t *testing.T) {
	rcv := newReceiver(t, func(string, int) int { return http.StatusServiceUnavailable })
	dir := t.TempDir()
	e := mustRunServer(t, withDataDir(dir), withWebhook(rcv.srv.URL))
	user := e.newHuman(e.org)
	e.enrollTOTP(user)
	waitUntil(t, "a failed attempt", func() bool { return len(rcv.deliveries()) > 0 })
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(rcv.acked()); n != 0 {
		t.Fatalf("acknowledged before the restart: %d", n)
	}
	rcv.setStatus(func(string, int) int { return http.StatusAccepted })
	e = mustRunServer(t, withDataDir(dir), withWebhook(rcv.srv.URL))
	waitUntil(t, "delivery after the restart", func() bool { return len(rcv.acked()) == 1 })
	waitUntil(t, "marked delivered", func() bool {
		_, list := listNotifications(t, e.base, e.admin, "state=delivered")
		return len(list) == 1
	})
	t.Logf("delivery log (503 before the restart, 202 after):\n%s", rcv.logTable())
}

// TestWebhookNoLossUnderSIGKILL runs the binary: notifications queued while
// the receiver fails; SIGKILL; a restart while the receiver accepts, killed
// again at the first acknowledgement (mid-round); a last restart delivers
// every one. Nothing is lost; a redelivery (a 2xx whose record the kill
// prevented) is possible and carries the same id, so the receiver dedupes.
func TestWebhookNoLossUnderSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	rcv := newReceiver(t, func(string, int) int { return http.StatusServiceUnavailable })
	bin := buildFactorgate(t)
	dir := t.TempDir()
	args := []string{"--webhook-url", rcv.srv.URL}
	t.Setenv("FACTORGATE_WEBHOOK_SECRET", testWebhookSecret)
	p := startProc(t, bin, "first", dir, args...)
	pat, err := os.ReadFile(filepath.Join(dir, "admin.pat"))
	if err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimSpace(string(pat))
	const cycles = 3
	for i := 0; i < cycles; i++ {
		if code, body := p.rest(t, http.MethodPost, "/admin/v1/policies/login/second_factors", admin, "", `{"type":"SECOND_FACTOR_TYPE_OTP_SMS"}`); code != http.StatusOK {
			t.Fatalf("add second factor: %d %v", code, body)
		}
		if code, body := p.rest(t, http.MethodDelete, "/admin/v1/policies/login/second_factors/SECOND_FACTOR_TYPE_OTP_SMS", admin, "", ""); code != http.StatusOK {
			t.Fatalf("remove second factor: %d %v", code, body)
		}
	}
	waitUntil(t, "a failed attempt", func() bool { return len(rcv.deliveries()) > 0 })
	p.kill()

	rcv.setStatus(func(string, int) int { return http.StatusOK })
	p = startProc(t, bin, "second", dir, args...)
	select {
	case <-rcv.got2xx:
	case <-time.After(60 * time.Second):
		t.Fatal("no acknowledgement after the first restart")
	}
	p.kill()

	p = startProc(t, bin, "third", dir, args...)
	var delivered []listedNotification
	waitUntil(t, "every notification delivered", func() bool {
		_, pending := listNotifications(t, p.base, admin, "state=pending")
		_, delivered = listNotifications(t, p.base, admin, "state=delivered")
		return len(pending) == 0 && len(delivered) == 2*cycles
	})
	acked := rcv.acked()
	redelivered := 0
	for _, n := range delivered {
		if acked[n.ID] == 0 {
			t.Fatalf("notification %s listed as delivered but never acknowledged", n.ID)
		}
		redelivered += acked[n.ID] - 1
	}
	if len(acked) != 2*cycles {
		t.Fatalf("receiver acknowledged %d distinct notifications, want %d", len(acked), 2*cycles)
	}
	t.Logf("%d notifications, all delivered; %d redelivered after a kill (same id, deduped by the receiver)\n%s",
		2*cycles, redelivered, rcv.logTable())
	p.stop(t)
}
