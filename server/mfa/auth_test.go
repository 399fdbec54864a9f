package mfa_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
	"github.com/factorgate/factorgate/server/mfa"
)

func TestBootstrap(t *testing.T) {
	ctx := context.Background()

	t.Run("creates once; later starts find the same instance", func(t *testing.T) {
		e := newTestEnv(t)
		if !e.boot.Created || e.boot.InstanceID == "" || e.boot.OrgID == "" || e.boot.AdminUserID == "" || e.boot.AdminToken == "" {
			t.Fatalf("first Bootstrap = %+v, want everything created", e.boot)
		}
		if e.svc.InstanceID() != e.boot.InstanceID {
			t.Fatalf("InstanceID() = %q, want %q", e.svc.InstanceID(), e.boot.InstanceID)
		}

		again := must(e.svc.Bootstrap(ctx, mfa.BootstrapOptions{}))
		if again.Created || again.InstanceID != e.boot.InstanceID || again.AdminToken != "" {
			t.Fatalf("second Bootstrap = %+v, want Created=false on instance %s", again, e.boot.InstanceID)
		}

		replica := newServiceOn(t, e.store, e.clock)
		res := must(replica.Bootstrap(ctx, mfa.BootstrapOptions{}))
		if res.Created || res.InstanceID != e.boot.InstanceID || replica.InstanceID() != e.boot.InstanceID {
			t.Fatalf("Bootstrap on a second service = %+v, want Created=false on instance %s", res, e.boot.InstanceID)
		}
	})

	t.Run("concurrent first starts agree on one instance", func(t *testing.T) {
		store := eventstore.NewMemory()
		clock := &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
		const n = 8
		results := make([]mfa.BootstrapResult, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			svc := newServiceOn(t, store, clock)
			wg.Go(func() { results[i], errs[i] = svc.Bootstrap(ctx, mfa.BootstrapOptions{}) })
		}
		wg.Wait()
		created := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("Bootstrap %d: %v", i, errs[i])
			}
			if results[i].InstanceID != results[0].InstanceID {
				t.Fatalf("instances differ: %s vs %s", results[i].InstanceID, results[0].InstanceID)
			}
			if results[i].Created {
				created++
			}
		}
		if created != 1 {
			t.Fatalf("%d replicas report Created, want 1", created)
		}
	})

	t.Run("admin token authenticates", func(t *testing.T) {
		e := newTestEnv(t)
		p := must(e.svc.Authenticate(ctx, e.boot.AdminToken))
		if p.UserID != e.boot.AdminUserID || p.OrgID != e.boot.OrgID || !p.Machine {
			t.Fatalf("principal = %+v, want machine user %s of org %s", p, e.boot.AdminUserID, e.boot.OrgID)
		}
		if want := e.clock.Now().Add(adminTokenLifetime); !p.Expires.Equal(want) {
			t.Fatalf("Expires = %v, want %v", p.Expires, want)
		}
	})

	t.Run("wrong or empty token", func(t *testing.T) {
		svc, _, boot := newTestService(t)
		for _, token := range []string{"", "fg_nope", boot.AdminToken + "x", boot.AdminToken[:len(boot.AdminToken)-1]} {
			_, err := svc.Authenticate(ctx, token)
			wantErr(t, err, mfa.ErrTokenInvalid)
		}
	})

	t.Run("expired token", func(t *testing.T) {
		e := newTestEnv(t)
		e.clock.Advance(adminTokenLifetime - time.Second)
		noErr(t, errOf(e.svc.Authenticate(ctx, e.boot.AdminToken)))
		e.clock.Advance(time.Second) // exactly at expiry
		_, err := e.svc.Authenticate(ctx, e.boot.AdminToken)
		wantErr(t, err, mfa.ErrTokenInvalid)
		e.clock.Advance(time.Hour)
		_, err = e.svc.Authenticate(ctx, e.boot.AdminToken)
		wantErr(t, err, mfa.ErrTokenInvalid)
	})
}

func TestAuthorize(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	orgA, orgB := e.org(), e.org()
	manager := e.human(orgA)
	e.member(orgA, manager, "ORG_USER_MANAGER")
	viewerInB := e.human(orgA)
	e.member(orgA, viewerInB, "ORG_USER_MANAGER")
	e.member(orgB, viewerInB, "ORG_OWNER_VIEWER")
	nobody := e.human(orgA)
	admin := mfa.PrincipalFrom(e.admin)

	tests := []struct {
		name       string
		p          *mfa.Principal
		org        string
		permission string
		wantOrg    string
		wantErr    error
	}{
		{"IAM_OWNER in the first org", admin, e.boot.OrgID, mfa.PermUserWrite, e.boot.OrgID, nil},
		{"IAM_OWNER in any org", admin, orgB, mfa.PermUserWrite, orgB, nil},
		{"IAM_OWNER, default org is the caller's", admin, "", mfa.PermUserWrite, e.boot.OrgID, nil},
		{"IAM_OWNER in an unknown org", admin, "404", mfa.PermUserWrite, "", mfa.ErrOrgNotExisting},
		{"org manager in its org", &mfa.Principal{UserID: manager, OrgID: orgA}, orgA, mfa.PermUserWrite, orgA, nil},
		{"org manager lacks policy.write", &mfa.Principal{UserID: manager, OrgID: orgA}, orgA, mfa.PermPolicyWrite, "", mfa.ErrNoPermission},
		{"org manager in another org: no membership there", &mfa.Principal{UserID: manager, OrgID: orgA}, orgB, mfa.PermUserWrite, "", mfa.ErrNoMembership},
		{"viewer role in the other org: no permission", &mfa.Principal{UserID: viewerInB, OrgID: orgA}, orgB, mfa.PermUserWrite, "", mfa.ErrNoPermission},
		{"no role anywhere", &mfa.Principal{UserID: nobody, OrgID: orgA}, orgA, mfa.PermUserWrite, "", mfa.ErrNoMembership},
		{"authenticated needs no role", &mfa.Principal{UserID: nobody, OrgID: orgA}, orgB, mfa.PermAuthenticated, orgB, nil},
		{"authenticated in an unknown org", &mfa.Principal{UserID: nobody, OrgID: orgA}, "404", mfa.PermAuthenticated, "", mfa.ErrOrgNotExisting},
		{"no principal", nil, orgA, mfa.PermAuthenticated, "", mfa.ErrAuthHeaderMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.svc.Authorize(ctx, tt.p, tt.org, tt.permission)
			if tt.wantErr != nil {
				wantErr(t, err, tt.wantErr)
				return
			}
			if err != nil || got != tt.wantOrg {
				t.Fatalf("Authorize = %q, %v; want %q", got, err, tt.wantOrg)
			}
		})
	}
}
