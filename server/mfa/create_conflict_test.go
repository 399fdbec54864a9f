package mfa_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
	"github.com/factorgate/factorgate/server/mfa"
)

// conflictOnce is the memory store answering ErrConflict, without writing,
// to the first append of an aggregate's first event: what PostgreSQL's
// group commit answers a batch after an earlier one of its group on the
// same new aggregate, which then does not commit after all.
type conflictOnce struct {
	*eventstore.Memory
	id    string
	fired atomic.Bool
}

func (s *conflictOnce) Append(ctx context.Context, b eventstore.Batch) ([]eventstore.Event, error) {
	for _, e := range b.Events {
		if e.AggregateID == s.id && e.Sequence == 1 && s.fired.CompareAndSwap(false, true) {
			return nil, fmt.Errorf("%w: %s/%s: sequence 1 is not the next one", eventstore.ErrConflict, e.AggregateType, e.AggregateID)
		}
	}
	return s.Memory.Append(ctx, b)
}

// A create that loses a sequence check to a write that never committed is
// run again: the caller gets the user or organization, not "already
// exists" for something that does not exist. One that really exists still
// answers so.
func TestCreateAfterASpuriousConflict(t *testing.T) {
	for _, tc := range []struct {
		name   string
		create func(svc *mfa.Service, admin context.Context, org, id string) error
		taken  error
		kind   string
	}{
		{"HumanUser", func(svc *mfa.Service, admin context.Context, org, id string) error {
			_, err := svc.AddHumanUser(admin, org, mfa.HumanInput{UserID: id, Username: id, GivenName: "Ada", FamilyName: "Lovelace",
				Email: id + "@example.com", EmailVerified: true})
			return err
		}, mfa.ErrUserIDTaken, "user"},
		{"MachineUser", func(svc *mfa.Service, admin context.Context, org, id string) error {
			_, err := svc.AddMachineUser(admin, org, mfa.MachineInput{UserID: id, Username: id, Name: "robot"})
			return err
		}, mfa.ErrUserIDTaken, "user"},
		{"Organization", func(svc *mfa.Service, admin context.Context, _, id string) error {
			_, _, err := svc.AddOrganization(admin, id, "org "+id, nil)
			return err
		}, mfa.ErrOrgNameTaken, "org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := eventstore.NewMemory()
			t.Cleanup(func() { _ = mem.Close() })
			id := uniqueName("chosen")
			store := &conflictOnce{Memory: mem, id: id}
			svc := newServiceOn(t, store, &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)})
			ctx := context.Background()
			boot, err := svc.Bootstrap(ctx, mfa.BootstrapOptions{TokenLifetime: adminTokenLifetime})
			noErr(t, err)
			admin := mfa.WithPrincipal(ctx, must(svc.Authenticate(ctx, boot.AdminToken)))

			if err := tc.create(svc, admin, boot.OrgID, id); err != nil {
				t.Fatalf("create after a spurious conflict: %v", err)
			}
			if !store.fired.Load() {
				t.Fatalf("the store never answered the conflict")
			}
			if evs, err := mem.Load(ctx, tc.kind, id, 0); err != nil || len(evs) == 0 {
				t.Fatalf("%s %s: %d events (%v), want it created", tc.kind, id, len(evs), err)
			}
			wantErr(t, tc.create(svc, admin, boot.OrgID, id), tc.taken)
		})
	}
}
