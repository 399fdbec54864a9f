package mfa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/factorgate/factorgate/server/eventstore"
)

// Config configures a Service.
type Config struct {
	Store eventstore.Store
	// MasterKey seals secrets at rest (32 bytes, AES-256-GCM).
	MasterKey []byte
	// Now is the clock; one reading is taken per command. Default time.Now.
	Now func() time.Time
	// Node distinguishes replicas in generated ids (0 to MaxNode).
	Node int
	// Issuer names the service in TOTP URIs. Default "factorgate".
	Issuer string
	// WebAuthn relying party defaults, used when a request names no domain.
	RPID          string
	RPDisplayName string
	RPOrigins     []string
	// Limits are the abuse limits (ratelimit.go); zero fields take
	// DefaultLimits.
	Limits Limits
	// SelfRemovalMaxAge is the step-up window: removing one's own factor
	// needs a token whose user signed in at most this long ago. Zero turns
	// the rule off (the server's default is DefaultSelfRemovalMaxAge).
	SelfRemovalMaxAge time.Duration
	// RevokeTokensOnFactorRemoval ends a user's other access and refresh
	// tokens in the transaction that removes one of their factors.
	RevokeTokensOnFactorRemoval bool
	// Notify queues a notification with every factor enrolment, factor
	// removal and login-policy change (see notify.go).
	Notify bool
	// PasswordHashCost is the bcrypt cost of the password hashes this node
	// writes, MinPasswordHashCost to MaxPasswordHashCost; 0 takes
	// DefaultPasswordHashCost. A stored hash is checked at the cost it was
	// written with, whatever the setting.
	PasswordHashCost int
}

// The bcrypt costs a Service accepts. Each step doubles the work of a
// password check (about 60 ms of one core at 10 on this project's
// machines); above 16 a sign-in would take seconds.
const (
	MinPasswordHashCost     = bcrypt.MinCost
	DefaultPasswordHashCost = bcrypt.DefaultCost
	MaxPasswordHashCost     = 16
)

// CheckPasswordHashCost says whether cost is one a Service accepts; its
// error reads "must be between …".
func CheckPasswordHashCost(cost int) error {
	if cost < MinPasswordHashCost || cost > MaxPasswordHashCost {
		return fmt.Errorf("must be between %d and %d", MinPasswordHashCost, MaxPasswordHashCost)
	}
	return nil
}

// Service is the domain core: every command and query of every API dialect
// goes through it.
type Service struct {
	store      eventstore.Store
	sealer     *sealer
	now        func() time.Time
	ids        *IDGenerator
	issuer     string
	rp         rpConfig
	instanceID string
	// decoded reuses decoded read-only documents whose stored bytes did
	// not change (see docCache); every request still reads the store.
	decoded docCache
	// auth keeps tokens, organizations and the instance for as long as
	// the store's generation stays (see authCache); watching says that
	// Bootstrap had the store watch their kinds.
	auth     authCache
	watching atomic.Bool

	grants      *Limiter // token requests per identity
	failedCodes *Limiter // failed code verifications per user

	selfRemovalMaxAge time.Duration
	revokeOnRemoval   bool
	notify            bool

	// passwordCost is the bcrypt cost of new password hashes; dummyHash,
	// of that cost, is checked when a username is unknown, so that a
	// missing user takes as long to refuse as a wrong password.
	passwordCost int
	dummyHash    []byte
}

type rpConfig struct {
	ID          string
	DisplayName string
	Origins     []string
}

