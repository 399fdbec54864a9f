package mfa

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
)

// Notifications: an outbox of factor and policy changes for webhooks.
//
// When notifications are on (Config.Notify), commit queues one
// notification per factor enrolment (the factor becomes ready), factor
// removal and login-policy change in the same transaction as the change's
// event: a change is never stored without its notification, nor a
// notification without its change. Each notification is an aggregate of
// its own ("notification"), so its delivery is recorded as events too:
// claimed (by a dispatcher, for a lease; the expected sequence lets only
// one replica claim one attempt), attempted (each webhook's answer), and
// delivered (every webhook answered 2xx). Its read-model document has the
// kind "notification" and, as owner, its state (NotificationPending or
// NotificationDelivered), so a dispatcher lists the pending ones.
//
// The core neither sends nor knows the webhooks: the server's dispatcher
// does (see server/notify.go).

// Notification states (the owner of the notification's document).
const (
	NotificationPending   = "pending"
	NotificationDelivered = "delivered"
)

// Notification actions.
const (
	ActionFactorAdded   = "factor.added"
	ActionFactorRemoved = "factor.removed"
	ActionPolicyChanged = "policy.changed"
)

const notificationDocKind = aggregateTypeNotify

// Notification is one queued notification and its delivery state.
type Notification struct {
	ID string `json:"id"` // also the idempotency key receivers dedupe by
	notificationQueuedPayload
	State        string    `json:"state"`
	Attempts     int       `json:"attempts"` // webhook requests made
	LastStatus   int       `json:"lastStatus,omitempty"`
	LastError    string    `json:"lastError,omitempty"`
	RetryAt      time.Time `json:"retryAt,omitzero"`
	Acked        []string  `json:"acked,omitempty"` // targets (hashes) that answered 2xx
	ClaimedUntil time.Time `json:"claimedUntil,omitzero"`
	ClaimedBy    int       `json:"claimedBy,omitempty"` // the node holding the claim
	ClaimedAt    time.Time `json:"claimedAt,omitzero"`
	DeliveredAt  time.Time `json:"deliveredAt,omitzero"`
}

// InstanceWide reports whether the notification is of the instance's own
// settings (its default login policy), which concern every organization
// that uses them, rather than of one organization.
func (n *Notification) InstanceWide() bool { return n.Aggregate == aggregateTypeInstance }

// Acknowledged reports whether target answered 2xx already.
func (n *Notification) Acknowledged(target string) bool { return slices.Contains(n.Acked, target) }

type notificationState struct {
	aggregate
	N Notification `json:"notification"`
}

func (s *notificationState) docKind() string  { return notificationDocKind }
func (s *notificationState) docOwner() string { return s.N.State }

func (s *notificationState) apply(e eventstore.Event) error {
	if err := s.track(e); err != nil {
		return err
	}
	switch e.Type {
	case EventNotificationQueued:
		if err := decode(e, &s.N.notificationQueuedPayload); err != nil {
			return err
		}
		s.N.ID, s.N.State = e.AggregateID, NotificationPending
	case EventNotificationClaimed:
		var p notificationClaimedPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		s.N.ClaimedUntil, s.N.ClaimedBy, s.N.ClaimedAt = p.Until, p.Node, e.CreatedAt
	case EventNotificationAttempted:
		var p notificationAttemptedPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		s.N.Attempts++
		s.N.LastStatus, s.N.LastError, s.N.RetryAt, s.N.ClaimedUntil = p.Status, p.Error, p.RetryAt, time.Time{}
		if p.Status >= 200 && p.Status < 300 && !slices.Contains(s.N.Acked, p.Target) {
			s.N.Acked = append(s.N.Acked, p.Target)
		}
	case EventNotificationDelivered:
		s.N.State, s.N.DeliveredAt, s.N.RetryAt, s.N.ClaimedUntil = NotificationDelivered, e.CreatedAt, time.Time{}, time.Time{}
	default:
		return errors.New("mfa: notification: unknown event " + e.Type)
	}
	return nil
}

