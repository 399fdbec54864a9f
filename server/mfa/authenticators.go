package mfa

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"net/mail"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// The authenticator calls of the v3alpha resource API
// (zitadel.resources.user.v3alpha.ZITADELUsers and the superseded
// zitadel.user.v3alpha.UserService). The authenticator is the resource:
// every call after the first names it by id, and a user that does not exist,
// a user outside orgID (when set) and an id that names no factor of the
// kind all answer the kind's NotFound (ErrTOTPNotExisting, ErrU2FNotFound,
// ErrOTPSMSNotExisting, ErrOTPEmailNotExisting). Details name the factor
// (ID) and when it was created; EventDate is the date of the change.
//
// Permissions are those of the v2 calls: enrolling needs
// user.credential.write on the user's organization and removing needs
// user.write, except for one's own factors.

// StartTOTPRegistration starts a TOTP enrolment (see RegisterTOTP).
func (s *Service) StartTOTPRegistration(ctx context.Context, orgID, userID string) (TOTPRegistration, Details, error) {
	return s.registerTOTP(ctx, scope{orgID: orgID, resource: true}, userID)
}

// VerifyTOTPRegistration completes the TOTP enrolment totpID.
func (s *Service) VerifyTOTPRegistration(ctx context.Context, orgID, userID, totpID, code string) (Details, error) {
	return s.verifyTOTP(ctx, scope{orgID: orgID, resource: true}, userID, totpID, code)
}

// StartWebAuthNRegistration starts a WebAuthn enrolment (see RegisterU2F);
// attachment restricts the authenticators asked for.
func (s *Service) StartWebAuthNRegistration(ctx context.Context, orgID, userID, domain string, attachment WebAuthnAttachment) (U2FRegistration, Details, error) {
	return s.registerU2F(ctx, scope{orgID: orgID, resource: true}, userID, domain, attachment)
}

// VerifyWebAuthNRegistration completes the WebAuthn enrolment id (see
// VerifyU2FRegistration).
func (s *Service) VerifyWebAuthNRegistration(ctx context.Context, orgID, userID, id string, credential []byte, name string) (Details, error) {
	return s.verifyU2F(ctx, scope{orgID: orgID, resource: true}, userID, id, credential, name)
}

// RemoveAuthenticator removes the factor ref names; ref.ID is required and
// must match. Otherwise as RemoveFactor.
func (s *Service) RemoveAuthenticator(ctx context.Context, orgID string, ref FactorRef) (Details, error) {
	return s.removeFactor(ctx, scope{orgID: orgID, resource: true}, ref)
}

// OTPProof says how the phone number or email address given with an OTP
// SMS or email registration is proven to be the user's.
type OTPProof int

// Proofs.
const (
	// ProofSendCode: a code is sent to the phone or address, and the
	// registration completes with it. There is no SMS or email sender yet:
	// the code is kept (as a digest) but not delivered.
	ProofSendCode OTPProof = iota
	// ProofReturnCode: the code is returned to the caller, once, who
	// delivers it.
	ProofReturnCode
	// ProofVerified: the caller vouches for the phone or address, which is
	// set as verified; the factor is ready at once. Like ZITADEL's
	// ChangeUserPhoneVerified / ChangeUserEmailVerified, this needs
	// user.write on the user's organization even for one's own user.
	ProofVerified
)

// OTPRegistration is the result of adding an OTP SMS or email
// authenticator.
type OTPRegistration struct {
	ID    string
	Code  string // the verification code, only with ProofReturnCode
	Ready bool   // with ProofVerified
}

// Verification codes: 8 digits, valid for 10 minutes, 5 wrong tries.
const (
	otpCodeDigits      = 8
	otpCodeLifetime    = 10 * time.Minute
	otpMaxFailedChecks = 5
)

// otpKind is what differs between OTP SMS and OTP email.
type otpKind struct {
	kind                           FactorKind
	notFound, exists, alreadyReady error
	added                          string // ready at once (ProofVerified)
	started, failed, verified      string // a registration proven by a code
	changed, contactVerified       string // the phone or email events
	current                        func(*Human) (value string, verified bool)
	registration                   func(id, target, digest string, expiry time.Time, returned bool) any
	normalize                      func(string) (string, error)
}

var otpSMS = otpKind{
	kind: FactorOTPSMS, exists: ErrOTPSMSExists, alreadyReady: ErrOTPSMSAlreadyReady, notFound: ErrOTPSMSNotExisting,
	added:   EventOTPSMSAdded,
	started: EventOTPSMSRegistrationStarted, failed: EventOTPSMSRegistrationCheckFailed, verified: EventOTPSMSRegistrationVerified,
	changed: EventPhoneChanged, contactVerified: EventPhoneVerified,
	current: func(h *Human) (string, bool) { return h.Phone, h.PhoneVerified },
	registration: func(id, target, digest string, expiry time.Time, returned bool) any {
		return otpSMSRegistrationPayload{ID: id, Phone: target, CodeDigest: digest, Expiry: expiry, CodeReturned: returned}
	},
	normalize: normalizePhone,
}

