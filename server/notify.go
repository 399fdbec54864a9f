package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"

	"github.com/factorgate/factorgate/server/api"
	"github.com/factorgate/factorgate/server/mfa"
)

// Webhook is one endpoint notifications are POSTed to: every
// organization's (OrgID empty) or one organization's.
type Webhook struct {
	OrgID string
	URL   string
}

// ParseWebhook reads a --webhook-url value: "https://…" for every
// organization, or "org=<id>=https://…" for one.
func ParseWebhook(v string) (Webhook, error) {
	var w Webhook
	if rest, ok := strings.CutPrefix(v, "org="); ok {
		id, u, ok := strings.Cut(rest, "=")
		if !ok || id == "" {
			return w, fmt.Errorf("webhook %q: want org=<id>=<url>", v)
		}
		w.OrgID, v = id, u
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return w, fmt.Errorf("webhook: %q is not an http(s) URL", redactURL(v))
	}
	w.URL = v
	return w, nil
}

// SignatureHeader carries a delivery's signature: "t=<unix seconds>,
// v1=<hex HMAC-SHA256(secret, "<t>.<body>")>". A receiver recomputes the
// HMAC over the timestamp, a dot and the raw body, compares it in constant
// time, and rejects a timestamp older than it tolerates (five minutes is a
// good bound) to refuse replays; the notification id in the body lets it
// drop a repeated delivery.
const SignatureHeader = "X-Factorgate-Signature"

// Sign returns the SignatureHeader value of body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// webhookTarget names a webhook in the notification's events: a hash of
// its URL, which may carry credentials.
func webhookTarget(u string) string {
	sum := sha256.Sum256([]byte(u))
	return hex.EncodeToString(sum[:8])
}

func redactURL(v string) string {
	u, err := url.Parse(v)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery = nil, ""
	return u.Redacted()
}

// NotificationBody is the JSON a webhook receives.
type NotificationBody struct {
	// ID is the notification's id and its idempotency key: a receiver that
	// has seen it already acknowledges and drops it.
	ID         string      `json:"id"`
	Type       string      `json:"type"` // factor.added, factor.removed, policy.changed
	OccurredAt time.Time   `json:"occurredAt"`
	Event      EventRef    `json:"event"`
	Actor      string      `json:"actor"` // the user id who made the change ("system" outside an API)
	UserID     string      `json:"userId,omitempty"`
	OrgID      string      `json:"orgId"`
	Factor     *FactorRef  `json:"factor,omitempty"`
	Policy     *PolicyRef  `json:"policy,omitempty"`
	Via        *mfa.Origin `json:"via,omitempty"` // the dialect, RPC and transport
}

// EventRef names the stored event a notification tells about.
type EventRef struct {
	Type        string `json:"type"`
	Aggregate   string `json:"aggregate"`
	AggregateID string `json:"aggregateId"`
	Sequence    uint64 `json:"sequence"`
}

// FactorRef is the factor a notification is about.
type FactorRef struct {
	Type string `json:"type"` // totp, u2f, otp_sms, otp_email
	ID   string `json:"id,omitempty"`
}

// PolicyRef is the login policy a notification is about.
type PolicyRef struct {
	Level        string `json:"level"`                  // "org" or "instance"
	SecondFactor string `json:"secondFactor,omitempty"` // the type added or removed
}

func bodyOf(n mfa.Notification) NotificationBody {
	b := NotificationBody{ID: n.ID, Type: n.Action, OccurredAt: n.OccurredAt, Actor: n.Actor, UserID: n.UserID,
		OrgID: n.OrgID, Via: n.Via,
		Event: EventRef{Type: n.EventType, Aggregate: n.Aggregate, AggregateID: n.AggID, Sequence: n.Sequence}}
	if n.Factor != "" {
		b.Factor = &FactorRef{Type: string(n.Factor), ID: n.FactorID}
	}
	if n.Action == mfa.ActionPolicyChanged {
		b.Policy = &PolicyRef{Level: n.Aggregate, SecondFactor: string(n.PolicyType)}
	}
	return b
}

