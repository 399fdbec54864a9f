package mfa

import "time"

// Event types are persisted contracts: never rename one, never change the
// meaning of a payload field. A new payload shape gets a new Version.
// The names follow ZITADEL's dotted, past-tense style.
const (
	EventInstanceAdded             = "instance.added"
	EventInstanceMemberAdded       = "instance.member.added"
	EventInstancePolicyAdded       = "instance.policy.login.added"
	EventInstanceSecondFactorAdded = "instance.policy.login.secondfactor.added"
	EventInstanceSecondFactorRemov = "instance.policy.login.secondfactor.removed"

	EventOrgAdded             = "org.added"
	EventOrgMemberAdded       = "org.member.added"
	EventOrgPolicyAdded       = "org.policy.login.added"
	EventOrgPolicyChanged     = "org.policy.login.changed"
	EventOrgPolicyRemoved     = "org.policy.login.removed"
	EventOrgSecondFactorAdded = "org.policy.login.secondfactor.added"
	EventOrgSecondFactorRemov = "org.policy.login.secondfactor.removed"

	EventHumanAdded       = "user.human.added"
	EventMachineAdded     = "user.machine.added"
	EventPATAdded         = "user.personal.access.token.added"
	EventPATRemoved       = "user.personal.access.token.removed"
	EventTokenAdded       = "user.token.added"
	EventTokenRevoked     = "user.token.revoked"
	EventMachineSecretSet = "user.machine.secret.set"

	// Refresh tokens: issued with an access token, used once (rotation:
	// the use issues the next one), or revoked.
	EventRefreshTokenAdded   = "user.refresh.token.added"
	EventRefreshTokenUsed    = "user.refresh.token.used"
	EventRefreshTokenRevoked = "user.refresh.token.revoked"

	EventTOTPAdded       = "user.human.mfa.otp.added"
	EventTOTPVerified    = "user.human.mfa.otp.verified"
	EventTOTPRemoved     = "user.human.mfa.otp.removed"
	EventU2FAdded        = "user.human.mfa.u2f.token.added"
	EventU2FVerified     = "user.human.mfa.u2f.token.verified"
	EventU2FRemoved      = "user.human.mfa.u2f.token.removed"
	EventOTPSMSAdded     = "user.human.mfa.otp.sms.added"
	EventOTPSMSRemoved   = "user.human.mfa.otp.sms.removed"
	EventOTPEmailAdded   = "user.human.mfa.otp.email.added"
	EventOTPEmailRemoved = "user.human.mfa.otp.email.removed"

	// A person's phone and email (v3alpha OTP registrations set them).
	EventPhoneChanged  = "user.human.phone.changed"
	EventPhoneVerified = "user.human.phone.verified"
	EventEmailChanged  = "user.human.email.changed"
	EventEmailVerified = "user.human.email.verified"

	// OTP SMS and email registrations proven by a code (v3alpha): started
	// (NOT_READY, with the code's digest), a wrong code, verified (READY).
	EventOTPSMSRegistrationStarted       = "user.human.mfa.otp.sms.registration.started"
	EventOTPSMSRegistrationCheckFailed   = "user.human.mfa.otp.sms.registration.check.failed"
	EventOTPSMSRegistrationVerified      = "user.human.mfa.otp.sms.registration.verified"
	EventOTPEmailRegistrationStarted     = "user.human.mfa.otp.email.registration.started"
	EventOTPEmailRegistrationCheckFailed = "user.human.mfa.otp.email.registration.check.failed"
	EventOTPEmailRegistrationVerified    = "user.human.mfa.otp.email.registration.verified"

	// An API credential (OneLogin's client id and secret with one scope):
	// the machine user it is gets its scope and its secret's hash.
	EventAPICredentialAdded = "user.machine.api.credential.added"

	// Notifications (the outbox): one aggregate per notification, queued in
	// the transaction of the factor or policy change it tells about. A
	// dispatcher claims it (the expected sequence makes two replicas unable
	// to claim one attempt), records each webhook's answer, and marks it
	// delivered once every webhook answered 2xx.
	EventNotificationQueued    = "notification.queued"
	EventNotificationClaimed   = "notification.claimed"
	EventNotificationAttempted = "notification.attempted"
	EventNotificationDelivered = "notification.delivered"

	aggregateTypeInstance  = "instance"
	aggregateTypeOrg       = "org"
	aggregateTypeUser      = "user"
	aggregateTypeNotify    = "notification"
	eventPayloadVersionOne = 1
)

