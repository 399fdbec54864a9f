package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server"
	"github.com/factorgate/factorgate/server/mfa"
)

// A webhook that answers 302 has not taken the notification: following the
// redirect would turn the signed POST into a GET without a body (to any
// host the Location names, with the signature header), and its 2xx would
// mark the notification delivered although nobody got it. A redirect is a
// failed attempt, retried; the redirect's target never hears from us.
func TestWebhookRedirectIsAFailedAttemptNotADelivery(t *testing.T) {
	var mu sync.Mutex
	var got []string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, fmt.Sprintf("%s %d signed=%t", r.Method, len(body), r.Header.Get(server.SignatureHeader) != ""))
		mu.Unlock()
	}))
	t.Cleanup(target.Close)
	moved := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/hooks", http.StatusFound)
	}))
	t.Cleanup(moved.Close)

	e := mustRunServer(t, withWebhook(moved.URL))
	e.enrollTOTP(e.newHuman(e.org))

	var pending, delivered []listedNotification
	waitUntil(t, "a second attempt at the redirecting webhook, or a delivery", func() bool {
		_, pending = listNotifications(t, e.base, e.admin, "state=pending")
		_, delivered = listNotifications(t, e.base, e.admin, "state=delivered")
		return len(delivered) > 0 || len(pending) == 1 && pending[0].Attempts >= 2
	})
	mu.Lock()
	calls := append([]string(nil), got...)
	mu.Unlock()
	if len(delivered) != 0 || len(calls) != 0 {
		t.Fatalf("a redirect counted as delivery: delivered %+v; the redirect's target got %v", delivered, calls)
	}
	if n := pending[0]; n.LastStatus != http.StatusFound {
		t.Fatalf("pending notification %+v, want last status 302", n)
	}
}

// A change of the instance's default login policy concerns every
// organization that uses it, so an organization's own webhook hears of it
// too. Before, it went to the webhooks for all only, and with none of
// those configured it was marked delivered without a request.
func TestWebhookOrganizationHearsOfDefaultPolicyChanges(t *testing.T) {
	mine := newReceiver(t, func(string, int) int { return http.StatusOK })
	dir := t.TempDir()
	e := mustRunServer(t, withDataDir(dir))
	org := e.newOrg("default-policy-org")
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	e = mustRunServer(t, withDataDir(dir), withWebhook("org="+org+"="+mine.srv.URL))
	if code, body := e.rawREST(http.MethodPost, "/admin/v1/policies/login/second_factors", e.admin, `{"type":"SECOND_FACTOR_TYPE_OTP_SMS"}`); code != http.StatusOK {
		t.Fatalf("AddSecondFactorToLoginPolicy (default): %d %s", code, body)
	}
	var delivered []listedNotification
	waitUntil(t, "the default policy change delivered", func() bool {
		_, delivered = listNotifications(t, e.base, e.admin, "state=delivered")
		return len(delivered) == 1
	})
	got := mine.deliveries()
	if len(got) != 1 || got[0].Body.Type != mfa.ActionPolicyChanged || got[0].Body.Event.Aggregate != "instance" {
		t.Fatalf("the organization's webhook got %+v, want the default policy's change (delivered: %+v)", got, delivered)
	}
}

// One organization's webhook is down with a page's worth (1000) and more
// of notifications waiting for their retry. Another organization's new
// notification is still delivered: the dispatcher goes round the pending
// notifications a page at a time instead of looking only at the oldest
// page, which here holds nothing due for a minute.
func TestWebhookBacklogOfOneOrganizationDoesNotHoldUpAnother(t *testing.T) {
	down := newReceiver(t, func(string, int) int { return http.StatusServiceUnavailable })
	up := newReceiver(t, func(string, int) int { return http.StatusOK })
	dir := t.TempDir()
	e := mustRunServer(t, withDataDir(dir))
	orgA, orgB := e.newOrg("backlog-a"), e.newOrg("backlog-b")
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	e = mustRunServer(t, withDataDir(dir), withWebhook("org="+orgA+"="+down.srv.URL, "org="+orgB+"="+up.srv.URL),
		func(c *server.Config) { c.WebhookBackoff, c.WebhookMaxBackoff = time.Minute, time.Minute })
	const backlog = 1200
	if _, err := e.core.Seed(e.ctx, mfa.SeedOptions{OrgID: orgA, Users: backlog, Prefix: "backlog"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "every notification of A tried once", func() bool { return len(down.deliveries()) >= backlog })
	e.enrollTOTP(e.newHuman(orgB))
	waitUntil(t, "B's notification delivered", func() bool { return len(up.acked()) == 1 })
	if n := len(down.deliveries()); n > backlog+100 {
		t.Fatalf("A's webhook got %d requests for %d notifications waiting a minute", n, backlog)
	}
}
