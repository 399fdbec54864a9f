package mfa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/factorgate/factorgate/server/eventstore"
	"github.com/factorgate/factorgate/server/mfa"
)

func TestPasswordGrant(t *testing.T) {
	e := newTestEnv(t)
	org := e.org()
	name := uniqueName("pw")
	d, err := e.svc.AddHumanUser(e.admin, org, mfa.HumanInput{Username: name, GivenName: "A", FamilyName: "B",
		Email: name + "@example.com", EmailVerified: true, Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.svc.PasswordGrant(e.admin, name, "correct horse", nil)
	if err != nil {
		t.Fatalf("PasswordGrant: %v", err)
	}
	p, err := e.svc.Authenticate(e.admin, g.Token)
	if err != nil {
		t.Fatalf("the granted token does not authenticate: %v", err)
	}
	if p.UserID != d.ID || p.OrgID != org || !slices.Equal(p.AMR, []string{"pwd"}) || !p.AuthTime.Equal(e.clock.Now()) {
		t.Errorf("principal = %+v, want user %s of org %s, amr [pwd], auth time %v", p, d.ID, org, e.clock.Now())
	}
	// The token is stored only as a hash.
	events, _ := e.store.Load(e.admin, "user", d.ID, 0)
	for _, ev := range events {
		if bytes.Contains(ev.Payload, []byte(g.Token)) {
			t.Fatalf("event %s stores the token in clear", ev.Type)
		}
	}
	// It expires.
	e.clock.Advance(mfa.AccessTokenLifetime)
	if _, err := e.svc.Authenticate(e.admin, g.Token); !errors.Is(err, mfa.ErrTokenInvalid) {
		t.Errorf("expired token: %v, want ErrTokenInvalid", err)
	}

	for _, c := range []struct{ name, user, pw string }{
		{"wrong password", name, "wrong"},
		{"unknown user", "nobody-" + name, "correct horse"},
		{"empty password", name, ""},
	} {
		if _, err := e.svc.PasswordGrant(e.admin, c.user, c.pw, nil); !errors.Is(err, mfa.ErrInvalidCredentials) {
			t.Errorf("%s: %v, want ErrInvalidCredentials", c.name, err)
		}
	}
	// A person without a password cannot use the grant.
	nopw := e.human(org)
	if _, err := e.svc.PasswordGrant(e.admin, nopw, "", nil); !errors.Is(err, mfa.ErrInvalidCredentials) {
		t.Errorf("user without password: %v, want ErrInvalidCredentials", err)
	}
}

func TestClientCredentialsGrant(t *testing.T) {
	e := newTestEnv(t)
	org := e.org()
	name := uniqueName("bot")
	d, err := e.svc.AddMachineUser(e.admin, org, mfa.MachineInput{Username: name, Name: "bot"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ClientCredentialsGrant(e.admin, name, "anything", nil); !errors.Is(err, mfa.ErrInvalidClient) {
		t.Fatalf("before a secret exists: %v, want ErrInvalidClient", err)
	}
	clientID, secret, _, err := e.svc.GenerateMachineSecret(e.admin, org, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if clientID != name {
		t.Errorf("client id = %q, want the username %q", clientID, name)
	}
	g, err := e.svc.ClientCredentialsGrant(e.admin, clientID, secret, nil)
	if err != nil {
		t.Fatalf("ClientCredentialsGrant: %v", err)
	}
	p, err := e.svc.Authenticate(e.admin, g.Token)
	if err != nil || p.UserID != d.ID || !p.Machine || !slices.Equal(p.AMR, []string{"client_secret"}) {
		t.Fatalf("principal %+v, %v", p, err)
	}
	if _, err := e.svc.ClientCredentialsGrant(e.admin, clientID, secret+"x", nil); !errors.Is(err, mfa.ErrInvalidClient) {
		t.Errorf("wrong secret: %v, want ErrInvalidClient", err)
	}
	// A new secret replaces the old one.
	_, secret2, _, err := e.svc.GenerateMachineSecret(e.admin, org, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ClientCredentialsGrant(e.admin, clientID, secret, nil); !errors.Is(err, mfa.ErrInvalidClient) {
		t.Errorf("replaced secret still works: %v", err)
	}
	if _, err := e.svc.ClientCredentialsGrant(e.admin, clientID, secret2, nil); err != nil {
		t.Errorf("new secret: %v", err)
	}
	// Humans have no client secret; other orgs cannot set one.
	if _, _, _, err := e.svc.GenerateMachineSecret(e.admin, org, e.human(org)); !errors.Is(err, mfa.ErrUserNotMachine) {
		t.Errorf("secret for a human: %v, want ErrUserNotMachine", err)
	}
	if _, _, _, err := e.svc.GenerateMachineSecret(e.admin, e.org(), d.ID); !errors.Is(err, mfa.ErrUserNotFound) {
		t.Errorf("secret through another org: %v, want ErrUserNotFound", err)
	}
}

func TestRevokeToken(t *testing.T) {
	e := newTestEnv(t)
	org := e.org()
	name := uniqueName("rv")
	if _, err := e.svc.AddHumanUser(e.admin, org, mfa.HumanInput{Username: name, GivenName: "A", FamilyName: "B",
		Email: name + "@example.com", EmailVerified: true, Password: "correct horse"}); err != nil {
		t.Fatal(err)
	}
	g1, err := e.svc.PasswordGrant(e.admin, name, "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	g2, err := e.svc.PasswordGrant(e.admin, name, "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := e.store.Load(e.admin, "user", g1.UserID, 0)
	revoked, err := e.svc.RevokeToken(e.admin, g1.Token)
	if err != nil || !revoked {
		t.Fatalf("RevokeToken = %v, %v; want true, nil", revoked, err)
	}
	if _, err := e.svc.Authenticate(e.admin, g1.Token); !errors.Is(err, mfa.ErrTokenInvalid) {
		t.Errorf("revoked token authenticates: %v", err)
	}
	if _, err := e.svc.Authenticate(e.admin, g2.Token); err != nil {
		t.Errorf("the user's other token stopped working: %v", err)
	}
	after, _ := e.store.Load(e.admin, "user", g1.UserID, 0)
	if len(after) != len(before)+1 || after[len(after)-1].Type != mfa.EventTokenRevoked {
		t.Fatalf("want one %s event, got %d events after %d", mfa.EventTokenRevoked, len(after), len(before))
	}
	if bytes.Contains(after[len(after)-1].Payload, []byte(g1.Token)) {
		t.Error("the revocation event stores the token")
	}
	// Again, unknown and empty: no error, nothing written (RFC 7009).
	for _, tok := range []string{g1.Token, "fg_unknown", ""} {
		if revoked, err := e.svc.RevokeToken(e.admin, tok); err != nil || revoked {
			t.Errorf("RevokeToken(%q) = %v, %v; want false, nil", tok, revoked, err)
		}
	}
	if again, _ := e.store.Load(e.admin, "user", g1.UserID, 0); len(again) != len(after) {
		t.Errorf("a no-op revocation wrote %d events", len(again)-len(after))
	}
}

// Seeded people look like enrolled ones: their factors are listed ready,
// removals work, and the stored documents equal a replay of the events.
func TestSeed(t *testing.T) {
	e := newTestEnv(t)
	org := e.org()
	users, err := e.svc.Seed(e.admin, mfa.SeedOptions{OrgID: org, Users: 7, U2FPerUser: 2, Prefix: "seed", BatchSize: 3})
	if err != nil || len(users) != 7 {
		t.Fatalf("Seed = %d users, %v", len(users), err)
	}
	for _, u := range users {
		fs, err := e.svc.ListFactors(e.admin, org, u.ID)
		if err != nil || len(fs) != 3 {
			t.Fatalf("ListFactors(%s) = %v, %v; want TOTP and two keys", u.ID, fs, err)
		}
		for _, f := range fs {
			if f.State != mfa.FactorReady {
				t.Errorf("seeded factor %+v is not ready", f)
			}
		}
		replayed, stored, err := e.svc.Replay(e.admin, "user", u.ID)
		if err != nil || !bytes.Equal(replayed, stored) {
			t.Fatalf("replay of %s differs from its document (%v):\n%s\n%s", u.ID, err, replayed, stored)
		}
	}
	if _, err := e.svc.RemoveFactor(e.admin, org, mfa.FactorRef{UserID: users[0].ID, Kind: mfa.FactorU2F, ID: users[0].U2FIDs[1]}); err != nil {
		t.Errorf("removing a seeded key: %v", err)
	}
	if _, err := e.svc.RemoveFactor(e.admin, org, mfa.FactorRef{UserID: users[0].ID, Kind: mfa.FactorTOTP}); err != nil {
		t.Errorf("removing a seeded TOTP: %v", err)
	}
	if _, err := e.svc.Seed(e.admin, mfa.SeedOptions{OrgID: org, Users: 1, Prefix: "seed"}); !errors.Is(err, eventstore.ErrClaimed) {
		t.Errorf("seeding a taken username: %v, want ErrClaimed", err)
	}
}

// Of many concurrent revocations of one token, exactly one ends it: one
// revocation event, the others report that nothing was live.
func TestRevokeTokenRace(t *testing.T) {
	e := newTestEnv(t)
	org := e.org()
	name := uniqueName("rvr")
	if _, err := e.svc.AddHumanUser(e.admin, org, mfa.HumanInput{Username: name, GivenName: "A", FamilyName: "B",
		Email: name + "@example.com", EmailVerified: true, Password: "correct horse"}); err != nil {
		t.Fatal(err)
	}
	g, err := e.svc.PasswordGrant(e.admin, name, "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var ended atomic.Int32
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			revoked, err := e.svc.RevokeToken(e.admin, g.Token)
			if err != nil {
				t.Error(err)
			}
			if revoked {
				ended.Add(1)
			}
		}()
	}
	wg.Wait()
	if ended.Load() != 1 {
		t.Errorf("%d revocations reported ending the token, want 1", ended.Load())
	}
	events, _ := e.store.Load(e.admin, "user", g.UserID, 0)
	n := 0
	for _, ev := range events {
		if ev.Type == mfa.EventTokenRevoked {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d %s events, want 1", n, mfa.EventTokenRevoked)
	}
}

// TestPasswordHashCost: a new password hash takes the configured bcrypt
// cost, bcrypt's default when none is set; a stored hash is checked at the
// cost it was written with, whatever the setting; a cost outside 4–16 is
// refused. (The other tests run at the cheapest cost.)
func TestPasswordHashCost(t *testing.T) {
	store := eventstore.NewMemory()
	t.Cleanup(func() { _ = store.Close() })
	clock := &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	ctx := context.Background()
	var adminCtx context.Context // the bootstrap admin, in the organization org
	var org string
	open := func(cost int) *mfa.Service {
		t.Helper()
		svc, err := mfa.New(mfa.Config{Store: store, MasterKey: testMasterKey, Now: clock.Now, PasswordHashCost: cost})
		if err != nil {
			t.Fatalf("mfa.New with cost %d: %v", cost, err)
		}
		boot, err := svc.Bootstrap(ctx, mfa.BootstrapOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if boot.Created {
			p, err := svc.Authenticate(ctx, boot.AdminToken)
			if err != nil {
				t.Fatal(err)
			}
			adminCtx, org = mfa.WithPrincipal(ctx, p), boot.OrgID
		}
		return svc
	}
	// addPerson adds a person with a password and returns the cost of the
	// hash their first event stores.
	addPerson := func(svc *mfa.Service, name string) int {
		t.Helper()
		d, err := svc.AddHumanUser(adminCtx, org, mfa.HumanInput{Username: name, GivenName: "A", FamilyName: "B",
			Email: name + "@example.com", Password: "correct horse"})
		if err != nil {
			t.Fatal(err)
		}
		events, err := store.Load(ctx, "user", d.ID, 0)
		if err != nil || len(events) == 0 {
			t.Fatalf("events of %s: %v %v", name, events, err)
		}
		var added struct {
			PasswordHash string `json:"passwordHash"`
		}
		if err := json.Unmarshal(events[0].Payload, &added); err != nil {
			t.Fatal(err)
		}
		cost, err := bcrypt.Cost([]byte(added.PasswordHash))
		if err != nil {
			t.Fatalf("%s's stored hash %q: %v", name, added.PasswordHash, err)
		}
		return cost
	}

	byDefault := open(0)
	if got := addPerson(byDefault, "default-cost"); got != bcrypt.DefaultCost {
		t.Errorf("cost of a hash with no setting = %d, want bcrypt's default %d", got, bcrypt.DefaultCost)
	}
	five := open(5)
	if got := addPerson(five, "cost-five"); got != 5 {
		t.Errorf("cost of a hash with the setting 5 = %d, want 5", got)
	}
	// A node with another setting checks both stored hashes at their own cost.
	six := open(6)
	for _, name := range []string{"default-cost", "cost-five"} {
		if _, err := six.PasswordGrant(ctx, name, "correct horse", nil); err != nil {
			t.Errorf("%s's password on a node set to 6: %v", name, err)
		}
		if _, err := six.PasswordGrant(ctx, name, "wrong horse", nil); !errors.Is(err, mfa.ErrInvalidCredentials) {
			t.Errorf("%s with a wrong password: %v, want ErrInvalidCredentials", name, err)
		}
	}
	if _, err := six.PasswordGrant(ctx, "nobody", "correct horse", nil); !errors.Is(err, mfa.ErrInvalidCredentials) {
		t.Errorf("unknown user: %v, want ErrInvalidCredentials", err)
	}

	for _, cost := range []int{-1, 3, 17, 31} {
		if _, err := mfa.New(mfa.Config{Store: store, MasterKey: testMasterKey, PasswordHashCost: cost}); err == nil || !strings.Contains(err.Error(), "password hash cost") {
			t.Errorf("mfa.New with cost %d: %v, want an error naming the password hash cost", cost, err)
		}
	}
}
