package mfa

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/factorgate/factorgate/server/eventstore"
)

// U2FRegistration is a started U2F (WebAuthn security key) enrolment.
// Options is the JSON of the credential creation options as go-webauthn's
// BeginRegistration returns them ({"publicKey":{…}}); ZITADEL's v2
// RegisterU2F returns it as public_key_credential_creation_options, and the
// browser passes its publicKey member to navigator.credentials.create().
type U2FRegistration struct {
	ID      string
	Options []byte
}

// RegisterU2F starts a U2F enrolment for a security key. domain is the
// WebAuthn relying party id (the site the key will be used on); empty means
// the configured RPID. Earlier keys of the user are excluded, so one key
// cannot be enrolled twice. The ceremony state is kept sealed in the event;
// the factor stays NOT_READY until VerifyU2FRegistration. A pending earlier
// registration is replaced.
//
// Needs user.credential.write on the user's organization, except for
// oneself.
func (s *Service) RegisterU2F(ctx context.Context, orgID, userID, domain string) (U2FRegistration, Details, error) {
	return s.registerU2F(ctx, scope{orgID: orgID}, userID, domain, AttachmentAny)
}

// WebAuthnAttachment restricts the authenticators a WebAuthn registration
// asks for (the creation options' authenticatorSelection.authenticatorAttachment).
type WebAuthnAttachment string

// Attachments.
const (
	AttachmentAny           WebAuthnAttachment = ""
	AttachmentPlatform      WebAuthnAttachment = "platform"       // built into the device
	AttachmentCrossPlatform WebAuthnAttachment = "cross-platform" // a roaming security key
)

func (s *Service) registerU2F(ctx context.Context, sc scope, userID, domain string, attachment WebAuthnAttachment) (U2FRegistration, Details, error) {
	switch attachment {
	case AttachmentAny, AttachmentPlatform, AttachmentCrossPlatform:
	default:
		return U2FRegistration{}, Details{}, invalid("COMMAND-fgU2a", "unknown authenticator attachment")
	}
	rpID := strings.TrimSpace(domain)
	if rpID == "" {
		rpID = s.rp.ID
	}
	var reg U2FRegistration
	var d Details
	err := s.retry(ctx, func() error {
		u, err := s.loadHumanFor(ctx, sc, userID, FactorU2F)
		if err != nil {
			return err
		}
		wa, err := s.webAuthn(rpID)
		if err != nil {
			return err
		}
		wu := webAuthnUser{u}
		creation, session, err := wa.BeginRegistration(wu,
			webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
			webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
				AuthenticatorAttachment: protocol.AuthenticatorAttachment(attachment),
				ResidentKey:             protocol.ResidentKeyRequirementDiscouraged,
				UserVerification:        protocol.VerificationDiscouraged, // a second factor: presence is enough
			}),
			webauthn.WithExclusions(webauthn.Credentials(wu.WebAuthnCredentials()).CredentialDescriptors()),
		)
		if err != nil {
			return internal("COMMAND-u2f01", err)
		}
		options, err := json.Marshal(creation)
		if err != nil {
			return internal("COMMAND-u2f02", err)
		}
		rawSession, err := json.Marshal(session)
		if err != nil {
			return internal("COMMAND-u2f03", err)
		}
		sealed, err := s.sealer.seal(rawSession, "u2f:"+u.ID)
		if err != nil {
			return internal("COMMAND-u2f04", err)
		}
		id := s.NewID()
		c := s.newChange(ctx)
		if err := c.push(u, EventU2FAdded, u2fAddedPayload{ID: id, RPID: rpID, Session: sealed}); err != nil {
			return internal("COMMAND-u2f05", err)
		}
		if err := s.commit(ctx, c); err != nil {
			return err
		}
		reg = U2FRegistration{ID: id, Options: options}
		d = u.changeDetails()
		if sc.resource {
			d = factorDetails(u, id, c.now)
		}
		return nil
	})
	return reg, d, err
}

