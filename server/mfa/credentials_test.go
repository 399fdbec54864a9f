package mfa_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/factorgate/factorgate/server/mfa"
)

func TestAPICredentials(t *testing.T) {
	e := newTestEnv(t)
	org, other := e.org(), e.org()
	person := e.human(org)

	cred, d, err := e.svc.CreateAPICredential(e.admin, org, "manage USERS")
	if err != nil {
		t.Fatalf("CreateAPICredential: %v", err)
	}
	if cred.Scope != mfa.ScopeManageUsers || cred.OrgID != org || d.ResourceOwner != org || len(cred.ClientID) != 64 || len(cred.Secret) != 64 {
		t.Fatalf("credential %+v, details %+v", cred, d)
	}
	// The secret is never stored.
	for _, typ := range []string{"user", "org"} {
		id := cred.UserID
		if typ == "org" {
			id = org
		}
		events, _ := e.store.Load(e.admin, typ, id, 0)
		for _, ev := range events {
			if bytes.Contains(ev.Payload, []byte(cred.Secret)) {
				t.Fatalf("event %s stores the secret in clear", ev.Type)
			}
		}
	}

	g, err := e.svc.APICredentialGrant(e.admin, cred.ClientID, cred.Secret)
	if err != nil {
		t.Fatalf("APICredentialGrant: %v", err)
	}
	if g.OrgID != org || g.ExpiresIn != mfa.APITokenLifetime || !slices.Equal(g.Scopes, []string{mfa.ScopeManageUsers}) {
		t.Errorf("grant %+v", g)
	}
	p, err := e.svc.Authenticate(e.admin, g.Token)
	if err != nil || p.OrgID != org || !slices.Equal(p.Scopes, []string{mfa.ScopeManageUsers}) || !slices.Equal(p.AMR, []string{"client_secret"}) {
		t.Fatalf("principal %+v, %v", p, err)
	}
	// Manage users: user permissions in its own organization, nothing in
	// another, no policy writes.
	for _, c := range []struct {
		org, perm string
		want      error
	}{
		{org, mfa.PermUserRead, nil}, {org, mfa.PermUserWrite, nil}, {org, mfa.PermUserCredentialWrite, nil},
		{org, mfa.PermPolicyWrite, mfa.ErrNoPermission}, {other, mfa.PermUserRead, mfa.ErrNoMembership},
	} {
		if _, err := e.svc.Authorize(e.admin, p, c.org, c.perm); !errors.Is(err, c.want) && !(err == nil && c.want == nil) {
			t.Errorf("Authorize(%s in %s) = %v, want %v", c.perm, c.org, err, c.want)
		}
	}
	// Through the core's own checks too: it can enroll for a person of its
	// organization.
	if _, _, err := e.svc.RegisterTOTP(mfa.WithPrincipal(e.admin, p), org, person); err != nil {
		t.Errorf("RegisterTOTP with a Manage users credential: %v", err)
	}

	for _, c := range []struct{ name, id, secret string }{
		{"wrong secret", cred.ClientID, "x"}, {"unknown client", "nobody", cred.Secret}, {"empty", "", ""},
	} {
		if _, err := e.svc.APICredentialGrant(e.admin, c.id, c.secret); !errors.Is(err, mfa.ErrInvalidClient) {
			t.Errorf("%s: %v, want ErrInvalidClient", c.name, err)
		}
	}

	// Authentication Only grants no permission at all.
	auth, _, err := e.svc.CreateAPICredential(e.admin, org, mfa.ScopeAuthenticationOnly)
	noErr(t, err)
	ga := must(e.svc.APICredentialGrant(e.admin, auth.ClientID, auth.Secret))
	pa := must(e.svc.Authenticate(e.admin, ga.Token))
	if _, err := e.svc.Authorize(e.admin, pa, org, mfa.PermUserRead); err == nil {
		t.Error("an Authentication Only credential has user.read")
	}

	// Revocation: only by the credential the token belongs to.
	if revoked, err := e.svc.RevokeAPIToken(e.admin, auth.ClientID, auth.Secret, g.Token); err != nil || revoked {
		t.Errorf("revoke by another credential: %v %v, want a no-op", revoked, err)
	}
	if revoked, err := e.svc.RevokeAPIToken(e.admin, cred.ClientID, cred.Secret, g.Token); err != nil || !revoked {
		t.Errorf("revoke: %v %v", revoked, err)
	}
	if _, err := e.svc.Authenticate(e.admin, g.Token); !errors.Is(err, mfa.ErrTokenInvalid) {
		t.Errorf("revoked token: %v", err)
	}

	// Creating a credential hands out a role: org.member.write is needed.
	manager := e.human(org)
	e.member(org, manager, "ORG_USER_MANAGER")
	if _, _, err := e.svc.CreateAPICredential(e.as(manager, org), org, mfa.ScopeManageAll); !errors.Is(err, mfa.ErrNoPermissionCmd) {
		t.Errorf("CreateAPICredential by a user manager: %v, want ErrNoPermissionCmd", err)
	}
	owner := e.human(org)
	e.member(org, owner, "ORG_OWNER")
	if _, _, err := e.svc.CreateAPICredential(e.as(owner, org), org, mfa.ScopeManageAll); err != nil {
		t.Errorf("CreateAPICredential by the organization's owner: %v", err)
	}
	if _, _, err := e.svc.CreateAPICredential(e.admin, org, "Everything"); !errors.Is(err, mfa.ErrUnknownAPIScope) {
		t.Errorf("unknown scope: %v", err)
	}
	if _, _, err := e.svc.CreateAPICredential(e.admin, "1", mfa.ScopeReadAll); !errors.Is(err, mfa.ErrOrgNotFound) {
		t.Errorf("unknown organization: %v", err)
	}
	// The roles behind scopes cannot be handed out as ZITADEL roles.
	if _, err := e.svc.AddOrgMember(e.admin, org, manager, []string{"ONELOGIN_MANAGE_ALL"}); !errors.Is(err, mfa.ErrInvalidRole) {
		t.Errorf("AddOrgMember(ONELOGIN_MANAGE_ALL): %v, want ErrInvalidRole", err)
	}
}