// New returns a Service. Call Bootstrap before serving requests.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("mfa: no store")
	}
	sl, err := newSealer(cfg.MasterKey)
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "factorgate"
	}
	if cfg.RPID == "" {
		cfg.RPID = "localhost"
	}
	if cfg.RPDisplayName == "" {
		cfg.RPDisplayName = cfg.Issuer
	}
	if cfg.PasswordHashCost == 0 {
		cfg.PasswordHashCost = DefaultPasswordHashCost
	}
	if err := CheckPasswordHashCost(cfg.PasswordHashCost); err != nil {
		return nil, fmt.Errorf("mfa: password hash cost %d %w", cfg.PasswordHashCost, err)
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("factorgate-timing-equaliser"), cfg.PasswordHashCost)
	if err != nil {
		return nil, fmt.Errorf("mfa: %w", err)
	}
	limits := cfg.Limits.withDefaults()
	return &Service{
		grants:      NewLimiter(limits.GrantRate, limits.GrantBurst, cfg.Now),
		failedCodes: NewLimiter(limits.FailedCodeRate, limits.FailedCodeBurst, cfg.Now),
		store:       cfg.Store,
		sealer:      sl,
		now:         cfg.Now,
		ids:         NewIDGenerator(cfg.Node, cfg.Now),
		issuer:      cfg.Issuer,
		rp:          rpConfig{ID: cfg.RPID, DisplayName: cfg.RPDisplayName, Origins: cfg.RPOrigins},

		selfRemovalMaxAge: cfg.SelfRemovalMaxAge,
		revokeOnRemoval:   cfg.RevokeTokensOnFactorRemoval,
		notify:            cfg.Notify,
		passwordCost:      cfg.PasswordHashCost,
		dummyHash:         dummy,
	}, nil
}

// InstanceID returns the id of the instance (after Bootstrap).
func (s *Service) InstanceID() string { return s.instanceID }

// NewID returns a fresh id.
func (s *Service) NewID() string { return s.ids.Next() }

// change collects what one command writes.
type change struct {
	now     time.Time
	creator string
	via     *Origin // the API the command came through, recorded by removals
	batch   eventstore.Batch
	touched []writeModel
	queued  bool // its notifications are queued (queueNotifications)
}

func (s *Service) newChange(ctx context.Context) *change {
	return &change{now: s.now().UTC().Truncate(time.Microsecond), creator: creatorOf(ctx), via: OriginFrom(ctx)}
}

// push appends one event to m and applies it, so m always reflects what
// will be stored.
func (c *change) push(m writeModel, typ string, payload any) error {
	a := m.base()
	var data []byte
	if payload != nil {
		var err error
		if data, err = json.Marshal(payload); err != nil {
			return fmt.Errorf("mfa: encode %s: %w", typ, err)
		}
	}
	e := eventstore.Event{
		AggregateType: a.Type, AggregateID: a.ID, Sequence: a.Seq + 1,
		Type: typ, Version: eventPayloadVersionOne,
		ResourceOwner: a.Owner, Creator: c.creator, CreatedAt: c.now, Payload: data,
	}
	if err := m.apply(e); err != nil {
		return err
	}
	c.batch.Events = append(c.batch.Events, e)
	for _, t := range c.touched {
		if t == m {
			return nil
		}
	}
	c.touched = append(c.touched, m)
	return nil
}

// commit writes the events, the claims and the documents of every touched
// write model in one transaction.
func (s *Service) commit(ctx context.Context, c *change) error {
	if err := s.queueNotifications(c); err != nil {
		return err
	}
	for _, m := range c.touched {
		data, err := encodeDoc(m)
		if err != nil {
			return internal("COMMAND-doc01", err)
		}
		a := m.base()
		owner := a.Owner
		if o, ok := m.(interface{ docOwner() string }); ok {
			owner = o.docOwner() // a document listed by state rather than by owner
		}
		c.batch.Put = append(c.batch.Put, eventstore.Doc{Kind: m.docKind(), ID: a.ID, Owner: owner, Data: data})
	}
	snapshotFrom(ctx).dropUser() // what the request read ahead may be older than this write
	if _, err := s.store.Append(ctx, c.batch); err != nil {
		if errors.Is(err, eventstore.ErrConflict) || errors.Is(err, eventstore.ErrClaimed) {
			return err
		}
		if ctx.Err() != nil {
			return &Error{Kind: KindUnavailable, ID: "EVENT-ctx01", Key: "Errors.Canceled", Message: "request canceled", Err: err}
		}
		return storeErr("EVENT-push1", err)
	}
	return nil
}

