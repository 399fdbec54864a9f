package mfa_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/factorgate/factorgate/server/eventstore"
	"github.com/factorgate/factorgate/server/mfa"
)

// testRPID is the WebAuthn relying party the test service is configured
// with; testOrigin is the origin its browser pages would have.
const (
	testRPID   = "login.example.com"
	testOrigin = "https://" + testRPID
)

var testMasterKey = bytes.Repeat([]byte{0x42}, 32)

// testClock is the service's injectable clock. It stands still until a test
// moves it.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testEnv is a bootstrapped service over an in-memory event store.
type testEnv struct {
	t     *testing.T
	svc   *mfa.Service
	store *eventstore.Memory
	clock *testClock
	admin context.Context // carries the bootstrap admin's principal
	boot  mfa.BootstrapResult
}

// adminTokenLifetime is the lifetime of the bootstrap admin's token in tests.
const adminTokenLifetime = 24 * time.Hour

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	store := eventstore.NewMemory()
	t.Cleanup(func() { _ = store.Close() })
	clock := &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	svc := newServiceOn(t, store, clock)
	ctx := context.Background()
	boot, err := svc.Bootstrap(ctx, mfa.BootstrapOptions{TokenLifetime: adminTokenLifetime})
	if err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	p, err := svc.Authenticate(ctx, boot.AdminToken)
	if err != nil {
		t.Fatalf("Authenticate admin token: %v", err)
	}
	return &testEnv{t: t, svc: svc, store: store, clock: clock, admin: mfa.WithPrincipal(ctx, p), boot: boot}
}

func newServiceOn(t *testing.T, store eventstore.Store, clock *testClock) *mfa.Service {
	t.Helper()
	svc, err := mfa.New(mfa.Config{
		Store: store, MasterKey: testMasterKey, Now: clock.Now,
		RPID: testRPID, RPDisplayName: "factorgate test",
		PasswordHashCost: mfa.MinPasswordHashCost, // see TestPasswordHashCost
	})
	if err != nil {
		t.Fatalf("mfa.New: %v", err)
	}
	return svc
}

// newTestService returns a bootstrapped service, a context acting as the
// bootstrap admin (IAM_OWNER) and what Bootstrap created.
func newTestService(t *testing.T) (*mfa.Service, context.Context, mfa.BootstrapResult) {
	t.Helper()
	e := newTestEnv(t)
	return e.svc, e.admin, e.boot
}

var nameSeq atomic.Int64

func uniqueName(prefix string) string { return fmt.Sprintf("%s-%d", prefix, nameSeq.Add(1)) }

// org creates an organization as the admin and returns its id.
func (e *testEnv) org() string {
	e.t.Helper()
	d, _, err := e.svc.AddOrganization(e.admin, "", uniqueName("org"), nil)
	if err != nil {
		e.t.Fatalf("AddOrganization: %v", err)
	}
	return d.ID
}

type humanOpt func(*mfa.HumanInput)

func withVerifiedPhone(in *mfa.HumanInput)   { in.Phone, in.PhoneVerified = "+41791234567", true }
func withUnverifiedPhone(in *mfa.HumanInput) { in.Phone, in.PhoneVerified = "+41791234567", false }
func withUnverifiedEmail(in *mfa.HumanInput) { in.EmailVerified = false }

// human creates a person in orgID as the admin and returns the user id. The
// email is verified unless an option says otherwise; there is no phone.
func (e *testEnv) human(orgID string, opts ...humanOpt) string {
	e.t.Helper()
	name := uniqueName("user")
	in := mfa.HumanInput{Username: name, GivenName: "Ada", FamilyName: "Lovelace",
		Email: name + "@example.com", EmailVerified: true}
	for _, o := range opts {
		o(&in)
	}
	d, err := e.svc.AddHumanUser(e.admin, orgID, in)
	if err != nil {
		e.t.Fatalf("AddHumanUser: %v", err)
	}
	return d.ID
}

// member gives userID roles in orgID.
func (e *testEnv) member(orgID, userID string, roles ...string) {
	e.t.Helper()
	if _, err := e.svc.AddOrgMember(e.admin, orgID, userID, roles); err != nil {
		e.t.Fatalf("AddOrgMember(%v): %v", roles, err)
	}
}

// as returns a context acting as userID of orgID.
func (e *testEnv) as(userID, orgID string) context.Context {
	return mfa.WithPrincipal(context.Background(), &mfa.Principal{UserID: userID, OrgID: orgID})
}

// readyTOTP enrolls and verifies TOTP for userID.
func (e *testEnv) readyTOTP(userID string) {
	e.t.Helper()
	reg, _, err := e.svc.RegisterTOTP(e.admin, "", userID)
	if err != nil {
		e.t.Fatalf("RegisterTOTP: %v", err)
	}
	if _, err := e.svc.VerifyTOTP(e.admin, "", userID, reg.ID, e.totpCode(reg.Secret)); err != nil {
		e.t.Fatalf("VerifyTOTP: %v", err)
	}
}

func (e *testEnv) totpCode(secret string) string {
	e.t.Helper()
	code, err := totp.GenerateCode(secret, e.clock.Now())
	if err != nil {
		e.t.Fatalf("GenerateCode: %v", err)
	}
	return code
}

// seq returns the stored sequence of an aggregate.
func (e *testEnv) seq(aggregateType, id string) uint64 {
	e.t.Helper()
	events, err := e.store.Load(context.Background(), aggregateType, id, 0)
	if err != nil {
		e.t.Fatalf("Load: %v", err)
	}
	return uint64(len(events))
}

// factors lists a user's factors as the admin.
func (e *testEnv) factors(userID string) []mfa.FactorView {
	e.t.Helper()
	fs, err := e.svc.ListFactors(e.admin, "", userID)
	if err != nil {
		e.t.Fatalf("ListFactors: %v", err)
	}
	return fs
}

func (e *testEnv) factorOf(userID string, kind mfa.FactorKind) (mfa.FactorView, bool) {
	for _, f := range e.factors(userID) {
		if f.Kind == kind {
			return f, true
		}
	}
	return mfa.FactorView{}, false
}

// wantErr fails unless err matches want (errors.Is: same kind and ID).
func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

// must returns v, panicking on an error: for steps whose failure means the
// test setup is broken (the panic's stack names the line).
func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("unexpected error: %v", err))
	}
	return v
}

// noErr fails the test on an unexpected error.
func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// errOf drops a result and keeps its error: noErr(t, errOf(svc.X(…))).
func errOf[T any](_ T, err error) error { return err }
