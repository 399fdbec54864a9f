package mfa

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

func TestLimiterBurstThenRefillWithAFakeClock(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := NewLimiter(0.5, 3, func() time.Time { return now }) // one token every 2 s
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("call %d within the burst refused", i)
		}
	}
	ok, after := l.Allow("a")
	if ok || after != 2*time.Second {
		t.Fatalf("past the burst: %v, retry after %v; want refused, 2s", ok, after)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another key was refused")
	}
	if ok, _ := l.Check("a"); ok {
		t.Fatal("Check sees a token that is not there")
	}
	now = now.Add(2 * time.Second)
	if ok, _ := l.Check("a"); !ok {
		t.Fatal("no token after the refill time")
	}
	if ok, _ := l.Check("a"); !ok {
		t.Fatal("Check took the token")
	}
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("Allow after refill refused")
	}
}

func TestLimiterOffAllowsEverything(t *testing.T) {
	l := NewLimiter(-1, 1, nil)
	for i := 0; i < 1000; i++ {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatal("a limiter that is off refused")
		}
	}
}

func TestLimiterDropsIdleKeysWhenItGrows(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := NewLimiter(1, 1, func() time.Time { return now })
	for i := 0; i < limiterSweepAt; i++ {
		l.Allow(strconv.Itoa(i))
	}
	now = now.Add(time.Minute) // every bucket is full again: idle
	l.Allow("new")
	if n := len(l.keys); n != 1 {
		t.Fatalf("%d keys kept, want only the new one", n)
	}
}

func TestRetryAfterOfRateLimitErrors(t *testing.T) {
	err := limited(ErrTooManyFailedCodes, 1500*time.Millisecond)
	if !errors.Is(err, ErrTooManyFailedCodes) || KindOf(err) != KindResourceExhausted {
		t.Fatalf("%v is not ErrTooManyFailedCodes / ResourceExhausted", err)
	}
	if d, ok := RetryAfter(err); !ok || d != 1500*time.Millisecond {
		t.Fatalf("RetryAfter = %v, %v", d, ok)
	}
	if d, _ := RetryAfter(limited(ErrRateLimited, time.Millisecond)); d != time.Second {
		t.Fatalf("RetryAfter of 1ms = %v, want at least 1s", d)
	}
	if _, ok := RetryAfter(ErrInvalidCode); ok {
		t.Fatal("RetryAfter of another error")
	}
}
