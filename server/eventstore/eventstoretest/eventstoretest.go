// Package eventstoretest is the behaviour suite every eventstore.Store
// implementation runs:
//
//	func TestContract(t *testing.T) {
//		eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
//			return newEmptyStore(t)
//		})
//	}
package eventstoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
)

// Run runs the contract suite. open must return a new, empty store each time
// it is called; Run closes it when the subtest ends (open need not). The
// subtests run in parallel, each on its own store.
func Run(t *testing.T, open func(t *testing.T) eventstore.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s eventstore.Store)
	}{
		{"AppendLoad", testAppendLoad},
		{"EmptyBatch", testEmptyBatch},
		{"PositionIncreases", testPositionIncreases},
		{"RoundTrip", testRoundTrip},
		{"CreatedAt", testCreatedAt},
		{"FirstSequenceIsOne", testFirstSequenceIsOne},
		{"SequenceConflict", testSequenceConflict},
		{"ConflictWritesNothing", testConflictWritesNothing},
		{"SeveralAggregates", testSeveralAggregates},
		{"ContiguousWithinBatch", testContiguousWithinBatch},
		{"Claims", testClaims},
		{"ClaimedWritesNothing", testClaimedWritesNothing},
		{"ClaimHandOver", testClaimHandOver},
		{"Docs", testDocs},
		{"DeleteThenPut", testDeleteThenPut},
		{"GetMany", testGetMany},
		{"Generation", testGeneration},
		{"GenerationWithConcurrentWriters", testGenerationWithConcurrentWriters},
		{"List", testList},
		{"Invalid", testInvalid},
		{"NoAliasing", testNoAliasing},
		{"RaceSequence", testRaceSequence},
		{"RaceClaim", testRaceClaim},
		{"ReadYourWrites", testReadYourWrites},
		{"CanceledContext", testCanceledContext},
		{"CloseTwice", testCloseTwice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

// clock is a fixed, microsecond-precise time used for events whose time
// does not matter.
var clock = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

// event returns a well-formed event of aggregate ("user", id).
func event(id string, seq uint64, typ string) eventstore.Event {
	return eventstore.Event{
		AggregateType: "user",
		AggregateID:   id,
		Sequence:      seq,
		Type:          typ,
		Version:       1,
		ResourceOwner: "org1",
		Creator:       "system",
		CreatedAt:     clock,
		Payload:       []byte(fmt.Sprintf(`{"seq":%d}`, seq)),
	}
}

func mustAppend(t *testing.T, s eventstore.Store, b eventstore.Batch) []eventstore.Event {
	t.Helper()
	got, err := s.Append(t.Context(), b)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if len(got) != len(b.Events) {
		t.Fatalf("Append returned %d events, want %d", len(got), len(b.Events))
	}
	return got
}

// appendErr appends b and fails unless the error is want.
func appendErr(t *testing.T, s eventstore.Store, b eventstore.Batch, want error) {
	t.Helper()
	got, err := s.Append(t.Context(), b)
	if !errors.Is(err, want) {
		t.Fatalf("Append: err = %v, want %v", err, want)
	}
	if got != nil {
		t.Errorf("Append failed but returned %d events", len(got))
	}
}

func mustLoad(t *testing.T, s eventstore.Store, id string, after uint64) []eventstore.Event {
	t.Helper()
	got, err := s.Load(t.Context(), "user", id, after)
	if err != nil {
		t.Fatalf("Load(user, %s, %d): %v", id, after, err)
	}
	return got
}

// wantSequences fails unless events are those of aggregate id with the given
// sequences, in order.
func wantSequences(t *testing.T, events []eventstore.Event, id string, seqs ...uint64) {
	t.Helper()
	got := make([]uint64, len(events))
	for i, e := range events {
		got[i] = e.Sequence
		if e.AggregateType != "user" || e.AggregateID != id {
			t.Errorf("event %d belongs to %s/%s, want user/%s", i, e.AggregateType, e.AggregateID, id)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(seqs) {
		t.Fatalf("sequences = %v, want %v", got, seqs)
	}
}

func mustGet(t *testing.T, s eventstore.Store, kind, id string) eventstore.Doc {
	t.Helper()
	d, err := s.Get(t.Context(), kind, id)
	if err != nil {
		t.Fatalf("Get(%s, %s): %v", kind, id, err)
	}
	return d
}

func wantNoDoc(t *testing.T, s eventstore.Store, kind, id string) {
	t.Helper()
	if d, err := s.Get(t.Context(), kind, id); !errors.Is(err, eventstore.ErrNotFound) {
		t.Fatalf("Get(%s, %s) = %+v, %v; want ErrNotFound", kind, id, d, err)
	}
}

func wantDoc(t *testing.T, s eventstore.Store, want eventstore.Doc) {
	t.Helper()
	got := mustGet(t, s, want.Kind, want.ID)
	if got.Kind != want.Kind || got.ID != want.ID || got.Owner != want.Owner || !bytes.Equal(got.Data, want.Data) {
		t.Fatalf("Get(%s, %s) = %+v, want %+v", want.Kind, want.ID, got, want)
	}
}

func wantClaim(t *testing.T, s eventstore.Store, key, owner string) {
	t.Helper()
	got, err := s.ClaimOwner(t.Context(), key)
	if owner == "" {
		if !errors.Is(err, eventstore.ErrNotFound) {
			t.Fatalf("ClaimOwner(%q) = %q, %v; want ErrNotFound", key, got, err)
		}
		return
	}
	if err != nil || got != owner {
		t.Fatalf("ClaimOwner(%q) = %q, %v; want %q", key, got, err, owner)
	}
}

func mustList(t *testing.T, s eventstore.Store, kind, owner, after string, limit int) []string {
	t.Helper()
	docs, err := s.List(t.Context(), kind, owner, after, limit)
	if err != nil {
		t.Fatalf("List(%s, %s, %q, %d): %v", kind, owner, after, limit, err)
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		if d.Kind != kind || d.Owner != owner {
			t.Errorf("List(%s, %s) returned %+v", kind, owner, d)
		}
		ids[i] = d.ID
	}
	return ids
}

func wantEqualEvents(t *testing.T, got, want []eventstore.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range got {
		if !equalEvent(got[i], want[i]) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func equalEvent(a, b eventstore.Event) bool {
	return a.Position == b.Position &&
		a.AggregateType == b.AggregateType && a.AggregateID == b.AggregateID &&
		a.Sequence == b.Sequence && a.Type == b.Type && a.Version == b.Version &&
		a.ResourceOwner == b.ResourceOwner && a.Creator == b.Creator &&
		a.CreatedAt.Equal(b.CreatedAt) && a.CreatedAt.Location() == b.CreatedAt.Location() &&
		bytes.Equal(a.Payload, b.Payload)
}

func testAppendLoad(t *testing.T, s eventstore.Store) {
	first := mustAppend(t, s, eventstore.Batch{Events: []eventstore.Event{
		event("1", 1, "user.added"),
		event("1", 2, "user.changed"),
	}})
	second := mustAppend(t, s, eventstore.Batch{Events: []eventstore.Event{
		event("1", 3, "user.removed"),
	}})

	all := mustLoad(t, s, "1", 0)
	wantSequences(t, all, "1", 1, 2, 3)
	wantEqualEvents(t, all, append(first, second...))

	wantSequences(t, mustLoad(t, s, "1", 1), "1", 2, 3)
	wantSequences(t, mustLoad(t, s, "1", 2), "1", 3)
	wantSequences(t, mustLoad(t, s, "1", 3), "1")
	wantSequences(t, mustLoad(t, s, "1", 1<<63), "1")
	wantSequences(t, mustLoad(t, s, "2", 0), "2")
	if got, err := s.Load(t.Context(), "org", "1", 0); err != nil || len(got) != 0 {
		t.Fatalf("Load of another aggregate type = %v, %v; want none", got, err)
	}
}

func testEmptyBatch(t *testing.T, s eventstore.Store) {
	got, err := s.Append(t.Context(), eventstore.Batch{})
	if err != nil || len(got) != 0 {
		t.Fatalf("Append(empty) = %v, %v; want no events, no error", got, err)
	}
	// A batch without events may still write claims and docs.
	mustAppend(t, s, eventstore.Batch{
		Claims: []eventstore.Claim{{Key: "k", Owner: "o"}},
		Put:    []eventstore.Doc{{Kind: "user", ID: "1", Owner: "org1", Data: []byte(`{}`)}},
	})
	wantClaim(t, s, "k", "o")
	wantDoc(t, s, eventstore.Doc{Kind: "user", ID: "1", Owner: "org1", Data: []byte(`{}`)})
}

func testPositionIncreases(t *testing.T, s eventstore.Store) {
	var last int64
	check := func(events []eventstore.Event) {
		t.Helper()
		for _, e := range events {
			if e.Position <= last {
				t.Fatalf("position %d after %d: not strictly increasing", e.Position, last)
			}
			last = e.Position
		}
	}
	for i := range 5 {
		seq := uint64(i + 1)
		b := eventstore.Batch{Events: []eventstore.Event{event("a", seq, "x"), event("b", seq, "x")}}
		b.Events[0].Position = 1000 // ignored on Append
		got := mustAppend(t, s, b)
		check(got)
	}
	// Load returns the positions Append assigned.
	a, b := mustLoad(t, s, "a", 0), mustLoad(t, s, "b", 0)
	for i := range a {
		if a[i].Position >= b[i].Position {
			t.Errorf("a%d at %d, b%d at %d: batch order not kept", i+1, a[i].Position, i+1, b[i].Position)
		}
		if i > 0 && a[i].Position <= b[i-1].Position {
			t.Errorf("a%d at %d not after b%d at %d", i+1, a[i].Position, i, b[i-1].Position)
		}
	}
}

func testRoundTrip(t *testing.T, s eventstore.Store) {
	in := []eventstore.Event{
		{
			AggregateType: "user", AggregateID: "163840776835432705", Sequence: 1,
			Type: "user.human.mfa.otp.removed", Version: 7,
			ResourceOwner: "163840776835432001", Creator: "163840776835432999",
			CreatedAt: clock, Payload: []byte(`{"a":"ü\u0000\"","b":[1,2]}`),
		},
		{
			AggregateType: "user", AggregateID: "163840776835432705", Sequence: 2,
			Type: "user.locked", CreatedAt: clock, Payload: nil,
		},
		{
			AggregateType: "user", AggregateID: "163840776835432705", Sequence: 3,
			Type: "user.unlocked", CreatedAt: clock, Payload: []byte{},
		},
		{
			AggregateType: "user", AggregateID: "163840776835432705", Sequence: 4,
			Type: "user.binary", CreatedAt: clock, Payload: []byte{0, 0xff, 0x80, 0},
		},
	}
	got := mustAppend(t, s, eventstore.Batch{Events: in})
	loaded := mustLoad(t, s, "163840776835432705", 0)
	wantEqualEvents(t, loaded, got)
	for i, e := range loaded {
		want := in[i]
		want.Position = e.Position
		if len(want.Payload) == 0 {
			want.Payload = nil
		}
		if !equalEvent(e, want) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, e, want)
		}
		if len(in[i].Payload) == 0 && e.Payload != nil {
			t.Errorf("event %d: empty payload loaded as %#v, want nil", i, e.Payload)
		}
	}
}

func testCreatedAt(t *testing.T, s eventstore.Store) {
	berlin := time.FixedZone("CET", 3600)
	times := []time.Time{
		clock,
		time.Date(2025, 3, 14, 16, 9, 26, 535897123, berlin), // nanoseconds, not UTC
		time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(2262, 1, 1, 0, 0, 0, 1000, time.UTC),
		time.Now(), // with a monotonic reading
		{},         // the zero time
	}
	var b eventstore.Batch
	for i, ts := range times {
		e := event("1", uint64(i+1), "x")
		e.CreatedAt = ts
		b.Events = append(b.Events, e)
	}
	appended := mustAppend(t, s, b)
	loaded := mustLoad(t, s, "1", 0)
	wantEqualEvents(t, loaded, appended)
	for i, e := range loaded {
		in := times[i]
		if e.CreatedAt.Location() != time.UTC {
			t.Errorf("CreatedAt %d: location %v, want UTC", i, e.CreatedAt.Location())
		}
		// Truncation to the microsecond is allowed, nothing coarser.
		if d := e.CreatedAt.Sub(in).Abs(); d >= time.Microsecond {
			t.Errorf("CreatedAt %d = %v, want %v to the microsecond", i, e.CreatedAt, in)
		}
		if in.Nanosecond()%1000 == 0 && !e.CreatedAt.Equal(in) {
			t.Errorf("CreatedAt %d = %v, want exactly %v", i, e.CreatedAt, in)
		}
	}
}

func testFirstSequenceIsOne(t *testing.T, s eventstore.Store) {
	appendErr(t, s, eventstore.Batch{Events: []eventstore.Event{event("1", 2, "x")}}, eventstore.ErrConflict)
	appendErr(t, s, eventstore.Batch{Events: []eventstore.Event{event("1", 5, "x"), event("1", 6, "x")}}, eventstore.ErrConflict)
	wantSequences(t, mustLoad(t, s, "1", 0), "1")
	mustAppend(t, s, eventstore.Batch{Events: []eventstore.Event{event("1", 1, "x")}})
	wantSequences(t, mustLoad(t, s, "1", 0), "1", 1)
}

func testSequenceConflict(t *testing.T, s eventstore.Store) {
	mustAppend(t, s, eventstore.Batch{Events: []eventstore.Event{event("1", 1, "x"), event("1", 2, "x")}})
	for _, tc := range []struct {
		name string
		seqs []uint64
	}{
		{"repeat last", []uint64{2}},
		{"repeat first", []uint64{1}},
		{"repeat two", []uint64{2, 3}},
		{"gap", []uint64{4}},
		{"gap two", []uint64{4, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b eventstore.Batch
			for _, seq := range tc.seqs {
				b.Events = append(b.Events, event("1", seq, "y"))
			}
			appendErr(t, s, b, eventstore.ErrConflict)
			events := mustLoad(t, s, "1", 0)
			wantSequences(t, events, "1", 1, 2)
			for _, e := range events {
				if e.Type != "x" {
					t.Fatalf("event %d overwritten: %+v", e.Sequence, e)
				}
			}
		})
	}
	mustAppend(t, s, eventstore.Batch{Events: []eventstore.Event{event("1", 3, "x")}})
	wantSequences(t, mustLoad(t, s, "1", 0), "1", 1, 2, 3)
}

// seedWorld writes a claim and a doc that a failed batch must leave alone.
func seedWorld(t *testing.T, s eventstore.Store) {
	t.Helper()
	mustAppend(t, s, eventstore.Batch{
		Events: []eventstore.Event{event("b", 1, "x")},
		Claims: []eventstore.Claim{{Key: "held", Owner: "b"}, {Key: "other", Owner: "z"}},
		Put: []eventstore.Doc{
			{Kind: "user", ID: "b", Owner: "org1", Data: []byte(`"b"`)},
			{Kind: "user", ID: "c", Owner: "org1", Data: []byte(`"c"`)},
		},
	})
}

// wantWorldUnchanged checks that nothing of a failed batch built by
// failingBatch was written.
func wantWorldUnchanged(t *testing.T, s eventstore.Store) {
	t.Helper()
	wantSequences(t, mustLoad(t, s, "a", 0), "a")
	wantSequences(t, mustLoad(t, s, "b", 0), "b", 1)
	wantClaim(t, s, "new", "")
	wantClaim(t, s, "held", "b")
	wantClaim(t, s, "other", "z")
	wantNoDoc(t, s, "user", "a")
	wantDoc(t, s, eventstore.Doc{Kind: "user", ID: "b", Owner: "org1", Data: []byte(`"b"`)})
	wantDoc(t, s, eventstore.Doc{Kind: "user", ID: "c", Owner: "org1", Data: []byte(`"c"`)})
	if ids := mustList(t, s, "user", "org1", "", 0); fmt.Sprint(ids) != "[b c]" {
		t.Fatalf("List = %v, want [b c]", ids)
	}
}

// failingBatch returns a batch that would change every part of the world
// seeded by seedWorld, with events, claims and docs that are valid on their
// own.
func failingBatch() eventstore.Batch {
	return eventstore.Batch{
		Events:  []eventstore.Event{event("a", 1, "x"), event("b", 2, "x")},
		Claims:  []eventstore.Claim{{Key: "new", Owner: "a"}},
		Release: []string{"held"},
		Put: []eventstore.Doc{
			{Kind: "user", ID: "a", Owner: "org1", Data: []byte(`"a"`)},
			{Kind: "user", ID: "b", Owner: "org2", Data: []byte(`"b2"`)},
		},
		Delete: []eventstore.DocKey{{Kind: "user", ID: "c"}},
	}
}

func testConflictWritesNothing(t *testing.T, s eventstore.Store) {
	seedWorld(t, s)
	for _, tc := range []struct {
		name   string
		modify func(b *eventstore.Batch)
	}{
		{"repeat in second aggregate", func(b *eventstore.Batch) { b.Events[1].Sequence = 1 }},
		{"gap in second aggregate", func(b *eventstore.Batch) { b.Events[1].Sequence = 3 }},
		{"gap in first aggregate", func(b *eventstore.Batch) { b.Events[0].Sequence = 2 }},
		{"conflict last", func(b *eventstore.Batch) {
			b.Events = append(b.Events, event("c", 7, "x"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := failingBatch()
			tc.modify(&b)
			appendErr(t, s, b, eventstore.ErrConflict)
			wantWorldUnchanged(t, s)
		})
	}
	// The same batch with correct sequences succeeds.
	mustAppend(t, s, failingBatch())
	wantSequences(t, mustLoad(t, s, "a", 0), "a", 1)
	wantSequences(t, mustLoad(t, s, "b", 0), "b", 1, 2)
	wantClaim(t, s, "new", "a")
	wantClaim(t, s, "held", "")
	wantNoDoc(t, s, "user", "c")
	wantDoc(t, s, eventstore.Doc{Kind: "user", ID: "b", Owner: "org2", Data: []byte(`"b2"`)})
}

func testSeveralAggregates(t *testing.T, s eventstore.Store) {
	org := event("1", 1, "org.added")
	org.AggregateType = "org"
	got := mustAppend(t, s, eventstore.Batch{Events: []eventstore.Event{
		event("1", 1, "x"),
		event("2", 1, "x"),
		org, // same id, another type: another aggregate
		event("1", 2, "x"),
		event("2", 2, "x"),
		event("1", 3, "x"),
	}})
	wantSequences(t, mustLoad(t, s, "1", 0), "1", 1, 2, 3)
	wantSequences(t, mustLoad(t, s, "2", 0), "2", 1, 2)
	orgs, err := s.Load(t.Context(), "org", "1", 0)
	if err != nil || len(orgs) != 1 || orgs[0].Type != "org.added" || orgs[0].Position != got[2].Position {
		t.Fatalf("Load(org, 1) = %+v, %v", orgs, err)
	}
	// A later batch continues each aggregate where it is.
	mustAppend(t, s, eventstore.Batch{Events: []eventstore.Event{event("2", 3, "x"), event("1", 4, "x")}})
	wantSequences(t, mustLoad(t, s, "1", 0), "1", 1, 2, 3, 4)
	wantSequences(t, mustLoad(t, s, "2", 0), "2", 1, 2, 3)
}

func testContiguousWithinBatch(t *testing.T, s eventstore.Store) {
	mustAppend(t, s, eventstore.Batch{Events: []eventstore.Event{event("1", 1, "x")}})
	for _, seqs := range [][]uint64{{2, 4}, {2, 2}, {3, 2}, {2, 3, 3}, {2, 1}} {
		t.Run(fmt.Sprint(seqs), func(t *testing.T) {
			var b eventstore.Batch
			for _, seq := range seqs {
				b.Events = append(b.Events, event("1", seq, "x"))
			}
			appendErr(t, s, b, eventstore.ErrInvalid)
			wantSequences(t, mustLoad(t, s, "1", 0), "1", 1)
		})
	}
	mustAppend(t, s, eventstore.Batch{Events: []eventstore.Event{event("1", 2, "x"), event("1", 3, "x")}})
	wantSequences(t, mustLoad(t, s, "1", 0), "1", 1, 2, 3)
}

func testClaims(t *testing.T, s eventstore.Store) {
	wantClaim(t, s, "username:org1:alice", "")

	mustAppend(t, s, eventstore.Batch{
		Events: []eventstore.Event{event("1", 1, "x")},
		Claims: []eventstore.Claim{{Key: "username:org1:alice", Owner: "1"}},
	})
	wantClaim(t, s, "username:org1:alice", "1")

	// Taking it again for the same owner is a no-op.
	mustAppend(t, s, eventstore.Batch{Claims: []eventstore.Claim{
		{Key: "username:org1:alice", Owner: "1"},
		{Key: "username:org1:alice", Owner: "1"},
	}})
	wantClaim(t, s, "username:org1:alice", "1")

	// Another owner cannot take it.
	appendErr(t, s, eventstore.Batch{Claims: []eventstore.Claim{{Key: "username:org1:alice", Owner: "2"}}}, eventstore.ErrClaimed)
	wantClaim(t, s, "username:org1:alice", "1")

	// Keys are exact: another key is free.
	mustAppend(t, s, eventstore.Batch{Claims: []eventstore.Claim{{Key: "username:org1:Alice", Owner: "2"}}})
	wantClaim(t, s, "username:org1:Alice", "2")

	// Releasing a key not held is no error.
	mustAppend(t, s, eventstore.Batch{Release: []string{"username:org1:bob"}})

	// Release, then another owner takes it.
	mustAppend(t, s, eventstore.Batch{Release: []string{"username:org1:alice"}})
	wantClaim(t, s, "username:org1:alice", "")
	mustAppend(t, s, eventstore.Batch{Claims: []eventstore.Claim{{Key: "username:org1:alice", Owner: "2"}}})
	wantClaim(t, s, "username:org1:alice", "2")

	// Two owners for one key in one batch.
	appendErr(t, s, eventstore.Batch{Claims: []eventstore.Claim{
		{Key: "email:x", Owner: "1"},
		{Key: "email:x", Owner: "2"},
	}}, eventstore.ErrClaimed)
	wantClaim(t, s, "email:x", "")
}

func testClaimedWritesNothing(t *testing.T, s eventstore.Store) {
	seedWorld(t, s)
	for _, tc := range []struct {
		name   string
		claims []eventstore.Claim
	}{
		{"held by another", []eventstore.Claim{{Key: "other", Owner: "a"}}},
		{"held by another, after a good one", []eventstore.Claim{{Key: "new", Owner: "a"}, {Key: "other", Owner: "a"}}},
		{"taken twice in the batch", []eventstore.Claim{{Key: "new", Owner: "a"}, {Key: "new", Owner: "b"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := failingBatch()
			b.Claims = tc.claims
			appendErr(t, s, b, eventstore.ErrClaimed)
			wantWorldUnchanged(t, s)
		})
	}
}

func testClaimHandOver(t *testing.T, s eventstore.Store) {
	mustAppend(t, s, eventstore.Batch{Claims: []eventstore.Claim{{Key: "k", Owner: "1"}}})
	// Release is applied before Claims: one batch can move a key.
	mustAppend(t, s, eventstore.Batch{
		Release: []string{"k"},
		Claims:  []eventstore.Claim{{Key: "k", Owner: "2"}},
	})
	wantClaim(t, s, "k", "2")
}

func testDocs(t *testing.T, s eventstore.Store) {
	wantNoDoc(t, s, "user", "1")

	d := eventstore.Doc{Kind: "user", ID: "1", Owner: "org1", Data: []byte(`{"name":"alice"}`)}
	mustAppend(t, s, eventstore.Batch{Put: []eventstore.Doc{d}})
	wantDoc(t, s, d)
	wantNoDoc(t, s, "token", "1") // kinds are separate

	// Put is an upsert; the last put of a batch wins.
	d2 := eventstore.Doc{Kind: "user", ID: "1", Owner: "org2", Data: []byte(`{"name":"bob"}`)}
	mustAppend(t, s, eventstore.Batch{Put: []eventstore.Doc{
		{Kind: "user", ID: "1", Owner: "org3", Data: []byte(`"lost"`)},
		d2,
	}})
	wantDoc(t, s, d2)

	// Empty data reads back as nil.
	mustAppend(t, s, eventstore.Batch{Put: []eventstore.Doc{{Kind: "user", ID: "2", Owner: "org1", Data: []byte{}}}})
	if got := mustGet(t, s, "user", "2"); got.Data != nil {
		t.Errorf("empty data read back as %#v, want nil", got.Data)
	}

	// Delete; deleting a missing doc is no error.
	mustAppend(t, s, eventstore.Batch{Delete: []eventstore.DocKey{{Kind: "user", ID: "1"}, {Kind: "user", ID: "nope"}}})
	wantNoDoc(t, s, "user", "1")
	wantDoc(t, s, eventstore.Doc{Kind: "user", ID: "2", Owner: "org1"})
}

// GetMany answers each key in order, a zero Doc for a missing one, with
// copies of the stored bytes, and sees the writes that returned before it.
func testGetMany(t *testing.T, s eventstore.Store) {
	if got, err := s.GetMany(t.Context(), nil); err != nil || len(got) != 0 {
		t.Fatalf("GetMany(no keys) = %v, %v; want nothing", got, err)
	}
	user := eventstore.Doc{Kind: "user", ID: "1", Owner: "org1", Data: []byte(`{"name":"alice"}`)}
	org := eventstore.Doc{Kind: "org", ID: "org1", Owner: "org1", Data: []byte(`{"name":"acme"}`)}
	empty := eventstore.Doc{Kind: "user", ID: "2", Owner: "org1"}
	mustAppend(t, s, eventstore.Batch{Put: []eventstore.Doc{user, org, empty}})
	keys := []eventstore.DocKey{{Kind: "user", ID: "1"}, {Kind: "user", ID: "missing"}, {Kind: "org", ID: "org1"},
		{Kind: "token", ID: "1"}, {Kind: "user", ID: "2"}, {Kind: "user", ID: "1"}}
	got, err := s.GetMany(t.Context(), keys)
	if err != nil {
		t.Fatalf("GetMany: %v", err)
	}
	want := []eventstore.Doc{user, {}, org, {}, empty, user}
	if len(got) != len(want) {
		t.Fatalf("GetMany returned %d docs for %d keys", len(got), len(keys))
	}
	for i := range want {
		if got[i].Kind != want[i].Kind || got[i].ID != want[i].ID || got[i].Owner != want[i].Owner || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Errorf("key %v: got %+v, want %+v", keys[i], got[i], want[i])
		}
	}
	if got[4].Data != nil {
		t.Errorf("empty data read back as %#v, want nil", got[4].Data)
	}
	// The bytes are the caller's: changing them changes nothing stored.
	got[0].Data[0] = 'X'
	if again := mustGet(t, s, "user", "1"); !bytes.Equal(again.Data, user.Data) {
		t.Errorf("changing GetMany's result changed the store: %q", again.Data)
	}
	// Every count of keys answers as Get does, key by key (a store may read
	// few keys and many keys in different ways).
	for n := 1; n <= 12; n++ {
		var many []eventstore.DocKey
		for i := range n {
			many = append(many, keys[(i*5+n)%len(keys)])
		}
		got, err := s.GetMany(t.Context(), many)
		if err != nil || len(got) != n {
			t.Fatalf("GetMany(%d keys) = %d docs, %v", n, len(got), err)
		}
		for i, k := range many {
			d, err := s.Get(t.Context(), k.Kind, k.ID)
			if errors.Is(err, eventstore.ErrNotFound) {
				d = eventstore.Doc{}
			} else if err != nil {
				t.Fatalf("Get %v: %v", k, err)
			}
			if got[i].Kind != d.Kind || got[i].ID != d.ID || got[i].Owner != d.Owner || !bytes.Equal(got[i].Data, d.Data) {
				t.Errorf("GetMany(%d keys), key %d %v: got %+v, Get gives %+v", n, i, k, got[i], d)
			}
		}
	}
	// A later write is seen.
	user.Data = []byte(`{"name":"bob"}`)
	mustAppend(t, s, eventstore.Batch{Put: []eventstore.Doc{user}, Delete: []eventstore.DocKey{{Kind: "org", ID: "org1"}}})
	got, err = s.GetMany(t.Context(), keys[:3])
	if err != nil || !bytes.Equal(got[0].Data, user.Data) || got[2].Kind != "" {
		t.Errorf("after a write: %+v, %v; want bob and no organization", got, err)
	}
}

func testDeleteThenPut(t *testing.T, s eventstore.Store) {
	d := eventstore.Doc{Kind: "user", ID: "1", Owner: "org1", Data: []byte(`1`)}
	mustAppend(t, s, eventstore.Batch{Put: []eventstore.Doc{d}})
	// Delete is applied before Put: the put wins.
	d.Data = []byte(`2`)
	mustAppend(t, s, eventstore.Batch{Put: []eventstore.Doc{d}, Delete: []eventstore.DocKey{{Kind: "user", ID: "1"}}})
	wantDoc(t, s, d)
}

func testList(t *testing.T, s eventstore.Store) {
	put := func(kind, id, owner string) eventstore.Doc {
		return eventstore.Doc{Kind: kind, ID: id, Owner: owner, Data: []byte(`"` + kind + "/" + id + `"`)}
	}
	// IDs chosen so that byte-wise order differs from numeric and
	// case-insensitive order.
	mustAppend(t, s, eventstore.Batch{Put: []eventstore.Doc{
		put("user", "9", "org1"),
		put("user", "10", "org1"),
		put("user", "b", "org1"),
		put("user", "B", "org1"),
		put("user", "a", "org1"),
		put("user", "é", "org1"),
		put("user", "x", "org2"),
		put("token", "1", "org1"),
	}})

	want := "[10 9 B a b é]"
	if got := mustList(t, s, "user", "org1", "", 0); fmt.Sprint(got) != want {
		t.Fatalf("List all = %v, want %v", got, want)
	}
	if got := mustList(t, s, "user", "org1", "", -1); fmt.Sprint(got) != want {
		t.Fatalf("List limit -1 = %v, want %v", got, want)
	}
	docs, err := s.List(t.Context(), "user", "org1", "a", 1)
	if err != nil || len(docs) != 1 {
		t.Fatalf("List after a = %+v, %v", docs, err)
	}
	if got, want := docs[0], put("user", "b", "org1"); got.ID != want.ID || !bytes.Equal(got.Data, want.Data) {
		t.Fatalf("List after a = %+v, want %+v", got, want)
	}

	// Page through with after and limit.
	var pages []string
	after := ""
	for range 10 {
		page := mustList(t, s, "user", "org1", after, 4)
		if len(page) > 4 {
			t.Fatalf("page of %d, limit 4", len(page))
		}
		if len(page) == 0 {
			break
		}
		pages = append(pages, fmt.Sprint(page))
		after = page[len(page)-1]
	}
	if got := fmt.Sprint(pages); got != "[[10 9 B a] [b é]]" {
		t.Fatalf("pages = %v", got)
	}

	if got := mustList(t, s, "user", "org1", "é", 0); len(got) != 0 {
		t.Fatalf("List after last = %v", got)
	}
	if got := mustList(t, s, "user", "org2", "", 0); fmt.Sprint(got) != "[x]" {
		t.Fatalf("List org2 = %v", got)
	}
	if got := mustList(t, s, "token", "org1", "", 0); fmt.Sprint(got) != "[1]" {
		t.Fatalf("List tokens = %v", got)
	}
	if got := mustList(t, s, "user", "org3", "", 0); len(got) != 0 {
		t.Fatalf("List org3 = %v", got)
	}
	if got := mustList(t, s, "group", "org1", "", 0); len(got) != 0 {
		t.Fatalf("List groups = %v", got)
	}

	// Changing the owner moves the doc; deleting removes it.
	mustAppend(t, s, eventstore.Batch{
		Put:    []eventstore.Doc{put("user", "9", "org2")},
		Delete: []eventstore.DocKey{{Kind: "user", ID: "a"}},
	})
	if got := mustList(t, s, "user", "org1", "", 0); fmt.Sprint(got) != "[10 B b é]" {
		t.Fatalf("List org1 after move = %v", got)
	}
	if got := mustList(t, s, "user", "org2", "", 0); fmt.Sprint(got) != "[9 x]" {
		t.Fatalf("List org2 after move = %v", got)
	}
}

func testInvalid(t *testing.T, s eventstore.Store) {
	seedWorld(t, s)
	for _, tc := range []struct {
		name   string
		modify func(b *eventstore.Batch)
	}{
		{"empty aggregate type", func(b *eventstore.Batch) { b.Events[0].AggregateType = "" }},
		{"empty aggregate id", func(b *eventstore.Batch) { b.Events[1].AggregateID = "" }},
		{"sequence 0", func(b *eventstore.Batch) { b.Events[0].Sequence = 0 }},
		{"sequence above int64", func(b *eventstore.Batch) { b.Events[0].Sequence = 1 << 63 }},
		{"empty event type", func(b *eventstore.Batch) { b.Events[1].Type = "" }},
		{"empty claim key", func(b *eventstore.Batch) { b.Claims[0].Key = "" }},
		{"empty claim owner", func(b *eventstore.Batch) { b.Claims[0].Owner = "" }},
		{"empty release key", func(b *eventstore.Batch) { b.Release = append(b.Release, "") }},
		{"empty doc kind", func(b *eventstore.Batch) { b.Put[1].Kind = "" }},
		{"empty doc id", func(b *eventstore.Batch) { b.Put[0].ID = "" }},
		{"empty delete kind", func(b *eventstore.Batch) { b.Delete[0].Kind = "" }},
		{"empty delete id", func(b *eventstore.Batch) { b.Delete[0].ID = "" }},
		{"put of the generation document", func(b *eventstore.Batch) {
			b.Put = append(b.Put, eventstore.Doc{Kind: eventstore.GenerationKind, ID: eventstore.GenerationKey.ID, Data: []byte("x")})
		}},
		{"delete of the generation document", func(b *eventstore.Batch) { b.Delete = append(b.Delete, eventstore.GenerationKey) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := failingBatch()
			tc.modify(&b)
			appendErr(t, s, b, eventstore.ErrInvalid)
			wantWorldUnchanged(t, s)
		})
	}
}

func testNoAliasing(t *testing.T, s eventstore.Store) {
	e := event("1", 1, "x")
	e.Payload = []byte(`"in"`)
	d := eventstore.Doc{Kind: "user", ID: "1", Owner: "org1", Data: []byte(`"in"`)}
	got := mustAppend(t, s, eventstore.Batch{Events: []eventstore.Event{e}, Put: []eventstore.Doc{d}})
	copy(e.Payload, `"XX"`)
	copy(d.Data, `"XX"`)
	copy(got[0].Payload, `"YY"`)

	loaded := mustLoad(t, s, "1", 0)
	if string(loaded[0].Payload) != `"in"` {
		t.Fatalf("payload changed through caller's slice: %s", loaded[0].Payload)
	}
	copy(loaded[0].Payload, `"ZZ"`)
	if p := mustLoad(t, s, "1", 0)[0].Payload; string(p) != `"in"` {
		t.Fatalf("payload changed through loaded slice: %s", p)
	}
	doc := mustGet(t, s, "user", "1")
	if string(doc.Data) != `"in"` {
		t.Fatalf("data changed through caller's slice: %s", doc.Data)
	}
	copy(doc.Data, `"ZZ"`)
	if got := mustGet(t, s, "user", "1").Data; string(got) != `"in"` {
		t.Fatalf("data changed through returned slice: %s", got)
	}
}

const racers = 32

// race runs fn in racers goroutines released at once and returns their
// errors.
func race(fn func(i int) error) []error {
	errs := make([]error, racers)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range racers {
		done.Go(func() {
			start.Wait()
			errs[i] = fn(i)
		})
	}
	start.Done()
	done.Wait()
	return errs
}

func testRaceSequence(t *testing.T, s eventstore.Store) {
	mustAppend(t, s, eventstore.Batch{Events: []eventstore.Event{event("1", 1, "user.added")}})
	errs := race(func(i int) error {
		e := event("1", 2, fmt.Sprintf("racer.%d", i))
		_, err := s.Append(t.Context(), eventstore.Batch{
			Events: []eventstore.Event{e},
			Put:    []eventstore.Doc{{Kind: "racer", ID: fmt.Sprint(i), Owner: "o"}},
		})
		return err
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("racers %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, eventstore.ErrConflict):
			t.Errorf("racer %d: err = %v, want ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no racer succeeded")
	}
	events := mustLoad(t, s, "1", 0)
	wantSequences(t, events, "1", 1, 2)
	if want := fmt.Sprintf("racer.%d", winner); events[1].Type != want {
		t.Errorf("event 2 is %s, want %s", events[1].Type, want)
	}
	if ids := mustList(t, s, "racer", "o", "", 0); fmt.Sprint(ids) != fmt.Sprintf("[%d]", winner) {
		t.Errorf("racer docs = %v, want only the winner's", ids)
	}
}

func testRaceClaim(t *testing.T, s eventstore.Store) {
	errs := race(func(i int) error {
		id := fmt.Sprint(i)
		_, err := s.Append(t.Context(), eventstore.Batch{
			Events: []eventstore.Event{event(id, 1, "user.added")},
			Claims: []eventstore.Claim{{Key: "username:org1:alice", Owner: id}},
			Put:    []eventstore.Doc{{Kind: "user", ID: id, Owner: "org1"}},
		})
		return err
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("racers %d and %d both took the claim", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, eventstore.ErrClaimed):
			t.Errorf("racer %d: err = %v, want ErrClaimed", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no racer took the claim")
	}
	wantClaim(t, s, "username:org1:alice", fmt.Sprint(winner))
	if ids := mustList(t, s, "user", "org1", "", 0); fmt.Sprint(ids) != fmt.Sprintf("[%d]", winner) {
		t.Errorf("user docs = %v, want only the winner's", ids)
	}
	for i := range racers {
		events := mustLoad(t, s, fmt.Sprint(i), 0)
		if (len(events) == 1) != (i == winner) {
			t.Errorf("racer %d has %d events", i, len(events))
		}
	}
}

// testReadYourWrites appends from several goroutines while each reads its
// own writes back at once.
func testReadYourWrites(t *testing.T, s eventstore.Store) {
	const writers, rounds = 8, 15
	var failed atomic.Bool
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			id := fmt.Sprint(w)
			for seq := uint64(1); seq <= rounds && !failed.Load(); seq++ {
				data := []byte(fmt.Sprint(seq))
				_, err := s.Append(t.Context(), eventstore.Batch{
					Events: []eventstore.Event{event(id, seq, "x")},
					Claims: []eventstore.Claim{{Key: id + "/" + fmt.Sprint(seq), Owner: id}},
					Put:    []eventstore.Doc{{Kind: "w", ID: id, Owner: "o", Data: data}},
				})
				if err != nil {
					t.Errorf("writer %d: Append %d: %v", w, seq, err)
					failed.Store(true)
					return
				}
				events, err := s.Load(t.Context(), "user", id, seq-1)
				if err != nil || len(events) != 1 || events[0].Sequence != seq {
					t.Errorf("writer %d: Load after %d = %v, %v", w, seq, events, err)
					failed.Store(true)
				}
				doc, err := s.Get(t.Context(), "w", id)
				if err != nil || !bytes.Equal(doc.Data, data) {
					t.Errorf("writer %d: Get after %d = %+v, %v", w, seq, doc, err)
					failed.Store(true)
				}
				owner, err := s.ClaimOwner(t.Context(), id+"/"+fmt.Sprint(seq))
				if err != nil || owner != id {
					t.Errorf("writer %d: ClaimOwner after %d = %q, %v", w, seq, owner, err)
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	if ids := mustList(t, s, "w", "o", "", 0); len(ids) != writers {
		t.Errorf("List = %v, want %d docs", ids, writers)
	}
}

func testCanceledContext(t *testing.T, s eventstore.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Append(ctx, eventstore.Batch{
		Events: []eventstore.Event{event("1", 1, "x")},
		Claims: []eventstore.Claim{{Key: "k", Owner: "1"}},
		Put:    []eventstore.Doc{{Kind: "user", ID: "1", Owner: "org1"}},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with canceled context: err = %v, want context.Canceled", err)
	}
	wantSequences(t, mustLoad(t, s, "1", 0), "1")
	wantClaim(t, s, "k", "")
	wantNoDoc(t, s, "user", "1")

	if _, err := s.Load(ctx, "user", "1", 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Load with canceled context: err = %v, want context.Canceled", err)
	}
	if _, err := s.Get(ctx, "user", "1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with canceled context: err = %v, want context.Canceled", err)
	}
	if _, err := s.GetMany(ctx, []eventstore.DocKey{{Kind: "user", ID: "1"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("GetMany with canceled context: err = %v, want context.Canceled", err)
	}
	if _, err := s.List(ctx, "user", "org1", "", 0); !errors.Is(err, context.Canceled) {
		t.Errorf("List with canceled context: err = %v, want context.Canceled", err)
	}
	if _, err := s.ClaimOwner(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("ClaimOwner with canceled context: err = %v, want context.Canceled", err)
	}

	// The store still works afterwards.
	mustAppend(t, s, eventstore.Batch{Events: []eventstore.Event{event("1", 1, "x")}})
}

func testCloseTwice(t *testing.T, s eventstore.Store) {
	mustAppend(t, s, eventstore.Batch{Events: []eventstore.Event{event("1", 1, "x")}})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Run closes it again when the test ends.
}

// generation reads the generation document ("" while there is none).
func generation(t *testing.T, s eventstore.Store) string {
	t.Helper()
	docs, err := s.GetMany(t.Context(), []eventstore.DocKey{eventstore.GenerationKey})
	if err != nil {
		t.Fatalf("GetMany(generation): %v", err)
	}
	d := docs[0]
	if d.Kind != "" && (d.Kind != eventstore.GenerationKind || d.ID != eventstore.GenerationKey.ID || len(d.Data) != 16) {
		t.Fatalf("generation document = %+v, want 16 bytes of data", d)
	}
	return string(d.Data)
}

// testGeneration: a change of a watched document, and only that, gives the
// generation document a new value, in the same batch.
func testGeneration(t *testing.T, s eventstore.Store) {
	ctx := t.Context()
	doc := func(kind, id, owner, data string) eventstore.Doc {
		return eventstore.Doc{Kind: kind, ID: id, Owner: owner, Data: []byte(data)}
	}
	// Nothing is watched yet: a token's document changes nothing.
	mustAppend(t, s, eventstore.Batch{Put: []eventstore.Doc{doc("token", "t0", "o1", `0`)}})
	if g := generation(t, s); g != "" {
		t.Fatalf("generation before Watch = %x, want none", g)
	}
	for _, kinds := range [][]string{{""}, {"token", eventstore.GenerationKind}} {
		if err := s.Watch(ctx, kinds...); !errors.Is(err, eventstore.ErrInvalid) {
			t.Fatalf("Watch(%q) = %v, want ErrInvalid", kinds, err)
		}
	}
	seen := map[string]bool{"": true}
	for range 2 { // watching again is harmless, and a new generation
		if err := s.Watch(ctx, "token", "org"); err != nil {
			t.Fatalf("Watch: %v", err)
		}
		g := generation(t, s)
		if seen[g] {
			t.Fatalf("generation after Watch = %x, want a new one", g)
		}
		seen[g] = true
	}

	step := func(name string, b eventstore.Batch, wantErr error, wantNew bool) {
		t.Helper()
		before := generation(t, s)
		_, err := s.Append(ctx, b)
		if !errors.Is(err, wantErr) {
			t.Fatalf("%s: Append = %v, want %v", name, err, wantErr)
		}
		after := generation(t, s)
		switch {
		case wantNew && (after == before || seen[after]):
			t.Fatalf("%s: generation %x after %x, want a value not seen before", name, after, before)
		case !wantNew && after != before:
			t.Fatalf("%s: generation %x after %x, want it unchanged", name, after, before)
		}
		seen[after] = true
	}
	step("first put of a watched document", eventstore.Batch{Put: []eventstore.Doc{doc("token", "t1", "o1", `1`)}}, nil, true)
	step("the same document with other data", eventstore.Batch{Put: []eventstore.Doc{doc("token", "t1", "o1", `2`)}}, nil, true)
	step("the same document with another owner", eventstore.Batch{Put: []eventstore.Doc{doc("token", "t1", "o2", `2`)}}, nil, true)
	step("a watched document among others", eventstore.Batch{
		Events: []eventstore.Event{event("g", 1, "x")},
		Put:    []eventstore.Doc{doc("user", "g", "o1", `1`), doc("org", "o1", "", `1`), doc("user", "h", "o1", `1`)},
	}, nil, true)
	step("documents of other kinds", eventstore.Batch{
		Events: []eventstore.Event{event("g", 2, "x")},
		Put:    []eventstore.Doc{doc("user", "g", "o1", `2`), doc("user", "h", "o2", `2`)},
		Delete: []eventstore.DocKey{{Kind: "user", ID: "h"}},
	}, nil, false)
	step("a token document of before Watch, changed", eventstore.Batch{Put: []eventstore.Doc{doc("token", "t0", "o1", `00`)}}, nil, true)
	step("deleting a watched document", eventstore.Batch{Delete: []eventstore.DocKey{{Kind: "token", ID: "t1"}}}, nil, true)
	step("deleting a watched document that is not there", eventstore.Batch{Delete: []eventstore.DocKey{{Kind: "token", ID: "t1"}}}, nil, false)
	step("a failed batch", eventstore.Batch{
		Events: []eventstore.Event{event("g", 5, "x")}, // a sequence conflict
		Put:    []eventstore.Doc{doc("org", "o1", "", `2`)},
	}, eventstore.ErrConflict, false)
	step("a batch failing on a claim", eventstore.Batch{
		Claims: []eventstore.Claim{{Key: "k", Owner: "a"}, {Key: "k", Owner: "b"}},
		Delete: []eventstore.DocKey{{Kind: "org", ID: "o1"}},
	}, eventstore.ErrClaimed, false)
	step("an empty batch", eventstore.Batch{}, nil, false)
	if d := mustGet(t, s, "org", "o1"); string(d.Data) != `1` {
		t.Fatalf("org document = %s after the failed batches, want 1", d.Data)
	}
}

// testGenerationWithConcurrentWriters checks the rule a reader relies on to
// keep documents (see GenerationKind) while batches commit concurrently
// (together, where a store groups them): having read the generation and
// then documents of watched kinds, a reader that later reads the documents
// again and then the generation, and finds the same generation, finds the
// same documents. (A change in between would have given the generation a
// value it never had before.)
func testGenerationWithConcurrentWriters(t *testing.T, s eventstore.Store) {
	ctx := t.Context()
	if err := s.Watch(ctx, "token"); err != nil {
		t.Fatalf("Watch: %v", err)
	}
	const tokens, rounds, readers = 4, 40, 2
	keys := []eventstore.DocKey{eventstore.GenerationKey}
	for i := range tokens {
		keys = append(keys, eventstore.DocKey{Kind: "token", ID: fmt.Sprint(i)})
	}
	datas := func(docs []eventstore.Doc) string {
		var b bytes.Buffer
		for _, d := range docs {
			fmt.Fprintf(&b, "%s|", d.Data)
		}
		return b.String()
	}
	// check reads as described and returns whether the generation stayed.
	check := func() (bool, error) {
		first, err := s.GetMany(ctx, keys)
		if err != nil {
			return false, err
		}
		again, err := s.GetMany(ctx, keys[1:])
		if err != nil {
			return false, err
		}
		gen, err := s.GetMany(ctx, keys[:1])
		if err != nil {
			return false, err
		}
		if !bytes.Equal(gen[0].Data, first[0].Data) {
			return false, nil
		}
		if datas(again) != datas(first[1:]) {
			return true, fmt.Errorf("generation %x unchanged, documents %s then %s", gen[0].Data, datas(first[1:]), datas(again))
		}
		return true, nil
	}

	var writers, readersDone sync.WaitGroup
	var done atomic.Bool
	errs := make(chan error, tokens+readers)
	for i := range tokens {
		writers.Go(func() {
			for r := range rounds {
				b := eventstore.Batch{Put: []eventstore.Doc{{Kind: "token", ID: fmt.Sprint(i), Owner: "o", Data: []byte(fmt.Sprint(r))}}}
				if _, err := s.Append(ctx, b); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for range readers {
		readersDone.Go(func() {
			for !done.Load() {
				if _, err := check(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	writers.Wait()
	done.Store(true)
	readersDone.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// With no writer left, the generation stays and so do the documents.
	if same, err := check(); err != nil || !same {
		t.Fatalf("check with no writer: generation kept %v, %v", same, err)
	}
	// Every write moves the generation.
	gen := generation(t, s)
	for i := range tokens {
		mustAppend(t, s, eventstore.Batch{Put: []eventstore.Doc{{Kind: "token", ID: fmt.Sprint(i), Owner: "o", Data: []byte("last")}}})
		next := generation(t, s)
		if next == gen {
			t.Fatalf("write %d left the generation at %x", i, gen)
		}
		gen = next
	}
}
