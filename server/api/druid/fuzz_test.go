package druid

import (
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	druidv1 "github.com/factorgate/factorgate/gen/factorgate/druid/v1"
	"github.com/factorgate/factorgate/server/mfa"
)

// FuzzActivityBody: a DruID activity body, decoded as the gateway decodes
// it, then checked as the handlers check it, never panics; a refusal is
// always InvalidArgument (a 400 naming the field), and an accepted delete
// names one of the known channels.
func FuzzActivityBody(f *testing.F) {
	dec := protojson.UnmarshalOptions{DiscardUnknown: true}
	f.Fuzz(func(t *testing.T, body []byte) {
		var del druidv1.DeleteMFAChannelRequest
		if dec.Unmarshal(body, &del) == nil {
			kind, err := checkDelete(&del)
			if err != nil && mfa.KindOf(err) != mfa.KindInvalidArgument {
				t.Fatalf("checkDelete(%s): %v, want InvalidArgument", body, err)
			}
			if err == nil && kind != channels[del.GetContext().GetMfaChannel()] {
				t.Fatalf("checkDelete(%s) = %s", body, kind)
			}
		}
		var create druidv1.CreateMFAChannelRequest
		if dec.Unmarshal(body, &create) == nil {
			if _, err := checkCreate(&create); err != nil && mfa.KindOf(err) != mfa.KindInvalidArgument {
				t.Fatalf("checkCreate(%s): %v, want InvalidArgument", body, err)
			}
		}
		_ = languageOf(string(body))
	})
}
