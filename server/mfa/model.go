package mfa

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
)

// SecondFactor is a second-factor type a login policy can allow. The names
// are stable (they are stored in events).
type SecondFactor string

// The second-factor types.
const (
	SecondFactorTOTP          SecondFactor = "totp"
	SecondFactorU2F           SecondFactor = "u2f"
	SecondFactorOTPEmail      SecondFactor = "otp_email"
	SecondFactorOTPSMS        SecondFactor = "otp_sms"
	SecondFactorRecoveryCodes SecondFactor = "recovery_codes"
)

// Valid reports whether the type can be added to or removed from a policy.
// Recovery codes are a vendor enum value this server does not implement, so
// they are treated as ZITADEL's servers of that age treat them: invalid.
func (f SecondFactor) Valid() bool {
	switch f {
	case SecondFactorTOTP, SecondFactorU2F, SecondFactorOTPEmail, SecondFactorOTPSMS:
		return true
	}
	return false
}

// MultiFactor is a multi-factor (passwordless) type of a login policy.
type MultiFactor string

// MultiFactorU2FWithVerification is the only multi-factor type.
const MultiFactorU2FWithVerification MultiFactor = "u2f_with_verification"

// LoginPolicy is an organization's or the instance's login policy.
type LoginPolicy struct {
	AllowUsernamePassword      bool           `json:"allowUsernamePassword"`
	AllowRegister              bool           `json:"allowRegister"`
	AllowExternalIDP           bool           `json:"allowExternalIdp"`
	ForceMFA                   bool           `json:"forceMFA"`
	ForceMFALocalOnly          bool           `json:"forceMFALocalOnly"`
	PasswordlessAllowed        bool           `json:"passwordlessAllowed"`
	HidePasswordReset          bool           `json:"hidePasswordReset"`
	IgnoreUnknownUsernames     bool           `json:"ignoreUnknownUsernames"`
	AllowDomainDiscovery       bool           `json:"allowDomainDiscovery"`
	DisableLoginWithEmail      bool           `json:"disableLoginWithEmail"`
	DisableLoginWithPhone      bool           `json:"disableLoginWithPhone"`
	DefaultRedirectURI         string         `json:"defaultRedirectURI,omitempty"`
	PasswordCheckLifetime      time.Duration  `json:"passwordCheckLifetime"`
	ExternalLoginCheckLifetime time.Duration  `json:"externalLoginCheckLifetime"`
	MFAInitSkipLifetime        time.Duration  `json:"mfaInitSkipLifetime"`
	SecondFactorCheckLifetime  time.Duration  `json:"secondFactorCheckLifetime"`
	MultiFactorCheckLifetime   time.Duration  `json:"multiFactorCheckLifetime"`
	SecondFactors              []SecondFactor `json:"secondFactors,omitempty"`
	MultiFactors               []MultiFactor  `json:"multiFactors,omitempty"`
}

// DefaultLoginPolicy is the instance policy a new deployment starts with.
func DefaultLoginPolicy() LoginPolicy {
	return LoginPolicy{
		AllowUsernamePassword:      true,
		AllowRegister:              true,
		AllowExternalIDP:           true,
		PasswordlessAllowed:        true,
		PasswordCheckLifetime:      240 * time.Hour,
		ExternalLoginCheckLifetime: 240 * time.Hour,
		MFAInitSkipLifetime:        720 * time.Hour,
		SecondFactorCheckLifetime:  18 * time.Hour,
		MultiFactorCheckLifetime:   12 * time.Hour,
		SecondFactors:              []SecondFactor{SecondFactorTOTP, SecondFactorU2F},
		MultiFactors:               []MultiFactor{MultiFactorU2FWithVerification},
	}
}

// Details describe the result of a write: the sequence of the last event
// within its aggregate, when it happened, and who owns the aggregate.
type Details struct {
	ID            string
	Sequence      uint64
	EventDate     time.Time
	CreationDate  time.Time
	ResourceOwner string
}

// aggregate is the part every write model shares.
type aggregate struct {
	Type    string    `json:"type"`
	ID      string    `json:"id"`
	Owner   string    `json:"owner"`
	Seq     uint64    `json:"sequence"`
	Created time.Time `json:"created"`
	Changed time.Time `json:"changed"`
}

func (a *aggregate) base() *aggregate { return a }

