package eventstore

import (
	"fmt"
	"math"
	"time"
)

// CheckBatch reports whether b is well formed, independently of what any
// store holds. It returns nil or an error wrapping ErrInvalid when:
//
//   - an event has an empty AggregateType, AggregateID or Type, a Sequence
//     of 0 or above math.MaxInt64;
//   - the events of one aggregate do not have consecutive sequences in
//     slice order (a gap or a repeat inside the batch);
//   - a claim has an empty Key or Owner, or a released key is empty;
//   - a put or deleted document has an empty Kind or ID, or is the
//     generation document (GenerationKind: the store keeps it).
//
// Every Store calls it first in Append; callers need not.
func CheckBatch(b Batch) error {
	type agg struct{ typ, id string }
	var last map[agg]uint64
	if len(b.Events) > 1 {
		last = make(map[agg]uint64, len(b.Events))
	}
	for i, e := range b.Events {
		switch {
		case e.AggregateType == "" || e.AggregateID == "":
			return fmt.Errorf("%w: event %d: empty aggregate type or id", ErrInvalid, i)
		case e.Type == "":
			return fmt.Errorf("%w: event %d: empty event type", ErrInvalid, i)
		case e.Sequence == 0 || e.Sequence > math.MaxInt64:
			return fmt.Errorf("%w: event %d: sequence %d out of range", ErrInvalid, i, e.Sequence)
		}
		if last == nil {
			continue
		}
		k := agg{e.AggregateType, e.AggregateID}
		if prev, ok := last[k]; ok && e.Sequence != prev+1 {
			return fmt.Errorf("%w: event %d: %s/%s sequence %d follows %d in the same batch",
				ErrInvalid, i, e.AggregateType, e.AggregateID, e.Sequence, prev)
		}
		last[k] = e.Sequence
	}
	for i, c := range b.Claims {
		if c.Key == "" || c.Owner == "" {
			return fmt.Errorf("%w: claim %d: empty key or owner", ErrInvalid, i)
		}
	}
	for i, k := range b.Release {
		if k == "" {
			return fmt.Errorf("%w: release %d: empty key", ErrInvalid, i)
		}
	}
	for i, d := range b.Put {
		if d.Kind == "" || d.ID == "" {
			return fmt.Errorf("%w: put %d: empty document kind or id", ErrInvalid, i)
		}
		if d.Kind == GenerationKind {
			return fmt.Errorf("%w: put %d: the generation document is the store's", ErrInvalid, i)
		}
	}
	for i, d := range b.Delete {
		if d.Kind == "" || d.ID == "" {
			return fmt.Errorf("%w: delete %d: empty document kind or id", ErrInvalid, i)
		}
		if d.Kind == GenerationKind {
			return fmt.Errorf("%w: delete %d: the generation document is the store's", ErrInvalid, i)
		}
	}
	return nil
}

// CheckWatch reports whether kinds may be watched (Store.Watch): nil, or
// an error wrapping ErrInvalid for an empty kind or GenerationKind.
func CheckWatch(kinds []string) error {
	for _, k := range kinds {
		if k == "" || k == GenerationKind {
			return fmt.Errorf("%w: watch %q: not a document kind", ErrInvalid, k)
		}
	}
	return nil
}

// NormalizeTime returns t as stores keep it: in UTC, truncated to the
// microsecond, without a monotonic clock reading.
func NormalizeTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// Byte helpers the stores share: payloads and documents are nil when
// empty, on the way in (a NULL column) and on the way out.

// NullIfEmpty returns b as a query argument: NULL when empty.
func NullIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// NilIfEmpty returns nil for an empty b.
func NilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// Clone copies b, nil when empty, so that callers cannot alias a
// store's data.
func Clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}
