package mfa_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/descope/virtualwebauthn"

	"github.com/factorgate/factorgate/server/mfa"
)

// securityKey is a software authenticator (packed self-attestation) with
// one credential.
type securityKey struct {
	rp   virtualwebauthn.RelyingParty
	auth virtualwebauthn.Authenticator
	cred virtualwebauthn.Credential
}

func newSecurityKey(rpID string) *securityKey {
	return &securityKey{
		rp:   virtualwebauthn.RelyingParty{Name: "factorgate test", ID: rpID, Origin: "https://" + rpID},
		auth: virtualwebauthn.NewAuthenticator(),
		cred: newEC2Credential(),
	}
}

// newEC2Credential returns a P-256 credential whose coordinates both need 32
// bytes. virtualwebauthn encodes a coordinate with big.Int.Bytes, which drops
// leading zero bytes, and go-webauthn rightly rejects a shorter coordinate;
// so about one key in 64 it makes would fail the ceremony at random.
func newEC2Credential() virtualwebauthn.Credential {
	for {
		key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
		point := must(key.PublicKey.Bytes()) // 0x04 || X || Y
		if point[1] == 0 || point[33] == 0 {
			continue
		}
		return virtualwebauthn.NewCredentialWithImportedKey(virtualwebauthn.KeyTypeEC2, must(x509.MarshalPKCS8PrivateKey(key)))
	}
}

// attest answers the creation options as navigator.credentials.create()
// would. tamper may change the parsed options first.
func (k *securityKey) attest(t *testing.T, options []byte, tamper func(*virtualwebauthn.AttestationOptions)) []byte {
	t.Helper()
	opts, err := virtualwebauthn.ParseAttestationOptions(string(options))
	if err != nil {
		t.Fatalf("ParseAttestationOptions: %v", err)
	}
	if k.cred.IsExcludedForAttestation(*opts) {
		t.Fatalf("the key's credential is excluded by the options")
	}
	if tamper != nil {
		tamper(opts)
	}
	return []byte(virtualwebauthn.CreateAttestationResponse(k.rp, k.auth, k.cred, *opts))
}

// enrollU2F runs the whole ceremony for key as the admin.
func (e *testEnv) enrollU2F(userID string, key *securityKey, name string) string {
	e.t.Helper()
	reg, _, err := e.svc.RegisterU2F(e.admin, "", userID, "")
	if err != nil {
		e.t.Fatalf("RegisterU2F: %v", err)
	}
	if _, err := e.svc.VerifyU2FRegistration(e.admin, "", userID, reg.ID, key.attest(e.t, reg.Options, nil), name); err != nil {
		e.t.Fatalf("VerifyU2FRegistration: %v", err)
	}
	return reg.ID
}

