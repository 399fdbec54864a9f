package mfa_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
	"github.com/factorgate/factorgate/server/mfa"
)

// readCountingStore counts the store's document reads.
type readCountingStore struct {
	*eventstore.Memory
	mu       sync.Mutex
	gets     int
	getManys [][]eventstore.DocKey
}

func (s *readCountingStore) Get(ctx context.Context, kind, id string) (eventstore.Doc, error) {
	s.mu.Lock()
	s.gets++
	s.mu.Unlock()
	return s.Memory.Get(ctx, kind, id)
}

func (s *readCountingStore) GetMany(ctx context.Context, keys []eventstore.DocKey) ([]eventstore.Doc, error) {
	s.mu.Lock()
	s.getManys = append(s.getManys, keys)
	s.mu.Unlock()
	return s.Memory.GetMany(ctx, keys)
}

// reads returns and resets the counts.
func (s *readCountingStore) reads() (gets int, getManys [][]eventstore.DocKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gets, getManys = s.gets, s.getManys
	s.gets, s.getManys = 0, nil
	return gets, getManys
}

// want fails t unless the reads since the last call were wantGets reads
// of one document and one read of several per wantKinds, of those kinds.
func (s *readCountingStore) want(t *testing.T, step string, wantGets int, wantKinds ...[]string) {
	t.Helper()
	gets, many := s.reads()
	if gets != wantGets || len(many) != len(wantKinds) {
		t.Fatalf("%s: %d reads of one document and %d of several (%v), want %d and %d", step, gets, len(many), many, wantGets, len(wantKinds))
	}
	for i, keys := range many {
		var kinds []string
		for _, k := range keys {
			kinds = append(kinds, k.Kind)
		}
		if !slices.Equal(kinds, wantKinds[i]) {
			t.Fatalf("%s: read %v together, want the kinds %v", step, keys, wantKinds[i])
		}
	}
}

// newCountingEnv is newTestEnv over a store that counts its reads.
func newCountingEnv(t *testing.T) (*testEnv, *readCountingStore) {
	t.Helper()
	ctx := context.Background()
	store := &readCountingStore{Memory: eventstore.NewMemory()}
	t.Cleanup(func() { _ = store.Close() })
	clock := &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	svc := newServiceOn(t, store, clock)
	boot := must(svc.Bootstrap(ctx, mfa.BootstrapOptions{TokenLifetime: adminTokenLifetime}))
	admin := mfa.WithPrincipal(ctx, must(svc.Authenticate(ctx, boot.AdminToken)))
	return &testEnv{t: t, svc: svc, store: store.Memory, clock: clock, admin: admin, boot: boot}, store
}

// machineCaller adds an organization and a machine user in it with a
// personal access token, and returns them with one API request of that
// caller as the chain makes it: authenticate, then authorize user.read in
// the caller's organization.
func (e *testEnv) machineCaller() (org, machine, token string, request func() error) {
	e.t.Helper()
	ctx := context.Background()
	orgDetails, _, err := e.svc.AddOrganization(e.admin, "", uniqueName("org"), nil)
	noErr(e.t, err)
	org = orgDetails.ID
	machine = must(e.svc.AddMachineUser(e.admin, org, mfa.MachineInput{Username: uniqueName("svc"), Name: "service"})).ID
	_, token, _, err = e.svc.AddPersonalAccessToken(e.admin, org, machine, time.Time{})
	noErr(e.t, err)
	request = func() error {
		p, err := e.svc.Authenticate(ctx, token)
		if err != nil {
			return err
		}
		_, err = e.svc.Authorize(mfa.WithRequestPrincipal(ctx, p), p, "", mfa.PermUserRead)
		return err
	}
	return org, machine, token, request
}

// A request whose token this node has kept reads one document: the
// store's generation. The token, its organization and the instance come
// from the node while the generation stays; any change of one of them
// gives the generation a new value, so a membership granted or a token
// revoked since is seen by the very next request.
func TestKeptTokenReadsOnlyTheGeneration(t *testing.T) {
	ctx := context.Background()
	e, store := newCountingEnv(t)
	svc, admin := e.svc, e.admin
	org, machine, token, request := e.machineCaller()
	wantReads := func(step string, wantGets int, wantKinds ...[]string) {
		t.Helper()
		store.want(t, step, wantGets, wantKinds...)
	}
	gen := eventstore.GenerationKind
	store.reads()

	// First sight of the token: the generation, the token and the
	// instance, then its organization.
	wantErr(t, request(), mfa.ErrNoMembership)
	wantReads("first request", 1, []string{gen, "token", "instance"})

	// Kept: the generation alone.
	wantErr(t, request(), mfa.ErrNoMembership)
	wantReads("second request", 0, []string{gen})

	// A change of a person leaves what was kept.
	e.human(org)
	store.reads()
	wantErr(t, request(), mfa.ErrNoMembership)
	wantReads("after a person was added", 0, []string{gen})

	// A membership granted since is seen by the next request: the
	// generation moved, everything is read again (the organization with
	// the rest, now that the node knows it) and kept again.
	noErr(t, errOf(svc.AddOrgMember(admin, org, machine, []string{"ORG_USER_MANAGER"})))
	store.reads()
	noErr(t, request())
	wantReads("after the grant", 0, []string{gen}, []string{gen, "token", "instance", "org"})
	noErr(t, request())
	wantReads("kept again", 0, []string{gen})

	// Acting in another organization reads that one on its own.
	otherDetails, _, err := svc.AddOrganization(admin, "", uniqueName("org"), nil)
	noErr(t, err)
	other := otherDetails.ID
	p := must(svc.Authenticate(ctx, token))
	store.reads()
	_, err = svc.Authorize(mfa.WithRequestPrincipal(ctx, p), p, other, mfa.PermUserRead)
	wantErr(t, err, mfa.ErrNoMembership)
	wantReads("another organization", 1)

	// A revoked token is refused by the next request: having kept it does
	// not keep it alive.
	noErr(t, request())
	if !must(svc.RevokeToken(admin, token)) {
		t.Fatal("RevokeToken: not revoked")
	}
	store.reads()
	wantErr(t, request(), mfa.ErrTokenInvalid)
	wantReads("after the revocation", 0, []string{gen}, []string{gen, "token", "instance", "org"})
}