// OneLogin's v1 token endpoint ends the credential's older tokens when it
// issues a new one; the person's own sessions and other credentials keep
// theirs, and a wrong secret changes nothing.
func TestAPICredentialGrantReplacingEndsOlderTokens(t *testing.T) {
	e := newTestEnv(t)
	org := e.org()
	cred, _, err := e.svc.CreateAPICredential(e.admin, org, mfa.ScopeReadUsers)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := e.svc.CreateAPICredential(e.admin, org, mfa.ScopeReadUsers)
	if err != nil {
		t.Fatal(err)
	}
	grant := func(id, secret string) string {
		t.Helper()
		g, err := e.svc.APICredentialGrant(e.admin, id, secret)
		if err != nil {
			t.Fatal(err)
		}
		return g.Token
	}
	old1, old2, others := grant(cred.ClientID, cred.Secret), grant(cred.ClientID, cred.Secret), grant(other.ClientID, other.Secret)

	if _, err := e.svc.APICredentialGrantReplacing(e.admin, cred.ClientID, "wrong"); !errors.Is(err, mfa.ErrInvalidClient) {
		t.Fatalf("wrong secret: %v, want ErrInvalidClient", err)
	}
	if _, err := e.svc.Authenticate(e.admin, old1); err != nil {
		t.Fatalf("a refused grant ended a token: %v", err)
	}

	g, err := e.svc.APICredentialGrantReplacing(e.admin, cred.ClientID, cred.Secret)
	if err != nil {
		t.Fatalf("APICredentialGrantReplacing: %v", err)
	}
	if p, err := e.svc.Authenticate(e.admin, g.Token); err != nil || p.UserID != cred.UserID || !slices.Equal(p.Scopes, []string{mfa.ScopeReadUsers}) {
		t.Fatalf("the new token: %+v, %v", p, err)
	}
	for _, tok := range []string{old1, old2} {
		if _, err := e.svc.Authenticate(e.admin, tok); !errors.Is(err, mfa.ErrTokenInvalid) {
			t.Errorf("an older token of the credential: %v, want ErrTokenInvalid", err)
		}
	}
	if _, err := e.svc.Authenticate(e.admin, others); err != nil {
		t.Errorf("another credential's token ended: %v", err)
	}
	// The log says so: two revocations and the new token, in one change.
	events, err := e.store.Load(e.admin, "user", cred.UserID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var tail []string
	for _, ev := range events[len(events)-3:] {
		tail = append(tail, ev.Type)
	}
	if want := []string{mfa.EventTokenRevoked, mfa.EventTokenRevoked, mfa.EventTokenAdded}; !slices.Equal(tail, want) {
		t.Errorf("last events %v, want %v", tail, want)
	}
}