// VerifyU2FRegistration completes the U2F enrolment factorID with the
// browser's answer: credential is the JSON of the PublicKeyCredential that
// navigator.credentials.create() returned (id, rawId, type, response with
// clientDataJSON and attestationObject). The challenge, origin, relying
// party and attestation are verified against the sealed ceremony state.
//
// Errors: ErrU2FNotStarted when factorID names no registration of the user,
// ErrU2FAlreadyReady when it is verified already, ErrU2FInvalid when the
// credential does not verify (the library's reason is kept in Err for the
// logs, never shown).
func (s *Service) VerifyU2FRegistration(ctx context.Context, orgID, userID, factorID string, credential []byte, name string) (Details, error) {
	return s.verifyU2F(ctx, scope{orgID: orgID}, userID, factorID, credential, name)
}

func (s *Service) verifyU2F(ctx context.Context, sc scope, userID, factorID string, credential []byte, name string) (Details, error) {
	var d Details
	err := s.retry(ctx, func() error {
		u, err := s.loadHumanFor(ctx, sc, userID, FactorU2F)
		if err != nil {
			return err
		}
		if sc.resource && (factorID == "" || u.factor(FactorU2F, factorID) == nil) {
			return ErrU2FNotFound
		}
		if factorID == "" {
			// Self-service (auth.v1) names no id: verify the pending one.
			for _, pf := range u.Factors {
				if pf.Kind == FactorU2F && pf.State == FactorNotReady {
					factorID = pf.ID
				}
			}
			if factorID == "" {
				return ErrU2FNotStarted
			}
		}
		f := u.factor(FactorU2F, factorID)
		if f == nil {
			return ErrU2FNotStarted
		}
		if f.State == FactorReady {
			return ErrU2FAlreadyReady
		}
		if s.now().Sub(f.Created) > U2FRegistrationLifetime {
			return u2fInvalid(errCeremonyExpired)
		}
		rawSession, err := s.sealer.open(f.Session, "u2f:"+u.ID)
		if err != nil {
			return internal("COMMAND-u2f06", err)
		}
		var session webauthn.SessionData
		if err := json.Unmarshal(rawSession, &session); err != nil {
			return internal("COMMAND-u2f07", err)
		}
		parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
		if err != nil {
			return u2fInvalid(err)
		}
		rpID := f.RPID
		if rpID == "" {
			rpID = s.rp.ID
		}
		wa, err := s.webAuthn(rpID)
		if err != nil {
			return err
		}
		cred, err := wa.CreateCredential(webAuthnUser{u}, session, parsed)
		if err != nil {
			return u2fInvalid(err)
		}
		// §7.1: a credential id may be registered once, to any user. The
		// exclude list asks the authenticator to refuse; this enforces it
		// for the user's own keys, and the claim below for everyone's.
		for _, other := range u.Factors {
			if other.Kind == FactorU2F && other.State == FactorReady && bytes.Equal(other.KeyID, cred.ID) {
				return u2fInvalid(errCredentialRegistered)
			}
		}
		c := s.newChange(ctx)
		if err := c.push(u, EventU2FVerified, u2fVerifiedPayload{
			ID: f.ID, Name: name, KeyID: cred.ID, PublicKey: cred.PublicKey,
			AttestationType: cred.AttestationType, AAGUID: cred.Authenticator.AAGUID,
			SignCount: cred.Authenticator.SignCount, RPID: rpID, KeyClaimed: true,
		}); err != nil {
			return internal("COMMAND-u2f08", err)
		}
		c.batch.Claims = append(c.batch.Claims, eventstore.Claim{Key: claimCredential(cred.ID), Owner: u.ID})
		if err := s.commit(ctx, c); err != nil {
			if errors.Is(err, eventstore.ErrClaimed) {
				return u2fInvalid(errCredentialElsewhere)
			}
			return err
		}
		d = u.changeDetails()
		if sc.resource {
			d = factorDetails(u, f.ID, f.Created)
		}
		return nil
	})
	return d, err
}

