package eventstoretest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
)

// GroupedStore is a store with group commit and the test access to it
// that its export_test.go gives.
type GroupedStore interface {
	eventstore.Store
	// SetGroupHook sets a function run after a group's first batch is taken.
	SetGroupHook(func())
	// InFlight is the number of Appends that have not returned.
	InFlight() int64
	// GroupStats returns how many groups and batches were committed.
	GroupStats() (groups, batches int64)
}

// GroupCommit checks a store with group commit: batches that arrive while
// the writer is busy commit as one group, and each keeps its own outcome.
// In one group, the winner of a sequence race commits, the losers answer
// ErrConflict, a batch whose claim is taken answers ErrClaimed and leaves
// none of its other writes, and the independent batches commit.
func GroupCommit(t *testing.T, s GroupedStore) {
	t.Helper()
	ctx := t.Context()
	if _, err := s.Append(ctx, eventstore.Batch{Claims: []eventstore.Claim{{Key: "taken", Owner: "someone"}}}); err != nil {
		t.Fatal(err)
	}
	const racers, independent = 8, 12
	total := racers + independent + 1
	g0, b0 := s.GroupStats()
	ev := func(id string, seq uint64) eventstore.Event {
		return eventstore.Event{AggregateType: "user", AggregateID: id, Sequence: seq, Type: "t", Version: 1, CreatedAt: time.Now()}
	}
	_, errs := Gathered(t, s, total, func(i int) eventstore.Batch {
		switch {
		case i < racers:
			return eventstore.Batch{Events: []eventstore.Event{ev("contested", 1)},
				Put: []eventstore.Doc{{Kind: "user", ID: "contested", Data: []byte(fmt.Sprintf(`{"by":%d}`, i))}}}
		case i < racers+independent:
			id := fmt.Sprintf("own-%d", i)
			return eventstore.Batch{Events: []eventstore.Event{ev(id, 1)}, Put: []eventstore.Doc{{Kind: "user", ID: id, Data: []byte(`{}`)}}}
		default:
			return eventstore.Batch{Events: []eventstore.Event{ev("loser", 1)}, Claims: []eventstore.Claim{{Key: "taken", Owner: "me"}},
				Put: []eventstore.Doc{{Kind: "user", ID: "loser", Data: []byte(`{}`)}}}
		}
	})
	won := 0
	for i, err := range errs {
		switch {
		case i < racers && err == nil:
			won++
		case i < racers && !errors.Is(err, eventstore.ErrConflict):
			t.Errorf("racer %d: %v, want nil or ErrConflict", i, err)
		case i >= racers && i < racers+independent && err != nil:
			t.Errorf("independent batch %d: %v", i, err)
		case i == racers+independent && !errors.Is(err, eventstore.ErrClaimed):
			t.Errorf("batch with a taken claim: %v, want ErrClaimed", err)
		}
	}
	if won != 1 {
		t.Errorf("%d racers won sequence 1 of one aggregate, want exactly 1", won)
	}
	if _, err := s.Get(ctx, "user", "loser"); !errors.Is(err, eventstore.ErrNotFound) {
		t.Errorf("the failed batch left its document: %v", err)
	}
	if evs, _ := s.Load(ctx, "user", "loser", 0); len(evs) != 0 {
		t.Errorf("the failed batch left %d events", len(evs))
	}
	for i := racers; i < racers+independent; i++ {
		if evs, err := s.Load(ctx, "user", fmt.Sprintf("own-%d", i), 0); err != nil || len(evs) != 1 {
			t.Errorf("own-%d: %d events, %v", i, len(evs), err)
		}
	}
	g1, b1 := s.GroupStats()
	if b1-b0 != int64(total) || g1-g0 > 2 {
		t.Errorf("%d batches in %d groups, want %d batches in at most 2 (the first, then the rest together)", b1-b0, g1-g0, total)
	}

	// A group without a failure: every batch is stored, with the positions
	// it was answered, contiguous within the batch and never shared.
	const many = 16
	outs, errs := Gathered(t, s, many, func(i int) eventstore.Batch {
		id := fmt.Sprintf("many-%d", i)
		return eventstore.Batch{Events: []eventstore.Event{ev(id, 1), ev(id, 2)},
			Put: []eventstore.Doc{{Kind: "user", ID: id, Data: []byte(fmt.Sprintf(`{"i":%d}`, i))}}}
	})
	g2, b2 := s.GroupStats()
	if b2-b1 != many || g2-g1 > 2 {
		t.Errorf("%d batches in %d groups, want %d batches in at most 2", b2-b1, g2-g1, many)
	}
	seen := map[int64]bool{}
	for i := range many {
		if errs[i] != nil || len(outs[i]) != 2 {
			t.Errorf("batch %d: %d events, %v", i, len(outs[i]), errs[i])
			continue
		}
		if outs[i][1].Position != outs[i][0].Position+1 {
			t.Errorf("batch %d: positions %d, %d: want contiguous", i, outs[i][0].Position, outs[i][1].Position)
		}
		for _, e := range outs[i] {
			if seen[e.Position] {
				t.Errorf("position %d answered twice", e.Position)
			}
			seen[e.Position] = true
		}
		id := fmt.Sprintf("many-%d", i)
		stored, err := s.Load(ctx, "user", id, 0)
		if err != nil || len(stored) != 2 || stored[0].Position != outs[i][0].Position || stored[1].Position != outs[i][1].Position {
			t.Errorf("%s: stored %+v, %v; answered %+v", id, stored, err, outs[i])
		}
		if d, err := s.Get(ctx, "user", id); err != nil || string(d.Data) != fmt.Sprintf(`{"i":%d}`, i) {
			t.Errorf("%s: document %q, %v", id, d.Data, err)
		}
	}
}

// Gathered appends n batches at once (batch(i) for each) so that they all
// wait behind the first group, and returns each Append's outcome.
func Gathered(t *testing.T, s GroupedStore, n int, batch func(i int) eventstore.Batch) ([][]eventstore.Event, []error) {
	t.Helper()
	held := make(chan struct{})
	s.SetGroupHook(func() {
		select {
		case <-held:
			return
		default:
		}
		// Hold the first group until every other batch waits behind it.
		for s.InFlight() < int64(n) {
			time.Sleep(time.Millisecond)
		}
		close(held)
	})
	defer s.SetGroupHook(nil)
	var wg sync.WaitGroup
	outs, errs := make([][]eventstore.Event, n), make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = s.Append(t.Context(), batch(i))
		}()
	}
	wg.Wait()
	<-held
	return outs, errs
}