// retry runs a command again when another writer appended to the same
// aggregate first. The rerun reloads state, so a lost race ends in the
// answer the winner's write implies (for example NotFound for a factor
// the winner removed).
func (s *Service) retry(ctx context.Context, fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		if !errors.Is(err, eventstore.ErrConflict) {
			return err
		}
		if attempt >= 20 {
			return ErrBusy
		}
		wait := time.Duration(rand.IntN(1+attempt*2)) * time.Millisecond
		select {
		case <-ctx.Done():
			return &Error{Kind: KindUnavailable, ID: "EVENT-ctx02", Key: "Errors.Canceled", Message: "request canceled", Err: ctx.Err()}
		case <-time.After(wait):
		}
	}
}

// load reads the document of a write model; ok is false when it does not
// exist. A person's document read ahead with the request's token (see
// WithReadAhead) serves the request's loads of that person until the
// request writes (or tries to: see commit).
func (s *Service) load(ctx context.Context, kind, id string, into writeModel) (bool, error) {
	d, ahead := eventstore.Doc{}, false
	if kind == aggregateTypeUser {
		d, ahead = snapshotFrom(ctx).aheadUser(id)
		if ahead && d.Kind == "" {
			return false, nil
		}
	}
	if !ahead {
		var err error
		d, err = s.store.Get(ctx, kind, id)
		if errors.Is(err, eventstore.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, storeErr("QUERY-load1", err)
		}
	}
	if err := decodeDoc(d.Data, into); err != nil {
		return false, internal("QUERY-load2", err)
	}
	return true, nil
}

func (s *Service) loadUser(ctx context.Context, id string) (*userState, error) {
	if id == "" {
		return nil, nil
	}
	u := &userState{}
	ok, err := s.load(ctx, aggregateTypeUser, id, u)
	if err != nil || !ok {
		return nil, err
	}
	return u, nil
}

func (s *Service) loadOrg(ctx context.Context, id string) (*orgState, error) {
	if id == "" {
		return nil, nil
	}
	o := &orgState{}
	ok, err := s.load(ctx, aggregateTypeOrg, id, o)
	if err != nil || !ok {
		return nil, err
	}
	return o, nil
}

func (s *Service) loadInstance(ctx context.Context) (*instanceState, error) {
	in := &instanceState{}
	ok, err := s.load(ctx, aggregateTypeInstance, s.instanceID, in)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, internal("QUERY-inst1", errors.New("instance missing; was Bootstrap called?"))
	}
	return in, nil
}

// Replay folds the stored events of one aggregate into a fresh write model
// and returns its JSON document next to the stored one, so tests and
// operators can check that the read model matches the log.
func (s *Service) Replay(ctx context.Context, aggregateType, id string) (replayed, stored []byte, err error) {
	var m writeModel
	switch aggregateType {
	case aggregateTypeUser:
		m = &userState{}
	case aggregateTypeOrg:
		m = &orgState{}
	case aggregateTypeInstance:
		m = &instanceState{}
	case aggregateTypeNotify:
		m = &notificationState{}
	default:
		return nil, nil, fmt.Errorf("mfa: unknown aggregate type %q", aggregateType)
	}
	events, err := s.store.Load(ctx, aggregateType, id, 0)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range events {
		if err := m.apply(e); err != nil {
			return nil, nil, err
		}
	}
	if replayed, err = encodeDoc(m); err != nil {
		return nil, nil, err
	}
	d, err := s.store.Get(ctx, aggregateType, id)
	if err != nil {
		return replayed, nil, err
	}
	return replayed, d.Data, nil
}
