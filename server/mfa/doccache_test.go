package mfa_test

import (
	"context"
	"errors"
	"testing"

	"github.com/factorgate/factorgate/server/mfa"
)

// Two services on one store are two replicas on one database. Replica A
// reuses the decoded token, organization and instance documents while
// their stored bytes are unchanged; a change made through replica B is
// seen by A's very next call (staleness bound zero): a narrowed role is
// denied, a revoked token refused, a new role granted.
func TestDecodedDocumentsAreNeverStaleAcrossReplicas(t *testing.T) {
	e := newTestEnv(t)
	a := e.svc
	b := newServiceOn(t, e.store, e.clock)
	if _, err := b.Bootstrap(context.Background(), mfa.BootstrapOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	org := e.org()
	manager := e.human(org)
	p := &mfa.Principal{UserID: manager, OrgID: org}
	for range 2 { // the second call decodes nothing
		if _, err := a.Authorize(ctx, p, org, mfa.PermUserWrite); !errors.Is(err, mfa.ErrNoMembership) {
			t.Fatalf("before the change: %v, want %v", err, mfa.ErrNoMembership)
		}
	}
	if _, err := b.AddOrgMember(e.admin, org, manager, []string{"ORG_USER_MANAGER"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authorize(ctx, p, org, mfa.PermUserWrite); err != nil {
		t.Fatalf("after replica B granted the role, replica A answers %v", err)
	}
	if _, err := b.AddIAMMember(e.admin, manager, []string{"IAM_OWNER_VIEWER"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authorize(ctx, p, e.org(), mfa.PermUserRead); err != nil {
		t.Fatalf("after replica B granted an instance role, replica A answers %v", err)
	}

	name := uniqueName("cache")
	if _, err := a.AddHumanUser(e.admin, org, mfa.HumanInput{Username: name, GivenName: "A", FamilyName: "B",
		Email: name + "@example.com", EmailVerified: true, Password: "correct horse"}); err != nil {
		t.Fatal(err)
	}
	g, err := a.PasswordGrant(e.admin, name, "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, err := a.Authenticate(ctx, g.Token)
		if err != nil {
			t.Fatalf("fresh token: %v", err)
		}
		got.AMR = append(got.AMR[:0], "tampered") // a caller's change stays its own
	}
	if got, err := a.Authenticate(ctx, g.Token); err != nil || len(got.AMR) == 0 || got.AMR[0] == "tampered" {
		t.Fatalf("a principal's slices are shared between calls: %+v, %v", got, err)
	}
	if revoked, err := b.RevokeToken(e.admin, g.Token); err != nil || !revoked {
		t.Fatalf("RevokeToken on replica B = %v, %v", revoked, err)
	}
	if _, err := a.Authenticate(ctx, g.Token); !errors.Is(err, mfa.ErrTokenInvalid) {
		t.Fatalf("replica A accepts a token revoked on replica B: %v", err)
	}
}

// Within one API request (WithRequestPrincipal) the command's own
// permission check decides on the documents the chain's Authorize read
// (one decision per request); the next request reads them again.
func TestRequestSnapshotLastsOneRequest(t *testing.T) {
	e := newTestEnv(t)
	org := e.org()
	manager, person := e.human(org), e.human(org)
	e.readyTOTP(person)
	p := &mfa.Principal{UserID: manager, OrgID: org}

	req := mfa.WithRequestPrincipal(context.Background(), p)
	if _, err := e.svc.Authorize(req, p, org, mfa.PermUserWrite); !errors.Is(err, mfa.ErrNoMembership) {
		t.Fatalf("before the grant: %v, want %v", err, mfa.ErrNoMembership)
	}
	e.member(org, manager, "ORG_USER_MANAGER") // lands while the request runs
	if _, err := e.svc.RemoveFactor(req, "", mfa.FactorRef{UserID: person, Kind: mfa.FactorTOTP}); !errors.Is(err, mfa.ErrNoMembership) {
		t.Fatalf("the request decided before the grant, its command answers %v, want %v", err, mfa.ErrNoMembership)
	}

	next := mfa.WithRequestPrincipal(context.Background(), p)
	if _, err := e.svc.Authorize(next, p, org, mfa.PermUserWrite); err != nil {
		t.Fatalf("the next request: %v", err)
	}
	if _, err := e.svc.RemoveFactor(next, "", mfa.FactorRef{UserID: person, Kind: mfa.FactorTOTP}); err != nil {
		t.Fatalf("the next request's removal: %v", err)
	}
}
