package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
)

// A group's transaction ends at the latest of its callers' deadlines, or
// after groupTimeout when one of them has none.
func TestGroupContextDeadline(t *testing.T) {
	soon, later := time.Now().Add(time.Second), time.Now().Add(3*time.Second)
	ctxSoon, cancel1 := context.WithDeadline(context.Background(), soon)
	defer cancel1()
	ctxLater, cancel2 := context.WithDeadline(context.Background(), later)
	defer cancel2()

	ctx, cancel := groupContext([]*eventstore.Pending{{Ctx: ctxSoon}, {Ctx: ctxLater}})
	defer cancel()
	if d, ok := ctx.Deadline(); !ok || !d.Equal(later) {
		t.Errorf("deadline %v, %v; want the latest caller's, %v", d, ok, later)
	}

	ctx, cancel = groupContext([]*eventstore.Pending{{Ctx: ctxSoon}, {Ctx: context.Background()}})
	defer cancel()
	if d, ok := ctx.Deadline(); !ok || time.Until(d) < groupTimeout-time.Second || time.Until(d) > groupTimeout {
		t.Errorf("deadline in %v, %v; want groupTimeout (%v) when a caller has none", time.Until(d), ok, groupTimeout)
	}

	// Not a caller's context: one giving up does not end the group's.
	cancel1()
	if ctx.Err() != nil {
		t.Errorf("the group's context ended with a caller's: %v", ctx.Err())
	}
}