// dispatcher delivers pending notifications to the webhooks.
type dispatcher struct {
	core    *mfa.Service
	log     *slog.Logger
	hooks   []Webhook
	secret  []byte
	node    int
	poll    time.Duration
	backoff time.Duration // the first retry's wait; doubles up to maxWait
	maxWait time.Duration
	lease   time.Duration
	client  *http.Client

	attempts  *prometheus.CounterVec
	delivered prometheus.Counter
	pending   prometheus.Gauge

	cursor  string           // where the next round's page of pending notifications starts ("" the oldest)
	now     func() time.Time // the core's clock (claims and retries are compared with its readings)
	started time.Time        // claims this node took before are a previous run's
	stop    context.CancelFunc
	done    sync.WaitGroup
}

func newDispatcher(cfg Config, core *mfa.Service, log *slog.Logger) *dispatcher {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &dispatcher{
		now:  now,
		core: core, log: log, hooks: cfg.Webhooks, secret: []byte(cfg.WebhookSecret), node: cfg.Node,
		poll: cfg.WebhookPoll, backoff: cfg.WebhookBackoff, maxWait: cfg.WebhookMaxBackoff,
		lease: cfg.WebhookTimeout*time.Duration(len(cfg.Webhooks)) + 30*time.Second,
		// A redirect is not followed: the client would resend the signed
		// request as a GET without its body, perhaps to another host, and
		// count that answer. A 3xx is a failed attempt, retried.
		client: &http.Client{
			Timeout:       cfg.WebhookTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "factorgate_webhook_attempts_total",
			Help: "Webhook requests made for notifications, by outcome (2xx, 4xx, 5xx, other, error).",
		}, []string{"outcome"}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "factorgate_notifications_delivered_total",
			Help: "Notifications every webhook acknowledged with 2xx.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "factorgate_notifications_pending",
			Help: "Notifications waiting for delivery (at the dispatcher's last look at the oldest, at most 1000).",
		}),
	}
}

func (d *dispatcher) collectors() []prometheus.Collector {
	return []prometheus.Collector{d.attempts, d.delivered, d.pending}
}

func (d *dispatcher) start() {
	ctx, cancel := context.WithCancel(context.Background())
	d.stop, d.started = cancel, d.now()
	d.done.Add(1)
	go func() {
		defer d.done.Done()
		t := time.NewTicker(d.poll)
		defer t.Stop()
		for {
			d.round(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// dispatchPage is how many pending notifications a round looks at.
const dispatchPage = 1000

// close stops the dispatcher and waits for the round in flight.
func (d *dispatcher) close() {
	if d.stop != nil {
		d.stop()
		d.done.Wait()
	}
}

// round delivers what is due of the next page of pending notifications:
// each whose retry time has come and that no other dispatcher holds. The
// rounds go through the pending ones a page at a time and start again at
// the oldest after the last page, so every notification is looked at
// within (pending / page) rounds, however many others wait for a retry.
func (d *dispatcher) round(ctx context.Context) {
	first := d.cursor == ""
	pending, next, err := d.core.PendingNotifications(ctx, d.cursor, dispatchPage)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("notifications: list pending", "err", err)
		}
		return
	}
	d.cursor = next
	if first {
		d.pending.Set(float64(len(pending)))
	}
	for _, n := range pending {
		if ctx.Err() != nil {
			return
		}
		if d.now().Before(n.RetryAt) {
			continue
		}
		d.deliver(ctx, n)
	}
}

// targets are the webhooks for n: those for all, and its organization's;
// every one for a change of the instance's defaults, which concern every
// organization.
func (d *dispatcher) targets(n mfa.Notification) []Webhook {
	var out []Webhook
	for _, h := range d.hooks {
		if h.OrgID == "" || h.OrgID == n.OrgID || n.InstanceWide() {
			out = append(out, h)
		}
	}
	return out
}

func (d *dispatcher) deliver(ctx context.Context, n mfa.Notification) {
	n, ok, err := d.core.ClaimNotification(ctx, n.ID, d.node, d.started, d.now().Add(d.lease))
	if err != nil || !ok {
		if err != nil && ctx.Err() == nil {
			d.log.Warn("notifications: claim", "id", n.ID, "err", err)
		}
		return
	}
	body, err := json.Marshal(bodyOf(n))
	if err != nil {
		d.log.Error("notifications: encode", "id", n.ID, "err", err)
		return
	}
	var attempts []mfa.Attempt
	all := true
	for _, h := range d.targets(n) {
		target := webhookTarget(h.URL)
		if n.Acknowledged(target) {
			continue
		}
		a := mfa.Attempt{Target: target}
		a.Status, a.Error = d.post(ctx, h.URL, n.ID, body)
		attempts = append(attempts, a)
		if a.Status < 200 || a.Status > 299 {
			all = false
		}
		d.attempts.WithLabelValues(outcome(a.Status)).Inc()
		d.log.Info("notifications: attempt", "id", n.ID, "target", target, "status", a.Status, "err", a.Error)
	}
	// After the requests, record the round even when the server is closing:
	// a 2xx not recorded would be sent again after the restart.
	rec, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	retryAt := d.now().Add(d.wait(n.Attempts))
	if err := d.core.FinishNotification(rec, n.ID, attempts, all, retryAt); err != nil {
		d.log.Warn("notifications: record attempt", "id", n.ID, "err", err)
		return
	}
	if all {
		d.delivered.Inc()
	}
}

// wait is the jittered, bounded exponential backoff after attempts
// requests: backoff, 2×, 4×, … up to maxWait, each ±25 %.
func (d *dispatcher) wait(attempts int) time.Duration {
	w := d.backoff
	for i := 0; i < attempts && w < d.maxWait; i++ {
		w *= 2
	}
	w = min(w, d.maxWait)
	return w - w/4 + time.Duration(rand.Int64N(int64(w/2)+1))
}

func (d *dispatcher) post(ctx context.Context, u, id string, body []byte) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, "request: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "factorgate-webhook/1")
	req.Header.Set("Idempotency-Key", id)
	req.Header.Set(SignatureHeader, Sign(d.secret, time.Now(), body))
	resp, err := d.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL may carry credentials
		}
		return 0, err.Error()
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, ""
}