// Payloads. Field names are part of the contract.

type instanceAddedPayload struct {
	Name string `json:"name"`
	// The first organization and admin created with the instance.
	DefaultOrgID string `json:"defaultOrgId,omitempty"`
	AdminUserID  string `json:"adminUserId,omitempty"`
}

type memberAddedPayload struct {
	UserID string   `json:"userId"`
	Roles  []string `json:"roles"`
}

type policyPayload struct {
	Policy LoginPolicy `json:"policy"`
}

type secondFactorPayload struct {
	Type SecondFactor `json:"mfaType"`
	// Via is the API the change came through (absent in events written
	// before it was recorded, and for changes made outside an API).
	Via *Origin `json:"via,omitempty"`
}

// removedPayload is the payload of a factor or policy removal that needs
// nothing else (TOTP, OTP SMS, OTP email, a login policy): the API it came
// through. Older events of these types have no payload.
type removedPayload struct {
	Via *Origin `json:"via,omitempty"`
}

type orgAddedPayload struct {
	Name string `json:"name"`
}

type humanAddedPayload struct {
	Username          string `json:"userName"`
	GivenName         string `json:"firstName"`
	FamilyName        string `json:"lastName"`
	NickName          string `json:"nickName,omitempty"`
	DisplayName       string `json:"displayName,omitempty"`
	PreferredLanguage string `json:"preferredLanguage,omitempty"`
	Gender            int    `json:"gender,omitempty"`
	Email             string `json:"email"`
	EmailVerified     bool   `json:"emailVerified,omitempty"`
	Phone             string `json:"phone,omitempty"`
	PhoneVerified     bool   `json:"phoneVerified,omitempty"`
	PasswordHash      string `json:"passwordHash,omitempty"` // bcrypt, never the password
}

type machineAddedPayload struct {
	Username        string `json:"userName"`
	Name            string `json:"name"`
	Description     string `json:"description,omitempty"`
	AccessTokenType int    `json:"accessTokenType,omitempty"`
}

type patAddedPayload struct {
	TokenID    string    `json:"tokenId"`
	TokenHash  string    `json:"tokenHash"` // SHA-256 of the token; the token itself is never stored
	Expiration time.Time `json:"expiration"`
	Scopes     []string  `json:"scopes,omitempty"`
}

type patRemovedPayload struct {
	TokenID string `json:"tokenId"`
}

type totpAddedPayload struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`         // sealed with the master key
	Name   string `json:"name,omitempty"` // the name its owner gave it (OneLogin's display_name)
}

// otpAddedPayload is a ready OTP SMS or email factor; its JSON without a
// name is factorIDPayload's.
type otpAddedPayload struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"` // the name its owner gave it (OneLogin's display_name)
}

type u2fAddedPayload struct {
	ID      string `json:"webAuthNTokenId"`
	RPID    string `json:"rpID,omitempty"`
	Session string `json:"session"` // sealed WebAuthn session data
}

type u2fVerifiedPayload struct {
	ID              string `json:"webAuthNTokenId"`
	Name            string `json:"webAuthNTokenName"`
	KeyID           []byte `json:"keyId"`
	PublicKey       []byte `json:"publicKey"`
	AttestationType string `json:"attestationType,omitempty"`
	AAGUID          []byte `json:"aaguid,omitempty"`
	SignCount       uint32 `json:"signCount,omitempty"`
	RPID            string `json:"rpID,omitempty"`
	KeyClaimed      bool   `json:"keyClaimed,omitempty"` // the batch claimed the credential id (claimCredential)
}

