package eventstoretest

import (
	"fmt"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
)

// AppendCommand appends the shape of a typical command, one event plus one
// document upsert of aggregate ("user", id) at seq, for the stores'
// benchmarks. A failure is reported with Error (Fatal is not allowed
// outside the benchmark goroutine).
func AppendCommand(b *testing.B, s eventstore.Store, id string, seq uint64) {
	_, err := s.Append(b.Context(), eventstore.Batch{
		Events: []eventstore.Event{{
			AggregateType: "user", AggregateID: id, Sequence: seq,
			Type: "user.human.mfa.otp.added", Version: 1,
			ResourceOwner: "163840776835432001", Creator: "163840776835432999",
			CreatedAt: time.Now(),
			Payload:   []byte(`{"secret":"c2VhbGVkIHNlY3JldCBieXRlcyBnbyBoZXJl","state":"NOT_READY"}`),
		}},
		Put: []eventstore.Doc{{
			Kind: "user", ID: id, Owner: "163840776835432001",
			Data: []byte(fmt.Sprintf(`{"id":%q,"username":"alice","sequence":%d,"otp":"NOT_READY"}`, id, seq)),
		}},
	})
	if err != nil {
		b.Error(err)
	}
}