// creationOptions is the part of the creation options the tests look at.
type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"rp"`
		User struct {
			ID          string `json:"id"`
			Name        string `json:"name"`
			DisplayName string `json:"displayName"`
		} `json:"user"`
		Attestation            string `json:"attestation"`
		AuthenticatorSelection struct {
			UserVerification string `json:"userVerification"`
		} `json:"authenticatorSelection"`
		ExcludeCredentials []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
	} `json:"publicKey"`
}

func TestU2FEnrolment(t *testing.T) {
	t.Run("full ceremony makes the key ready", func(t *testing.T) {
		e := newTestEnv(t)
		org := e.org()
		user := e.human(org)
		key := newSecurityKey(testRPID)

		reg, d, err := e.svc.RegisterU2F(e.admin, "", user, "")
		if err != nil {
			t.Fatalf("RegisterU2F: %v", err)
		}
		if d.ResourceOwner != org || d.Sequence != e.seq("user", user) || !d.CreationDate.IsZero() {
			t.Fatalf("register details = %+v", d)
		}
		var opts creationOptions
		if err := json.Unmarshal(reg.Options, &opts); err != nil {
			t.Fatalf("options are not JSON: %v\n%s", err, reg.Options)
		}
		pk := opts.PublicKey
		if pk.RP.ID != testRPID || pk.RP.Name != "factorgate test" || pk.Challenge == "" ||
			pk.User.ID != base64.RawURLEncoding.EncodeToString([]byte(user)) || pk.User.DisplayName != "Ada Lovelace" ||
			pk.Attestation != "none" || pk.AuthenticatorSelection.UserVerification != "discouraged" || len(pk.ExcludeCredentials) != 0 {
			t.Fatalf("unexpected creation options: %s", reg.Options)
		}
		if f, _ := e.factorOf(user, mfa.FactorU2F); f.State != mfa.FactorNotReady || f.ID != reg.ID {
			t.Fatalf("after register: factor = %+v, want NOT_READY %s", f, reg.ID)
		}

		d, err = e.svc.VerifyU2FRegistration(e.admin, "", user, reg.ID, key.attest(t, reg.Options, nil), "YubiKey")
		if err != nil {
			t.Fatalf("VerifyU2FRegistration: %v", err)
		}
		if d.ResourceOwner != org || d.Sequence != e.seq("user", user) || !d.EventDate.Equal(e.clock.Now()) {
			t.Fatalf("verify details = %+v", d)
		}
		f, _ := e.factorOf(user, mfa.FactorU2F)
		if f.State != mfa.FactorReady || f.ID != reg.ID || f.Name != "YubiKey" {
			t.Fatalf("after verify: factor = %+v, want READY %s named YubiKey", f, reg.ID)
		}

		_, err = e.svc.VerifyU2FRegistration(e.admin, "", user, reg.ID, key.attest(t, reg.Options, nil), "again")
		wantErr(t, err, mfa.ErrU2FAlreadyReady)
	})

	t.Run("the stored event carries the verified credential", func(t *testing.T) {
		e := newTestEnv(t)
		user := e.human(e.org())
		key := newSecurityKey(testRPID)
		e.enrollU2F(user, key, "key")
		events := must(e.store.Load(context.Background(), "user", user, 0))
		last := events[len(events)-1]
		if last.Type != mfa.EventU2FVerified {
			t.Fatalf("last event = %s", last.Type)
		}
		var p struct {
			KeyID     []byte `json:"keyId"`
			PublicKey []byte `json:"publicKey"`
			AAGUID    []byte `json:"aaguid"`
			RPID      string `json:"rpID"`
		}
		noErr(t, json.Unmarshal(last.Payload, &p))
		if string(p.KeyID) != string(key.cred.ID) || len(p.PublicKey) == 0 || string(p.AAGUID) != string(key.auth.Aaguid[:]) || p.RPID != testRPID {
			t.Fatalf("verified payload = %s", last.Payload)
		}
	})

	t.Run("two keys for one user; the second excludes the first", func(t *testing.T) {
		e := newTestEnv(t)
		user := e.human(e.org())
		first, second := newSecurityKey(testRPID), newSecurityKey(testRPID)
		id1 := e.enrollU2F(user, first, "first")

		reg := must(u2fReg(e.svc.RegisterU2F(e.admin, "", user, "")))
		var opts creationOptions
		noErr(t, json.Unmarshal(reg.Options, &opts))
		if len(opts.PublicKey.ExcludeCredentials) != 1 ||
			opts.PublicKey.ExcludeCredentials[0].ID != base64.RawURLEncoding.EncodeToString(first.cred.ID) {
			t.Fatalf("excludeCredentials = %+v, want the first key", opts.PublicKey.ExcludeCredentials)
		}
		noErr(t, errOf(e.svc.VerifyU2FRegistration(e.admin, "", user, reg.ID, second.attest(t, reg.Options, nil), "second")))

		got := map[string]string{}
		for _, f := range e.factors(user) {
			if f.Kind != mfa.FactorU2F || f.State != mfa.FactorReady {
				t.Fatalf("unexpected factor %+v", f)
			}
			got[f.ID] = f.Name
		}
		if len(got) != 2 || got[id1] != "first" || got[reg.ID] != "second" {
			t.Fatalf("factors = %v, want both keys", got)
		}
	})

	t.Run("the same key twice is refused", func(t *testing.T) {
		e := newTestEnv(t)
		user := e.human(e.org())
		key := newSecurityKey(testRPID)
		e.enrollU2F(user, key, "first")
		reg := must(u2fReg(e.svc.RegisterU2F(e.admin, "", user, "")))
		// A misbehaving authenticator ignores the exclude list.
		opts := must(virtualwebauthn.ParseAttestationOptions(string(reg.Options)))
		resp := virtualwebauthn.CreateAttestationResponse(key.rp, key.auth, key.cred, *opts)
		_, err := e.svc.VerifyU2FRegistration(e.admin, "", user, reg.ID, []byte(resp), "again")
		wantErr(t, err, mfa.ErrU2FInvalid)
	})

	t.Run("verification failures", func(t *testing.T) {
		e := newTestEnv(t)
		user := e.human(e.org())
		key := newSecurityKey(testRPID)
		reg := must(u2fReg(e.svc.RegisterU2F(e.admin, "", user, "")))

		bad := map[string][]byte{
			"tampered challenge": key.attest(t, reg.Options, func(o *virtualwebauthn.AttestationOptions) { o.Challenge[0] ^= 0xff }),
			"wrong origin": (&securityKey{rp: virtualwebauthn.RelyingParty{ID: testRPID, Origin: "https://evil.example"},
				auth: key.auth, cred: key.cred}).attest(t, reg.Options, nil),
			"wrong relying party": (&securityKey{rp: virtualwebauthn.RelyingParty{ID: "evil.example", Origin: testOrigin},
				auth: key.auth, cred: key.cred}).attest(t, reg.Options, nil),
			"tampered response": tamperJSON(t, key.attest(t, reg.Options, nil)),
			"not JSON":          []byte("{"),
			"empty":             nil,
		}
		for name, credential := range bad {
			t.Run(name, func(t *testing.T) {
				_, err := e.svc.VerifyU2FRegistration(e.admin, "", user, reg.ID, credential, "key")
				wantErr(t, err, mfa.ErrU2FInvalid)
				me := mfa.AsError(err)
				if me.Message != mfa.ErrU2FInvalid.Message || me.Err == nil {
					t.Fatalf("error = %+v, want the generic message and the library's reason in Err", me)
				}
			})
		}
		if f, _ := e.factorOf(user, mfa.FactorU2F); f.State != mfa.FactorNotReady {
			t.Fatalf("factor = %+v, want still NOT_READY", f)
		}
		// The ceremony can still be completed.
		noErr(t, errOf(e.svc.VerifyU2FRegistration(e.admin, "", user, reg.ID, key.attest(t, reg.Options, nil), "key")))
	})

	t.Run("unknown or superseded registration", func(t *testing.T) {
		e := newTestEnv(t)
		user := e.human(e.org())
		key := newSecurityKey(testRPID)
		first := must(u2fReg(e.svc.RegisterU2F(e.admin, "", user, "")))
		second := must(u2fReg(e.svc.RegisterU2F(e.admin, "", user, "")))

		for _, id := range []string{"404", first.ID} {
			_, err := e.svc.VerifyU2FRegistration(e.admin, "", user, id, key.attest(t, second.Options, nil), "key")
			wantErr(t, err, mfa.ErrU2FNotStarted)
		}
		noErr(t, errOf(e.svc.VerifyU2FRegistration(e.admin, "", user, second.ID, key.attest(t, second.Options, nil), "key")))
		if n := len(e.factors(user)); n != 1 {
			t.Fatalf("%d factors, want 1", n)
		}
	})

	t.Run("no id verifies the pending registration, as auth.v1 needs", func(t *testing.T) {
		e := newTestEnv(t)
		user := e.human(e.org())
		key := newSecurityKey(testRPID)
		_, err := e.svc.VerifyU2FRegistration(e.admin, "", user, "", key.attest(t, must(u2fReg(e.svc.RegisterU2F(e.admin, "", user, ""))).Options, nil), "key")
		noErr(t, err)
		// Nothing is pending any more.
		_, err = e.svc.VerifyU2FRegistration(e.admin, "", user, "", []byte("{}"), "key")
		wantErr(t, err, mfa.ErrU2FNotStarted)
	})

	t.Run("domain names the relying party", func(t *testing.T) {
		e := newTestEnv(t)
		user := e.human(e.org())
		key := newSecurityKey("accounts.example.org")
		reg := must(u2fReg(e.svc.RegisterU2F(e.admin, "", user, "accounts.example.org")))
		var opts creationOptions
		noErr(t, json.Unmarshal(reg.Options, &opts))
		if opts.PublicKey.RP.ID != "accounts.example.org" {
			t.Fatalf("rp.id = %q", opts.PublicKey.RP.ID)
		}
		noErr(t, errOf(e.svc.VerifyU2FRegistration(e.admin, "", user, reg.ID, key.attest(t, reg.Options, nil), "key")))

		_, _, err := e.svc.RegisterU2F(e.admin, "", user, "https://example.org:8443/x")
		wantErr(t, err, mfa.ErrU2FDomainInvalid)
	})

	t.Run("self-service and permission", func(t *testing.T) {
		e := newTestEnv(t)
		orgA, orgB := e.org(), e.org()
		user := e.human(orgA)
		stranger := e.human(orgB)
		e.member(orgB, stranger, "ORG_OWNER")

		_, _, err := e.svc.RegisterU2F(e.as(stranger, orgB), "", user, "")
		wantErr(t, err, mfa.ErrNoMembership)

		self := e.as(user, orgA)
		key := newSecurityKey(testRPID)
		reg := must(u2fReg(e.svc.RegisterU2F(self, orgA, user, "")))
		_, err = e.svc.VerifyU2FRegistration(e.as(stranger, orgB), "", user, reg.ID, key.attest(t, reg.Options, nil), "key")
		wantErr(t, err, mfa.ErrNoMembership)
		noErr(t, errOf(e.svc.VerifyU2FRegistration(self, orgA, user, reg.ID, key.attest(t, reg.Options, nil), "key")))
	})

	t.Run("machine users have no security keys", func(t *testing.T) {
		e := newTestEnv(t)
		_, _, err := e.svc.RegisterU2F(e.admin, "", e.boot.AdminUserID, "")
		wantErr(t, err, mfa.ErrUserNotHuman)
	})
}

func u2fReg(reg mfa.U2FRegistration, _ mfa.Details, err error) (mfa.U2FRegistration, error) {
	return reg, err
}

// tamperJSON flips a byte inside the attestation object of a response.
func tamperJSON(t *testing.T, resp []byte) []byte {
	t.Helper()
	var m map[string]any
	noErr(t, json.Unmarshal(resp, &m))
	r := m["response"].(map[string]any)
	raw := must(base64.RawURLEncoding.DecodeString(r["attestationObject"].(string)))
	raw[len(raw)-1] ^= 0x01 // inside the public key: the signature no longer matches
	r["attestationObject"] = base64.RawURLEncoding.EncodeToString(raw)
	out := must(json.Marshal(m))
	if strings.Contains(string(out), string(resp)) {
		t.Fatalf("tamper had no effect")
	}
	return out
}