// What a node keeps is dropped by a change that another writer of the
// database makes (another replica, another version, a tool): the store
// replaces the generation with every change of a watched document, whoever
// writes it. Here the writer goes to the store directly, past the service.
func TestAChangeWrittenPastTheServiceEndsWhatWasKept(t *testing.T) {
	ctx := context.Background()
	e, store := newCountingEnv(t)
	org, machine, token, request := e.machineCaller()
	noErr(t, errOf(e.svc.AddOrgMember(e.admin, org, machine, []string{"ORG_USER_MANAGER"})))
	noErr(t, request())
	noErr(t, request())
	store.reads()
	noErr(t, request())
	store.want(t, "kept", 0, []string{eventstore.GenerationKind})

	// The membership, removed from the organization's document.
	d := must(store.Memory.Get(ctx, "org", org))
	var doc map[string]any
	noErr(t, json.Unmarshal(d.Data, &doc))
	delete(doc["members"].(map[string]any), machine)
	d.Data = must(json.Marshal(doc))
	must(store.Memory.Append(ctx, eventstore.Batch{Put: []eventstore.Doc{d}}))
	wantErr(t, request(), mfa.ErrNoMembership)
	wantErr(t, request(), mfa.ErrNoMembership)

	// The token, deleted.
	must(store.Memory.Append(ctx, eventstore.Batch{Delete: []eventstore.DocKey{{Kind: "token", ID: mfa.HashToken(token)}}}))
	wantErr(t, request(), mfa.ErrTokenInvalid)
}

// A request that names a person (its user_id, WithReadAhead) reads that
// person's document with its token, for its first load of the person; a
// second load, or a load after the request wrote anything, reads the store.
func TestRequestReadsThePersonItNamesAhead(t *testing.T) {
	ctx := context.Background()
	e, store := newCountingEnv(t)
	svc, boot := e.svc, e.boot
	person := e.human(boot.OrgID)
	e.readyTOTP(person)

	request := func(userID string) context.Context {
		t.Helper()
		p := must(svc.Authenticate(mfa.WithReadAhead(ctx, userID), boot.AdminToken))
		return mfa.WithRequestPrincipal(ctx, p)
	}
	store.reads()

	r := request(person)
	store.want(t, "authenticate", 0, []string{eventstore.GenerationKind, "user"})
	if f := must(svc.ListFactors(r, boot.OrgID, person)); len(f) != 1 || f[0].Kind != mfa.FactorTOTP || f[0].State != mfa.FactorReady {
		t.Fatalf("factors = %+v, want one ready TOTP", f)
	}
	store.want(t, "first load", 0)
	must(svc.ListFactors(r, boot.OrgID, person))
	store.want(t, "second load", 0) // until the request writes, every load takes it

	// A write by the request (another aggregate) ends the read-ahead.
	r = request(person)
	_, _, err := svc.AddOrganization(r, "", uniqueName("org"), nil)
	noErr(t, err)
	store.reads()
	must(svc.ListFactors(r, boot.OrgID, person))
	store.want(t, "load after a write", 1)

	// A removal served by the read-ahead document removes the factor.
	r = request(person)
	noErr(t, errOf(svc.RemoveFactor(r, boot.OrgID, mfa.FactorRef{UserID: person, Kind: mfa.FactorTOTP})))
	if f := must(svc.ListFactors(request(person), boot.OrgID, person)); len(f) != 0 {
		t.Fatalf("factors after the removal = %+v, want none", f)
	}
	// A second removal of it in a new request finds nothing to remove.
	_, err = svc.RemoveFactor(request(person), boot.OrgID, mfa.FactorRef{UserID: person, Kind: mfa.FactorTOTP})
	wantErr(t, err, mfa.ErrTOTPNotExisting)

	// A read-ahead older than the store: another request changed the person
	// after it was read. The removal decided on it loses the race at the
	// store's sequence check, and its retry reads the person from the
	// store: both changes stand.
	raced := e.human(boot.OrgID)
	e.readyTOTP(raced)
	r = request(raced)
	must(svc.ListFactors(r, boot.OrgID, raced)) // read ahead, as OneLogin's removal lists first
	_, _, err = svc.AddOTPEmail(e.admin, boot.OrgID, raced)
	noErr(t, err)
	store.reads()
	noErr(t, errOf(svc.RemoveFactor(r, boot.OrgID, mfa.FactorRef{UserID: raced, Kind: mfa.FactorTOTP})))
	store.want(t, "retry after a lost race", 1)
	if f := must(svc.ListFactors(request(raced), boot.OrgID, raced)); len(f) != 1 || f[0].Kind != mfa.FactorOTPEmail {
		t.Fatalf("factors after the change and the removal = %+v, want the OTP email only", f)
	}

	// Another person than the one read ahead is read from the store.
	other := e.human(boot.OrgID)
	r = request(person)
	store.reads()
	must(svc.ListFactors(r, boot.OrgID, other))
	store.want(t, "another person", 1)

	// A person who does not exist: the read-ahead says so.
	r = request("404404404")
	store.reads()
	if f := must(svc.ListFactors(r, boot.OrgID, "404404404")); f != nil {
		t.Fatalf("factors of nobody = %+v, want none", f)
	}
	store.want(t, "nobody", 0)
}