// notificationOf says whether an event is one people are told about, and
// what the notification says.
func notificationOf(e eventstore.Event) (notificationQueuedPayload, bool) {
	n := notificationQueuedPayload{EventType: e.Type, Aggregate: e.AggregateType, AggID: e.AggregateID,
		Sequence: e.Sequence, OccurredAt: e.CreatedAt, Actor: e.Creator, OrgID: e.ResourceOwner}
	factor := func(action string, kind FactorKind) (notificationQueuedPayload, bool) {
		var p struct {
			ID  string `json:"id"`
			U2F string `json:"webAuthNTokenId"`
		}
		_ = json.Unmarshal(e.Payload, &p) // the event was encoded just now; ids are optional
		n.Action, n.Factor, n.UserID, n.FactorID = action, kind, e.AggregateID, p.ID
		if p.U2F != "" {
			n.FactorID = p.U2F
		}
		return n, true
	}
	switch e.Type {
	case EventTOTPVerified:
		return factor(ActionFactorAdded, FactorTOTP)
	case EventU2FVerified:
		return factor(ActionFactorAdded, FactorU2F)
	case EventOTPSMSAdded, EventOTPSMSRegistrationVerified:
		return factor(ActionFactorAdded, FactorOTPSMS)
	case EventOTPEmailAdded, EventOTPEmailRegistrationVerified:
		return factor(ActionFactorAdded, FactorOTPEmail)
	case EventTOTPRemoved:
		return factor(ActionFactorRemoved, FactorTOTP)
	case EventU2FRemoved:
		return factor(ActionFactorRemoved, FactorU2F)
	case EventOTPSMSRemoved:
		return factor(ActionFactorRemoved, FactorOTPSMS)
	case EventOTPEmailRemoved:
		return factor(ActionFactorRemoved, FactorOTPEmail)
	case EventInstanceSecondFactorAdded, EventInstanceSecondFactorRemov, EventOrgSecondFactorAdded, EventOrgSecondFactorRemov:
		var p secondFactorPayload
		_ = json.Unmarshal(e.Payload, &p)
		n.Action, n.PolicyType = ActionPolicyChanged, p.Type
		return n, true
	case EventOrgPolicyAdded, EventOrgPolicyChanged, EventOrgPolicyRemoved:
		n.Action = ActionPolicyChanged
		return n, true
	}
	return n, false
}

// queueNotifications adds a notification for every event of the change
// that people are told about. commit calls it, so no command forgets one.
func (s *Service) queueNotifications(c *change) error {
	if !s.notify || c.queued {
		return nil
	}
	c.queued = true
	events := len(c.batch.Events)
	for i := 0; i < events; i++ {
		e := c.batch.Events[i]
		p, ok := notificationOf(e)
		if !ok {
			continue
		}
		p.Via = c.via
		m := &notificationState{aggregate: aggregate{Type: aggregateTypeNotify, ID: s.NewID(), Owner: e.ResourceOwner}}
		if err := c.push(m, EventNotificationQueued, p); err != nil {
			return internal("COMMAND-ntf01", err)
		}
	}
	return nil
}

// PendingNotifications returns up to limit notifications not yet
// delivered with ids after after (ids are time-ordered), oldest first, and
// the id to continue after for the next ones: "" when there are no more.
// A dispatcher that goes round the pending ones this way looks at each in
// turn, so a backlog of one webhook's retries cannot keep the others'
// notifications from ever being looked at.
func (s *Service) PendingNotifications(ctx context.Context, after string, limit int) (ns []Notification, next string, err error) {
	docs, err := s.store.List(ctx, notificationDocKind, NotificationPending, after, limit)
	if err != nil {
		return nil, "", storeErr("QUERY-ntf01", err)
	}
	if limit > 0 && len(docs) == limit {
		next = docs[len(docs)-1].ID
	}
	if ns, err = decodeNotifications(docs, ""); err != nil {
		return nil, "", err
	}
	sortNotifications(ns)
	return ns, next, nil
}

// decodeNotifications decodes notification documents, only orgID's when
// it is set.
func decodeNotifications(docs []eventstore.Doc, orgID string) ([]Notification, error) {
	out := make([]Notification, 0, len(docs))
	for _, d := range docs {
		var m notificationState
		if err := json.Unmarshal(d.Data, &m); err != nil {
			return nil, internal("QUERY-ntf02", err)
		}
		if orgID == "" || m.N.OrgID == orgID {
			out = append(out, m.N)
		}
	}
	return out, nil
}

// ErrNotificationState answers a listing asked for a state other than
// pending or delivered.
var ErrNotificationState = newErr(KindInvalidArgument, "NOTIFY-fgSt1", "Errors.Notification.State",
	"state must be pending or delivered")