var errCredentialRegistered = errors.New("mfa: credential id is already registered for this user")

var errCredentialElsewhere = errors.New("mfa: credential id is already registered for another user")

// claimCredential is the unique claim of a security key's credential id,
// held by its user while the key is registered. Keys registered before
// factorgate claimed them hold none.
func claimCredential(id []byte) string {
	return "webauthn-credential:" + base64.RawURLEncoding.EncodeToString(id)
}

var errCeremonyExpired = errors.New("mfa: the registration is older than its lifetime: start a new one")

// U2FRegistrationLifetime is how long a security-key registration may take
// from its start to its verification, as long as an OTP registration code
// lives. The creation options ask the browser for 2 minutes; the rest is
// for the round trips of slow clients.
const U2FRegistrationLifetime = 10 * time.Minute

// u2fInvalid is ErrU2FInvalid carrying the verification failure for the logs.
func u2fInvalid(cause error) error {
	e := *ErrU2FInvalid
	e.Err = cause
	return &e
}

// webAuthn returns a relying party for one ceremony on rpID.
func (s *Service) webAuthn(rpID string) (*webauthn.WebAuthn, error) {
	if err := protocol.ValidateRPID(rpID); err != nil {
		e := *ErrU2FDomainInvalid
		e.Err = err
		return nil, &e
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          rpID,
		RPDisplayName: s.rp.DisplayName,
		RPOrigins:     s.rpOrigins(rpID),
	})
	if err != nil {
		return nil, internal("COMMAND-u2f09", err)
	}
	return wa, nil
}

// rpOrigins returns the origins a ceremony on rpID accepts: the configured
// RPOrigins plus https://<rpID> (the relying party's own site), and for the
// RP id "localhost" also http://localhost. Origins compare scheme, host and
// port, so a development server on another port (http://localhost:3000)
// must be listed in RPOrigins.
func (s *Service) rpOrigins(rpID string) []string {
	origins := slices.Clone(s.rp.Origins)
	add := func(o string) {
		if !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	add("https://" + rpID)
	if rpID == "localhost" {
		add("http://localhost")
	}
	return origins
}

// webAuthnUser presents a user to go-webauthn: the user handle is the user
// id, the credentials are the user's ready security keys.
type webAuthnUser struct{ u *userState }

var _ webauthn.User = webAuthnUser{}

// WebAuthnID is the user handle: the user id, or for an id longer than the
// 64 bytes a handle may hold (ZITADEL takes chosen ids of up to 200
// characters), its SHA-256.
func (w webAuthnUser) WebAuthnID() []byte {
	if len(w.u.ID) > maxUserHandle {
		h := sha256.Sum256([]byte(w.u.ID))
		return h[:]
	}
	return []byte(w.u.ID)
}

// maxUserHandle is WebAuthn's limit on a user handle, in bytes.
const maxUserHandle = 64

func (w webAuthnUser) WebAuthnName() string { return w.u.Username }

func (w webAuthnUser) WebAuthnDisplayName() string {
	if h := w.u.Human; h != nil {
		if h.DisplayName != "" {
			return h.DisplayName
		}
		if n := strings.TrimSpace(h.GivenName + " " + h.FamilyName); n != "" {
			return n
		}
	}
	return w.u.Username
}

func (w webAuthnUser) WebAuthnCredentials() []webauthn.Credential {
	var out []webauthn.Credential
	for _, f := range w.u.Factors {
		if f.Kind != FactorU2F || f.State != FactorReady {
			continue
		}
		out = append(out, webauthn.Credential{
			ID: f.KeyID, PublicKey: f.PublicKey, AttestationType: f.AttestationType,
			Authenticator: webauthn.Authenticator{AAGUID: f.AAGUID, SignCount: f.SignCount},
		})
	}
	return out
}