func outcome(status int) string {
	switch {
	case status == 0:
		return "error"
	case status >= 200 && status < 300:
		return "2xx"
	case status >= 400 && status < 500:
		return "4xx"
	case status >= 500 && status < 600:
		return "5xx"
	}
	return "other"
}

// notificationsHandler serves GET /factorgate/v1/notifications?state=
// pending|delivered&org_id=&limit= to an instance administrator (every
// organization's) or an organization's user.read holder (their
// organization's), with a bearer token.
func (s *Server) notificationsHandler(w http.ResponseWriter, r *http.Request) {
	writeErr := func(err error) {
		st, _ := api.ToStatus(err, nil)
		if st.Code() == codes.Unauthenticated {
			w.Header().Set("WWW-Authenticate", `Bearer realm="factorgate"`)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(runtime.HTTPStatusFromCode(st.Code()))
		_ = json.NewEncoder(w).Encode(map[string]any{"code": int(st.Code()), "message": st.Message()})
	}
	token, err := api.BearerToken(r.Header.Get("Authorization"))
	if err != nil {
		writeErr(err)
		return
	}
	p, err := s.core.Authenticate(r.Context(), token)
	if err != nil {
		writeErr(err)
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = mfa.NotificationPending
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			writeErr(&mfa.Error{Kind: mfa.KindInvalidArgument, ID: "NOTIFY-fgLim", Message: "limit must be 1 to 1000"})
			return
		}
	}
	list, err := s.core.ListNotifications(mfa.WithPrincipal(r.Context(), p), q.Get("org_id"), state, limit)
	if err != nil {
		writeErr(err)
		return
	}
	type item struct {
		NotificationBody
		State       string    `json:"state"`
		Attempts    int       `json:"attempts"`
		LastStatus  int       `json:"lastStatus,omitempty"`
		LastError   string    `json:"lastError,omitempty"`
		RetryAt     time.Time `json:"retryAt,omitzero"`
		DeliveredAt time.Time `json:"deliveredAt,omitzero"`
	}
	out := struct {
		Notifications []item `json:"notifications"`
	}{Notifications: []item{}}
	for _, n := range list {
		out.Notifications = append(out.Notifications, item{NotificationBody: bodyOf(n), State: n.State, Attempts: n.Attempts,
			LastStatus: n.LastStatus, LastError: n.LastError, RetryAt: n.RetryAt, DeliveredAt: n.DeliveredAt})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