var otpEmail = otpKind{
	kind: FactorOTPEmail, exists: ErrOTPEmailExists, alreadyReady: ErrOTPEmailAlreadyReady, notFound: ErrOTPEmailNotExisting,
	added:   EventOTPEmailAdded,
	started: EventOTPEmailRegistrationStarted, failed: EventOTPEmailRegistrationCheckFailed, verified: EventOTPEmailRegistrationVerified,
	changed: EventEmailChanged, contactVerified: EventEmailVerified,
	current: func(h *Human) (string, bool) { return h.Email, h.EmailVerified },
	registration: func(id, target, digest string, expiry time.Time, returned bool) any {
		return otpEmailRegistrationPayload{ID: id, Email: target, CodeDigest: digest, Expiry: expiry, CodeReturned: returned}
	},
	normalize: normalizeEmail,
}

// AddOTPSMSAuthenticator registers one-time codes by SMS to phone (in
// international form, +<country><number>). With ProofVerified the phone is
// set as verified and the factor is ready; otherwise the factor waits, NOT
// READY, for VerifyOTPSMSRegistration with the code, and the phone changes
// only then. A pending registration is replaced; a ready factor answers
// ErrOTPSMSExists.
//
// Named sets the factor's name with ProofVerified only: a registration
// proven by a code has no name.
func (s *Service) AddOTPSMSAuthenticator(ctx context.Context, orgID, userID, phone string, proof OTPProof, opts ...FactorOption) (OTPRegistration, Details, error) {
	return s.addOTPAuthenticator(ctx, scope{orgID: orgID, resource: true}, userID, otpSMS, phone, proof, opts)
}

// AddOTPEmailAuthenticator is AddOTPSMSAuthenticator for codes by email.
func (s *Service) AddOTPEmailAuthenticator(ctx context.Context, orgID, userID, email string, proof OTPProof, opts ...FactorOption) (OTPRegistration, Details, error) {
	return s.addOTPAuthenticator(ctx, scope{orgID: orgID, resource: true}, userID, otpEmail, email, proof, opts)
}

// VerifyOTPSMSRegistration completes the OTP SMS registration id with its
// code: the factor becomes ready and the phone it was for becomes the
// user's verified phone. A wrong code answers ErrInvalidCode (and counts:
// after 5, ErrOTPCodeExhausted), a code older than 10 minutes
// ErrOTPCodeExpired, a ready factor ErrOTPSMSAlreadyReady.
func (s *Service) VerifyOTPSMSRegistration(ctx context.Context, orgID, userID, id, code string) (Details, error) {
	return s.verifyOTPRegistration(ctx, scope{orgID: orgID, resource: true}, userID, otpSMS, id, code)
}

// VerifyOTPEmailRegistration is VerifyOTPSMSRegistration for email.
func (s *Service) VerifyOTPEmailRegistration(ctx context.Context, orgID, userID, id, code string) (Details, error) {
	return s.verifyOTPRegistration(ctx, scope{orgID: orgID, resource: true}, userID, otpEmail, id, code)
}

func (s *Service) addOTPAuthenticator(ctx context.Context, sc scope, userID string, k otpKind, target string, proof OTPProof, opts []FactorOption) (OTPRegistration, Details, error) {
	if proof < ProofSendCode || proof > ProofVerified {
		return OTPRegistration{}, Details{}, invalid("COMMAND-fgOTp", "unknown verification")
	}
	o, err := factorOptions(opts)
	if err != nil {
		return OTPRegistration{}, Details{}, err
	}
	if o.name != "" && proof != ProofVerified {
		return OTPRegistration{}, Details{}, invalid("COMMAND-fgOTn", "only a factor added as verified takes a name")
	}
	target, err = k.normalize(target)
	if err != nil {
		return OTPRegistration{}, Details{}, err
	}
	var reg OTPRegistration
	var d Details
	err = s.retry(ctx, func() error {
		u, err := s.loadUser(ctx, userID)
		if err != nil {
			return err
		}
		if !sc.visible(u) {
			return k.notFound
		}
		if proof == ProofVerified {
			// Vouching for a phone or address is an administrator's call:
			// no exception for oneself (no target user).
			err = s.checkPermission(ctx, u.Owner, PermUserWrite, "")
		} else {
			err = s.checkPermission(ctx, u.Owner, PermUserCredentialWrite, userID)
		}
		if err != nil {
			return err
		}
		if u.Human == nil {
			return ErrUserNotHuman
		}
		if f := u.factor(k.kind, ""); f != nil && f.State == FactorReady {
			return k.exists
		}
		id := s.NewID()
		c := s.newChange(ctx)
		reg = OTPRegistration{ID: id}
		if proof == ProofVerified {
			if err := s.pushContact(c, u, k, target); err != nil {
				return err
			}
			if err := c.push(u, k.added, otpAddedPayload{ID: id, Name: o.name}); err != nil {
				return internal("COMMAND-otp02", err)
			}
			reg.Ready = true
		} else {
			code, err := newOTPCode()
			if err != nil {
				return internal("COMMAND-otp03", err)
			}
			digest := s.sealer.digest(code, otpCodeContext(k.kind, u.ID, id))
			returned := proof == ProofReturnCode
			if err := c.push(u, k.started, k.registration(id, target, digest, c.now.Add(otpCodeLifetime), returned)); err != nil {
				return internal("COMMAND-otp04", err)
			}
			if returned {
				reg.Code = code
			}
			// ProofSendCode: a notifier would deliver code here. There is
			// none yet, so the code is dropped (never logged).
		}
		if err := s.commit(ctx, c); err != nil {
			return err
		}
		d = factorDetails(u, id, c.now)
		return nil
	})
	if err != nil {
		return OTPRegistration{}, Details{}, err
	}
	return reg, d, nil
}