// track advances the aggregate's bookkeeping for one event.
func (a *aggregate) track(e eventstore.Event) error {
	if e.Sequence != a.Seq+1 {
		return fmt.Errorf("mfa: %s %s: event %d after %d", a.Type, a.ID, e.Sequence, a.Seq)
	}
	if a.Seq == 0 {
		a.Type, a.ID, a.Owner, a.Created = e.AggregateType, e.AggregateID, e.ResourceOwner, e.CreatedAt
	}
	a.Seq = e.Sequence
	a.Changed = e.CreatedAt
	return nil
}

func (a *aggregate) details() Details {
	return Details{ID: a.ID, Sequence: a.Seq, EventDate: a.Changed, CreationDate: a.Created, ResourceOwner: a.Owner}
}

// changeDetails are the details of a command that changed an existing
// aggregate: like ZITADEL's writeModelToObjectDetails they carry no creation
// date (reference/zitadel.md §9: a removal's creation_date stays unset).
func (a *aggregate) changeDetails() Details {
	d := a.details()
	d.CreationDate = time.Time{}
	return d
}

// writeModel is an aggregate that folds its events and is stored as a
// read-model document.
type writeModel interface {
	base() *aggregate
	apply(e eventstore.Event) error
	docKind() string
}

func decode(e eventstore.Event, v any) error {
	if len(e.Payload) == 0 {
		return nil
	}
	if err := json.Unmarshal(e.Payload, v); err != nil {
		return fmt.Errorf("mfa: decode %s: %w", e.Type, err)
	}
	return nil
}

// ---- instance ----

type instanceState struct {
	aggregate
	Name         string      `json:"name"`
	DefaultOrgID string      `json:"defaultOrgId,omitempty"`
	AdminUserID  string      `json:"adminUserId,omitempty"`
	Policy       LoginPolicy `json:"policy"`
	// PolicyChanged and PolicySeq are the default policy's last change (the
	// instance's other events, such as members, leave them).
	PolicyChanged time.Time           `json:"policyChanged,omitzero"`
	PolicySeq     uint64              `json:"policySequence,omitempty"`
	Members       map[string][]string `json:"members,omitempty"`
}

func (s *instanceState) docKind() string { return aggregateTypeInstance }

func (s *instanceState) apply(e eventstore.Event) error {
	if err := s.track(e); err != nil {
		return err
	}
	switch e.Type {
	case EventInstanceAdded:
		var p instanceAddedPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		s.Name, s.DefaultOrgID, s.AdminUserID = p.Name, p.DefaultOrgID, p.AdminUserID
	case EventInstancePolicyAdded:
		var p policyPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		s.Policy = p.Policy
		s.PolicyChanged, s.PolicySeq = e.CreatedAt, e.Sequence
	case EventInstanceSecondFactorAdded:
		var p secondFactorPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		s.Policy.SecondFactors = append(s.Policy.SecondFactors, p.Type)
		s.PolicyChanged, s.PolicySeq = e.CreatedAt, e.Sequence
	case EventInstanceSecondFactorRemov:
		var p secondFactorPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		s.Policy.SecondFactors = without(s.Policy.SecondFactors, p.Type)
		s.PolicyChanged, s.PolicySeq = e.CreatedAt, e.Sequence
	case EventInstanceMemberAdded:
		var p memberAddedPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		if s.Members == nil {
			s.Members = map[string][]string{}
		}
		s.Members[p.UserID] = p.Roles
	default:
		return fmt.Errorf("mfa: instance: unknown event %q", e.Type)
	}
	return nil
}

// ---- organization ----

type orgState struct {
	aggregate
	Name string `json:"name"`
	// Policy is the custom login policy, nil when the organization uses the
	// instance default.
	Policy        *LoginPolicy `json:"policy,omitempty"`
	PolicyCreated time.Time    `json:"policyCreated,omitzero"`
	PolicyChanged time.Time    `json:"policyChanged,omitzero"`
	PolicySeq     uint64       `json:"policySequence,omitempty"`
	// SecondFactors is the organization's own list of allowed second
	// factors. Like ZITADEL, it is kept apart from the custom policy: it can
	// be changed without one, and resetting the policy clears it.
	SecondFactors []SecondFactor      `json:"secondFactors,omitempty"`
	Members       map[string][]string `json:"members,omitempty"`
}

func (s *orgState) docKind() string { return aggregateTypeOrg }