// ListNotifications is the admin listing: the notifications in state
// (pending or delivered). An instance administrator (iam.read) sees every
// organization's, or orgID's when set; anyone else needs user.read in
// orgID (default their own organization) and sees that organization's.
// The oldest come first (by id), at most limit of them (limit <= 0: all).
func (s *Service) ListNotifications(ctx context.Context, orgID, state string, limit int) ([]Notification, error) {
	if state != NotificationPending && state != NotificationDelivered {
		return nil, ErrNotificationState
	}
	p := PrincipalFrom(ctx)
	if p == nil {
		return nil, ErrAuthHeaderMissing
	}
	if err := s.checkInstancePermission(ctx, "iam.read"); err != nil {
		if orgID == "" {
			orgID = p.OrgID
		}
		if err := s.checkPermission(ctx, orgID, PermUserRead, ""); err != nil {
			return nil, err
		}
	}
	// Delivered notifications are kept for ever: page through the state in
	// id order (ids grow with time), so that a listing holds at most a page
	// of documents and reads about limit of them when nothing is filtered.
	page := notificationPage
	if orgID == "" && limit > 0 {
		page = limit
	}
	var out []Notification
	after := ""
	for {
		docs, err := s.store.List(ctx, notificationDocKind, state, after, page)
		if err != nil {
			return nil, storeErr("QUERY-ntf03", err)
		}
		mine, err := decodeNotifications(docs, orgID)
		if err != nil {
			return nil, err
		}
		out = append(out, mine...)
		if limit > 0 && len(out) >= limit {
			out = out[:limit]
			break
		}
		if len(docs) < page {
			break
		}
		after = docs[len(docs)-1].ID
	}
	sortNotifications(out)
	return out, nil
}

// notificationPage is how many notification documents a filtered listing
// reads at a time.
const notificationPage = 256

// sortNotifications orders by occurrence, then id.
func sortNotifications(ns []Notification) {
	slices.SortFunc(ns, func(a, b Notification) int {
		if c := a.OccurredAt.Compare(b.OccurredAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

func (s *Service) loadNotification(ctx context.Context, id string) (*notificationState, error) {
	m := &notificationState{}
	ok, err := s.load(ctx, notificationDocKind, id, m)
	if err != nil || !ok {
		return nil, err
	}
	return m, nil
}

// ClaimNotification takes notification id for one delivery round until
// until: ok is false when it is delivered, claimed by someone else whose
// lease has not run out, or another dispatcher claimed it first. A claim
// that node itself took before startedAt (a previous run of this replica,
// killed mid-round) does not hold it back.
func (s *Service) ClaimNotification(ctx context.Context, id string, node int, startedAt, until time.Time) (n Notification, ok bool, err error) {
	m, err := s.loadNotification(ctx, id)
	if err != nil || m == nil {
		return Notification{}, false, err
	}
	held := s.now().Before(m.N.ClaimedUntil) && !(m.N.ClaimedBy == node && m.N.ClaimedAt.Before(startedAt))
	if m.N.State != NotificationPending || held {
		return m.N, false, nil
	}
	c := s.newChange(ctx)
	c.creator = "system"
	if err := c.push(m, EventNotificationClaimed, notificationClaimedPayload{Node: node, Until: until.UTC()}); err != nil {
		return Notification{}, false, internal("COMMAND-ntf02", err)
	}
	if err := s.commit(ctx, c); err != nil {
		if errors.Is(err, eventstore.ErrConflict) {
			return m.N, false, nil
		}
		return Notification{}, false, err
	}
	return m.N, true, nil
}

// Attempt is one webhook's answer in a delivery round.
type Attempt struct {
	Target string // a hash of the webhook URL
	Status int    // HTTP status, 0 without an answer
	Error  string // transport error, without the URL
}

// FinishNotification records a delivery round of a notification the
// caller claimed: every webhook's answer, then, when delivered, that every
// webhook acknowledged it; otherwise the next round waits until retryAt.
func (s *Service) FinishNotification(ctx context.Context, id string, attempts []Attempt, delivered bool, retryAt time.Time) error {
	return s.retry(ctx, func() error {
		m, err := s.loadNotification(ctx, id)
		if err != nil {
			return err
		}
		if m == nil || m.N.State != NotificationPending {
			return nil
		}
		c := s.newChange(ctx)
		c.creator = "system"
		for _, a := range attempts {
			p := notificationAttemptedPayload{Target: a.Target, Status: a.Status, Error: a.Error}
			if !delivered {
				p.RetryAt = retryAt.UTC()
			}
			if err := c.push(m, EventNotificationAttempted, p); err != nil {
				return internal("COMMAND-ntf03", err)
			}
		}
		if delivered {
			if err := c.push(m, EventNotificationDelivered, nil); err != nil {
				return internal("COMMAND-ntf04", err)
			}
		}
		return s.commit(ctx, c)
	})
}