type factorIDPayload struct {
	ID string `json:"id,omitempty"`
}

type webAuthNRemovedPayload struct {
	ID  string  `json:"webAuthNTokenId"`
	Via *Origin `json:"via,omitempty"`
}

type tokenAddedPayload struct {
	TokenID    string    `json:"tokenId"`
	TokenHash  string    `json:"tokenHash"` // SHA-256 of the token
	Expiration time.Time `json:"expiration"`
	Scopes     []string  `json:"scopes,omitempty"`
	AMR        []string  `json:"amr,omitempty"`
	AuthTime   time.Time `json:"authTime"`
}

type refreshTokenAddedPayload struct {
	TokenID       string    `json:"tokenId"`
	TokenHash     string    `json:"tokenHash"` // SHA-256 of the refresh token
	AccessTokenID string    `json:"accessTokenId"`
	Expiration    time.Time `json:"expiration"`
	Scopes        []string  `json:"scopes,omitempty"`
	AMR           []string  `json:"amr,omitempty"`
	AuthTime      time.Time `json:"authTime"`
}

type tokenRevokedPayload struct {
	TokenID string `json:"tokenId"`
}

type phoneChangedPayload struct {
	Phone string `json:"phone"`
}

type emailChangedPayload struct {
	Email string `json:"email"`
}

// The code itself is never stored: CodeDigest is its keyed digest (see
// sealer.digest), CodeReturned records that the caller got the code in the
// response instead of it being sent.
type otpSMSRegistrationPayload struct {
	ID           string    `json:"id"`
	Phone        string    `json:"phone"`
	CodeDigest   string    `json:"codeDigest"`
	Expiry       time.Time `json:"expiry"`
	CodeReturned bool      `json:"codeReturned,omitempty"`
}

type otpEmailRegistrationPayload struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	CodeDigest   string    `json:"codeDigest"`
	Expiry       time.Time `json:"expiry"`
	CodeReturned bool      `json:"codeReturned,omitempty"`
}

type machineSecretPayload struct {
	SecretHash string `json:"secretHash"` // SHA-256 of the client secret
}

type apiCredentialPayload struct {
	Scope      string `json:"scope"`      // a OneLogin scope, e.g. "Manage users"
	SecretHash string `json:"secretHash"` // SHA-256 of the client secret
}

// notificationQueuedPayload is what a notification tells: the change (its
// event type, aggregate and sequence), who made it, through which API,
// whose factor or which policy. It holds no secret.
type notificationQueuedPayload struct {
	Action     string       `json:"action"` // factor.added, factor.removed, policy.changed
	EventType  string       `json:"eventType"`
	Aggregate  string       `json:"aggregate"` // "user", "org" or "instance"
	AggID      string       `json:"aggregateId"`
	Sequence   uint64       `json:"sequence"`
	OccurredAt time.Time    `json:"occurredAt"`
	Actor      string       `json:"actor"`
	UserID     string       `json:"userId,omitempty"`
	OrgID      string       `json:"orgId"`
	Factor     FactorKind   `json:"factor,omitempty"`
	FactorID   string       `json:"factorId,omitempty"`
	PolicyType SecondFactor `json:"secondFactor,omitempty"`
	Via        *Origin      `json:"via,omitempty"`
}

type notificationClaimedPayload struct {
	Node  int       `json:"node"`
	Until time.Time `json:"until"`
}

// Target is a hash of the webhook URL (URLs can carry credentials).
type notificationAttemptedPayload struct {
	Target  string    `json:"target"`
	Status  int       `json:"status"`          // HTTP status; 0 when no answer came
	Error   string    `json:"error,omitempty"` // transport error, without the URL
	RetryAt time.Time `json:"retryAt,omitempty"`
}