func (s *orgState) apply(e eventstore.Event) error {
	if err := s.track(e); err != nil {
		return err
	}
	policyTouched := func() {
		s.PolicyChanged, s.PolicySeq = e.CreatedAt, e.Sequence
	}
	switch e.Type {
	case EventOrgAdded:
		var p orgAddedPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		s.Name = p.Name
	case EventOrgMemberAdded:
		var p memberAddedPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		if s.Members == nil {
			s.Members = map[string][]string{}
		}
		s.Members[p.UserID] = p.Roles
	case EventOrgPolicyAdded, EventOrgPolicyChanged:
		var p policyPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		pol := p.Policy
		if e.Type == EventOrgPolicyAdded {
			s.PolicyCreated = e.CreatedAt
			s.SecondFactors = slices.Clone(pol.SecondFactors)
		}
		pol.SecondFactors = nil // kept in s.SecondFactors
		s.Policy = &pol
		policyTouched()
	case EventOrgPolicyRemoved:
		s.Policy, s.SecondFactors = nil, nil
		s.PolicyCreated, s.PolicyChanged, s.PolicySeq = time.Time{}, time.Time{}, 0
	case EventOrgSecondFactorAdded:
		var p secondFactorPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		s.SecondFactors = append(s.SecondFactors, p.Type)
		if s.Policy != nil {
			policyTouched()
		}
	case EventOrgSecondFactorRemov:
		var p secondFactorPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		s.SecondFactors = without(s.SecondFactors, p.Type)
		if s.Policy != nil {
			policyTouched()
		}
	default:
		return fmt.Errorf("mfa: org: unknown event %q", e.Type)
	}
	return nil
}

// ---- user ----

// FactorState is the state of one factor.
type FactorState string

// Factor states. Removed factors are dropped from the model.
const (
	FactorNotReady FactorState = "not_ready"
	FactorReady    FactorState = "ready"
)

// FactorKind names a kind of factor a user can have.
type FactorKind string

// Factor kinds.
const (
	FactorTOTP     FactorKind = "totp"
	FactorU2F      FactorKind = "u2f"
	FactorOTPSMS   FactorKind = "otp_sms"
	FactorOTPEmail FactorKind = "otp_email"
)

// Factor is one of a user's second factors.
type Factor struct {
	Kind    FactorKind  `json:"kind"`
	ID      string      `json:"id"`
	State   FactorState `json:"state"`
	Name    string      `json:"name,omitempty"`
	Created time.Time   `json:"created"`
	// Secret is the sealed TOTP seed.
	Secret string `json:"secret,omitempty"`
	// WebAuthn: the sealed registration session while not ready, then the
	// credential.
	RPID            string `json:"rpId,omitempty"`
	Session         string `json:"session,omitempty"`
	KeyID           []byte `json:"keyId,omitempty"`
	PublicKey       []byte `json:"publicKey,omitempty"`
	AttestationType string `json:"attestationType,omitempty"`
	AAGUID          []byte `json:"aaguid,omitempty"`
	SignCount       uint32 `json:"signCount,omitempty"`
	// KeyClaimed: the key holds the unique claim of its credential id
	// (keys registered before there were such claims hold none).
	KeyClaimed bool `json:"keyClaimed,omitempty"`
	// OTP SMS and email registrations proven by a code, while not ready:
	// the phone or address the code is for, the code's digest, its expiry
	// and the wrong codes tried so far.
	Target       string    `json:"target,omitempty"`
	CodeDigest   string    `json:"codeDigest,omitempty"`
	CodeExpiry   time.Time `json:"codeExpiry,omitzero"`
	FailedChecks int       `json:"failedChecks,omitempty"`
}

// Human is the profile of a person.
type Human struct {
	GivenName         string `json:"givenName"`
	FamilyName        string `json:"familyName"`
	NickName          string `json:"nickName,omitempty"`
	DisplayName       string `json:"displayName,omitempty"`
	PreferredLanguage string `json:"preferredLanguage,omitempty"`
	Gender            int    `json:"gender,omitempty"`
	Email             string `json:"email"`
	EmailVerified     bool   `json:"emailVerified"`
	Phone             string `json:"phone,omitempty"`
	PhoneVerified     bool   `json:"phoneVerified"`
	PasswordHash      string `json:"passwordHash,omitempty"`
}