// pushContact makes target the user's verified phone or email.
func (s *Service) pushContact(c *change, u *userState, k otpKind, target string) error {
	current, verified := k.current(u.Human)
	if current != target {
		var p any = phoneChangedPayload{Phone: target}
		if k.kind == FactorOTPEmail {
			p = emailChangedPayload{Email: target}
		}
		if err := c.push(u, k.changed, p); err != nil {
			return internal("COMMAND-otp05", err)
		}
		verified = false
	}
	if !verified {
		if err := c.push(u, k.contactVerified, nil); err != nil {
			return internal("COMMAND-otp06", err)
		}
	}
	return nil
}

func (s *Service) verifyOTPRegistration(ctx context.Context, sc scope, userID string, k otpKind, id, code string) (Details, error) {
	var d Details
	err := s.retry(ctx, func() error {
		u, err := s.loadUser(ctx, userID)
		if err != nil {
			return err
		}
		if !sc.visible(u) {
			return k.notFound
		}
		if err := s.checkPermission(ctx, u.Owner, PermUserCredentialWrite, userID); err != nil {
			return err
		}
		if u.Human == nil {
			return ErrUserNotHuman
		}
		f := u.factor(k.kind, id)
		if f == nil || id == "" {
			return k.notFound
		}
		if f.State == FactorReady {
			return k.alreadyReady
		}
		if f.CodeDigest == "" {
			return internal("COMMAND-otp07", fmt.Errorf("mfa: %s registration %s has no code", k.kind, f.ID))
		}
		factorID, created, target := f.ID, f.Created, f.Target
		c := s.newChange(ctx)
		if f.FailedChecks >= otpMaxFailedChecks {
			return ErrOTPCodeExhausted
		}
		if !c.now.Before(f.CodeExpiry) {
			return ErrOTPCodeExpired
		}
		if err := s.checkFailedCodes(u.ID); err != nil {
			return err
		}
		if !s.sealer.digestMatches(f.CodeDigest, strings.TrimSpace(code), otpCodeContext(k.kind, u.ID, factorID)) {
			// Count the wrong code, then answer it.
			if err := c.push(u, k.failed, factorIDPayload{ID: factorID}); err != nil {
				return internal("COMMAND-otp08", err)
			}
			if err := s.commit(ctx, c); err != nil {
				return err
			}
			s.failedCode(u.ID)
			return ErrInvalidCode
		}
		if err := s.pushContact(c, u, k, target); err != nil {
			return err
		}
		if err := c.push(u, k.verified, factorIDPayload{ID: factorID}); err != nil {
			return internal("COMMAND-otp09", err)
		}
		if err := s.commit(ctx, c); err != nil {
			return err
		}
		d = factorDetails(u, factorID, created)
		return nil
	})
	return d, err
}

// newOTPCode returns a uniformly random code of otpCodeDigits digits.
func newOTPCode() (string, error) {
	limit := big.NewInt(1)
	for range otpCodeDigits {
		limit.Mul(limit, big.NewInt(10))
	}
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%0*d", otpCodeDigits, n), nil
}

func otpCodeContext(kind FactorKind, userID, factorID string) string {
	return "otp-registration:" + string(kind) + ":" + userID + ":" + factorID
}

// normalizePhone returns a phone number as E.164 (+41791234567), or
// ErrInvalidPhone when it is not one.
func normalizePhone(phone string) (string, error) {
	// As ZITADEL normalizes a phone: libphonenumber's parse with
	// Switzerland as the region of a number without a country code, then
	// E.164.
	n, err := phonenumbers.Parse(strings.TrimSpace(phone), phoneDefaultRegion)
	if err != nil {
		return "", ErrInvalidPhone
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// phoneDefaultRegion is ZITADEL's region for a phone number written
// without its country code.
const phoneDefaultRegion = "CH"

// normalizeEmail accepts a bare address (no display name).
func normalizeEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email {
		return "", ErrInvalidEmail
	}
	return email, nil
}
