package mfa

import (
	"errors"
	"math"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits are the core's abuse limits: token buckets (golang.org/x/time/rate)
// kept in memory per process. With several replicas each keeps its own
// buckets, so the effective limit is the per-replica limit times the
// number of replicas a client reaches. A zero field takes its default; a
// negative rate turns that limit off.
type Limits struct {
	// GrantRate (per second) and GrantBurst limit token requests per
	// presented identity: client id, username, or refresh token.
	GrantRate  float64
	GrantBurst int
	// FailedCodeRate (per second) and FailedCodeBurst limit failed code
	// verifications (TOTP, OTP SMS and email registration codes) per user,
	// whichever dialect or transport they come through. When a user's
	// bucket is empty, the next verification is refused before the code is
	// looked at (ResourceExhausted) until a token is back: with the
	// defaults, 10 failures in a row, then one more try every 30 seconds.
	FailedCodeRate  float64
	FailedCodeBurst int
}

// DefaultLimits: 10 grants per second per identity with bursts of 60; 10
// failed codes per user, refilled at one per 30 seconds.
var DefaultLimits = Limits{GrantRate: 10, GrantBurst: 60, FailedCodeRate: 1.0 / 30, FailedCodeBurst: 10}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.GrantRate == 0 {
		l.GrantRate = d.GrantRate
	}
	if l.GrantBurst <= 0 {
		l.GrantBurst = d.GrantBurst
	}
	if l.FailedCodeRate == 0 {
		l.FailedCodeRate = d.FailedCodeRate
	}
	if l.FailedCodeBurst <= 0 {
		l.FailedCodeBurst = d.FailedCodeBurst
	}
	return l
}

// ErrRateLimited: too many requests for one identity; RetryAfter tells
// when to come back.
var ErrRateLimited = newErr(KindResourceExhausted, "AUTH-rate1", "Errors.RateLimited", "Too many requests; try again later")

// ErrTooManyFailedCodes: the user's failed verifications used up the
// allowance; RetryAfter tells when the next try is allowed.
var ErrTooManyFailedCodes = newErr(KindResourceExhausted, "COMMAND-rate2", "Errors.User.MFA.TooManyFailedCodes", "Too many wrong codes; try again later")

// retryAfter is the cause of a rate-limit error: when to try again.
type retryAfter time.Duration

func (r retryAfter) Error() string { return "retry after " + time.Duration(r).String() }

func limited(base *Error, after time.Duration) error {
	e := *base
	e.Err = retryAfter(after)
	return &e
}

// RetryAfter returns how long a caller refused with ErrRateLimited or
// ErrTooManyFailedCodes should wait (at least one second), and false for
// any other error.
func RetryAfter(err error) (time.Duration, bool) {
	var r retryAfter
	if !errors.As(err, &r) {
		return 0, false
	}
	return max(time.Duration(r), time.Second), true
}

// Limiter is a set of token buckets by key, with the same rate and burst.
// Buckets that are full again (idle keys) are dropped when the set grows,
// so memory stays bounded by the keys active within one refill period.
type Limiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time
	mu    sync.Mutex
	keys  map[string]*rate.Limiter
}

// NewLimiter returns a keyed limiter; perSecond < 0 allows everything.
func NewLimiter(perSecond float64, burst int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	l := rate.Limit(perSecond)
	if perSecond < 0 {
		l = rate.Inf
	}
	return &Limiter{limit: l, burst: burst, now: now, keys: map[string]*rate.Limiter{}}
}

const limiterSweepAt = 10000

func (l *Limiter) bucket(key string, now time.Time) *rate.Limiter {
	b := l.keys[key]
	if b == nil {
		if len(l.keys) >= limiterSweepAt {
			for k, o := range l.keys {
				if o.TokensAt(now) >= float64(l.burst) {
					delete(l.keys, k)
				}
			}
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.keys[key] = b
	}
	return b
}

// Allow takes one token of key's bucket; when there is none it returns
// false and how long until there is.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	if l == nil || l.limit == rate.Inf {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key, now)
	if b.AllowN(now, 1) {
		return true, 0
	}
	return false, l.wait(b, now)
}

// Check reports whether key's bucket has a token, without taking it.
func (l *Limiter) Check(key string) (bool, time.Duration) {
	if l == nil || l.limit == rate.Inf {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key, now)
	if b.TokensAt(now) >= 1 {
		return true, 0
	}
	return false, l.wait(b, now)
}

func (l *Limiter) wait(b *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - b.TokensAt(now)
	if l.limit <= 0 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(missing / float64(l.limit) * float64(time.Second))
}

// allowGrant takes a grant token for identity. A username counts as its
// claim does, case-insensitively: "Ada" and "ADA" are one person and share
// one bucket.
func (s *Service) allowGrant(kind, identity string) error {
	if kind == "user" {
		identity = strings.ToLower(identity)
	}
	if ok, after := s.grants.Allow(kind + ":" + identity); !ok {
		return limited(ErrRateLimited, after)
	}
	return nil
}

// checkFailedCodes refuses a verification for userID while the user's
// failed-code bucket is empty.
func (s *Service) checkFailedCodes(userID string) error {
	if ok, after := s.failedCodes.Check(userID); !ok {
		return limited(ErrTooManyFailedCodes, after)
	}
	return nil
}

// failedCode counts one failed verification of userID.
func (s *Service) failedCode(userID string) { s.failedCodes.Allow(userID) }