// Machine is the profile of an API client.
type Machine struct {
	Name            string `json:"name"`
	Description     string `json:"description,omitempty"`
	AccessTokenType int    `json:"accessTokenType,omitempty"`
	SecretHash      string `json:"secretHash,omitempty"`
	// APIScope is the OneLogin scope of an API credential.
	APIScope string `json:"apiScope,omitempty"`
}

type tokenRef struct {
	ID         string    `json:"id"`
	Hash       string    `json:"hash"`
	Expiration time.Time `json:"expiration"`
	Scopes     []string  `json:"scopes,omitempty"`
	Created    time.Time `json:"created"`
}

type userState struct {
	aggregate
	Username string     `json:"username"`
	Human    *Human     `json:"human,omitempty"`
	Machine  *Machine   `json:"machine,omitempty"`
	Factors  []Factor   `json:"factors,omitempty"`
	Tokens   []tokenRef `json:"tokens,omitempty"`
}

func (s *userState) docKind() string { return aggregateTypeUser }

func (s *userState) factor(kind FactorKind, id string) *Factor {
	for i := range s.Factors {
		f := &s.Factors[i]
		if f.Kind == kind && (id == "" || f.ID == id) {
			return f
		}
	}
	return nil
}

func (s *userState) dropFactor(kind FactorKind, id string) {
	s.Factors = slices.DeleteFunc(s.Factors, func(f Factor) bool {
		return f.Kind == kind && (id == "" || f.ID == id)
	})
}

// dropPending drops the not yet verified factors of kind.
func (s *userState) dropPending(kind FactorKind) {
	s.Factors = slices.DeleteFunc(s.Factors, func(f Factor) bool {
		return f.Kind == kind && f.State == FactorNotReady
	})
}

