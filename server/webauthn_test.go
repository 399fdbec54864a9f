package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"

	"github.com/descope/virtualwebauthn"

	"github.com/factorgate/factorgate/server/mfa"
)

// enrollU2F runs a real WebAuthn registration ceremony for user with a
// software security key (relying party "localhost", the server default) and
// returns the new factor's id.
func (e *env) enrollU2F(user string) string {
	e.t.Helper()
	reg, _, err := e.core.RegisterU2F(e.ctx, "", user, "")
	if err != nil {
		e.t.Fatalf("RegisterU2F: %v", err)
	}
	opts, err := virtualwebauthn.ParseAttestationOptions(string(reg.Options))
	if err != nil {
		e.t.Fatalf("ParseAttestationOptions: %v", err)
	}
	rp := virtualwebauthn.RelyingParty{Name: "factorgate", ID: "localhost", Origin: "https://localhost"}
	resp := virtualwebauthn.CreateAttestationResponse(rp, virtualwebauthn.NewAuthenticator(), ec2Credential(e), *opts)
	if _, err := e.core.VerifyU2FRegistration(e.ctx, "", user, reg.ID, []byte(resp), "test key"); err != nil {
		e.t.Fatalf("VerifyU2FRegistration: %v", err)
	}
	return reg.ID
}

// ec2Credential returns a P-256 credential whose coordinates both fill 32
// bytes: the software authenticator drops leading zero bytes, which the
// verifier rightly rejects.
func ec2Credential(e *env) virtualwebauthn.Credential {
	for {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			e.t.Fatal(err)
		}
		point, err := key.PublicKey.Bytes()
		if err != nil {
			e.t.Fatal(err)
		}
		if point[1] == 0 || point[33] == 0 {
			continue
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			e.t.Fatal(err)
		}
		return virtualwebauthn.NewCredentialWithImportedKey(virtualwebauthn.KeyTypeEC2, der)
	}
}

// u2fID returns the id of the user's first U2F factor, or a made-up id.
func (e *env) u2fID(user string) string { return e.factorID(user, mfa.FactorU2F) }

// factorID returns the id of the user's first factor of kind, or a made-up
// id.
func (e *env) factorID(user string, kind mfa.FactorKind) string {
	for _, f := range e.factors(user) {
		if f.Kind == kind {
			return f.ID
		}
	}
	return "987654321"
}