func (s *userState) apply(e eventstore.Event) error {
	if err := s.track(e); err != nil {
		return err
	}
	switch e.Type {
	case EventHumanAdded:
		var p humanAddedPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		s.Username = p.Username
		s.Human = &Human{GivenName: p.GivenName, FamilyName: p.FamilyName, NickName: p.NickName,
			DisplayName: p.DisplayName, PreferredLanguage: p.PreferredLanguage, Gender: p.Gender,
			Email: p.Email, EmailVerified: p.EmailVerified, Phone: p.Phone, PhoneVerified: p.PhoneVerified,
			PasswordHash: p.PasswordHash}
	case EventMachineAdded:
		var p machineAddedPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		s.Username = p.Username
		s.Machine = &Machine{Name: p.Name, Description: p.Description, AccessTokenType: p.AccessTokenType}
	case EventPATAdded:
		var p patAddedPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		s.Tokens = append(s.Tokens, tokenRef{ID: p.TokenID, Hash: p.TokenHash, Expiration: p.Expiration, Scopes: p.Scopes, Created: e.CreatedAt})
	case EventPATRemoved:
		var p patRemovedPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		s.Tokens = slices.DeleteFunc(s.Tokens, func(t tokenRef) bool { return t.ID == p.TokenID })
	case EventTokenRevoked:
		var p tokenRevokedPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		// A revoked personal access token leaves the user's list; an
		// access token from a grant was never in it.
		s.Tokens = slices.DeleteFunc(s.Tokens, func(t tokenRef) bool { return t.ID == p.TokenID })
	case EventTokenAdded, EventRefreshTokenAdded, EventRefreshTokenUsed, EventRefreshTokenRevoked:
		// Access and refresh tokens live in their own documents; the user
		// model only counts the event.
	case EventMachineSecretSet:
		var p machineSecretPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		if s.Machine != nil {
			s.Machine.SecretHash = p.SecretHash
		}
	case EventAPICredentialAdded:
		var p apiCredentialPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		if s.Machine != nil {
			s.Machine.SecretHash, s.Machine.APIScope = p.SecretHash, p.Scope
		}
	case EventTOTPAdded:
		var p totpAddedPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		s.dropFactor(FactorTOTP, "") // a new registration replaces an unverified one
		s.Factors = append(s.Factors, Factor{Kind: FactorTOTP, ID: p.ID, Name: p.Name, State: FactorNotReady, Secret: p.Secret, Created: e.CreatedAt})
	case EventTOTPVerified:
		if f := s.factor(FactorTOTP, ""); f != nil {
			f.State = FactorReady
		}
	case EventTOTPRemoved:
		s.dropFactor(FactorTOTP, "")
	case EventU2FAdded:
		var p u2fAddedPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		// Like ZITADEL's token write model, a new registration replaces a
		// pending one, so abandoned ceremonies do not pile up.
		s.Factors = slices.DeleteFunc(s.Factors, func(f Factor) bool { return f.Kind == FactorU2F && f.State == FactorNotReady })
		s.Factors = append(s.Factors, Factor{Kind: FactorU2F, ID: p.ID, State: FactorNotReady, RPID: p.RPID, Session: p.Session, Created: e.CreatedAt})
	case EventU2FVerified:
		var p u2fVerifiedPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		if f := s.factor(FactorU2F, p.ID); f != nil {
			f.State, f.Name, f.Session = FactorReady, p.Name, ""
			f.KeyID, f.PublicKey, f.AttestationType, f.AAGUID, f.SignCount = p.KeyID, p.PublicKey, p.AttestationType, p.AAGUID, p.SignCount
			f.KeyClaimed = p.KeyClaimed
			if p.RPID != "" {
				f.RPID = p.RPID
			}
		}
	case EventU2FRemoved:
		var p webAuthNRemovedPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		s.dropFactor(FactorU2F, p.ID)
	case EventOTPSMSAdded, EventOTPEmailAdded:
		var p otpAddedPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		kind := FactorOTPSMS
		if e.Type == EventOTPEmailAdded {
			kind = FactorOTPEmail
		}
		s.dropPending(kind) // a ready factor replaces a pending registration
		s.Factors = append(s.Factors, Factor{Kind: kind, ID: p.ID, Name: p.Name, State: FactorReady, Created: e.CreatedAt})
	case EventOTPSMSRemoved:
		s.dropFactor(FactorOTPSMS, "")
	case EventOTPEmailRemoved:
		s.dropFactor(FactorOTPEmail, "")
	case EventPhoneChanged:
		var p phoneChangedPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		if s.Human != nil {
			s.Human.Phone, s.Human.PhoneVerified = p.Phone, false
		}
	case EventPhoneVerified:
		if s.Human != nil {
			s.Human.PhoneVerified = true
		}
	case EventEmailChanged:
		var p emailChangedPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		if s.Human != nil {
			s.Human.Email, s.Human.EmailVerified = p.Email, false
		}
	case EventEmailVerified:
		if s.Human != nil {
			s.Human.EmailVerified = true
		}
	case EventOTPSMSRegistrationStarted:
		var p otpSMSRegistrationPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		s.dropPending(FactorOTPSMS) // a new registration replaces a pending one
		s.Factors = append(s.Factors, Factor{Kind: FactorOTPSMS, ID: p.ID, State: FactorNotReady, Created: e.CreatedAt,
			Target: p.Phone, CodeDigest: p.CodeDigest, CodeExpiry: p.Expiry})
	case EventOTPEmailRegistrationStarted:
		var p otpEmailRegistrationPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		s.dropPending(FactorOTPEmail)
		s.Factors = append(s.Factors, Factor{Kind: FactorOTPEmail, ID: p.ID, State: FactorNotReady, Created: e.CreatedAt,
			Target: p.Email, CodeDigest: p.CodeDigest, CodeExpiry: p.Expiry})
	case EventOTPSMSRegistrationCheckFailed, EventOTPEmailRegistrationCheckFailed:
		var p factorIDPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		kind := FactorOTPSMS
		if e.Type == EventOTPEmailRegistrationCheckFailed {
			kind = FactorOTPEmail
		}
		if f := s.factor(kind, p.ID); f != nil {
			f.FailedChecks++
		}
	case EventOTPSMSRegistrationVerified, EventOTPEmailRegistrationVerified:
		var p factorIDPayload
		if err := decode(e, &p); err != nil {
			return err
		}
		kind := FactorOTPSMS
		if e.Type == EventOTPEmailRegistrationVerified {
			kind = FactorOTPEmail
		}
		if f := s.factor(kind, p.ID); f != nil {
			f.State = FactorReady
			f.Target, f.CodeDigest, f.CodeExpiry, f.FailedChecks = "", "", time.Time{}, 0
		}
	default:
		return fmt.Errorf("mfa: user: unknown event %q", e.Type)
	}
	return nil
}

func without[T comparable](list []T, v T) []T {
	return slices.DeleteFunc(slices.Clone(list), func(x T) bool { return x == v })
}
