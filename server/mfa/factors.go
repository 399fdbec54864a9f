package mfa

import (
	"context"
	"time"
	"unicode/utf8"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// FactorRef names one factor of one user. ID is needed for U2F and optional
// otherwise (when given, it must match).
type FactorRef struct {
	UserID string
	Kind   FactorKind
	ID     string
}

// FactorView is a factor as queries return it: no secrets.
type FactorView struct {
	Kind    FactorKind
	ID      string
	Name    string
	State   FactorState
	Created time.Time
	// Contact is where one-time codes go: the phone of an OTP SMS factor,
	// the email address of an OTP email factor (set by ListUserFactors).
	Contact string
}

// RemoveFactor removes a factor. orgID scopes the request: when set (the
// organization context of the management API, or the caller's own
// organization for self-service) a user of another organization is treated
// as missing; when empty the user's own organization is used and access is
// decided by the permission check alone.
//
// Like ZITADEL, TOTP and U2F removals report a missing factor before
// checking permission; OTP SMS and email removals check permission first.
// Removing one's own factor needs no permission.
func (s *Service) RemoveFactor(ctx context.Context, orgID string, ref FactorRef) (Details, error) {
	return s.removeFactor(ctx, scope{orgID: orgID}, ref)
}

// scope is how a command sees the user it acts on.
type scope struct {
	// orgID, when set, confines the command to the users of one
	// organization; a user of another one is invisible.
	orgID string
	// resource marks the v3alpha resource API, where the authenticator is
	// the resource: every call names it by id, and a missing user, a user
	// outside orgID and an id that names no factor of the kind all answer
	// the kind's NotFound (notFoundOf). Details then describe the factor:
	// its id and creation time.
	resource bool
	// guard, when set, vetoes a removal after the factor is found and
	// before the event is pushed. It runs inside the command's retry on the
	// state the append expects, so its verdict holds for the write.
	guard func(ctx context.Context, u *userState, f *Factor) error
}

// visible reports whether u can be seen in the scope.
func (sc scope) visible(u *userState) bool {
	return u != nil && (sc.orgID == "" || u.Owner == sc.orgID)
}

// notFoundOf is the NotFound error of a factor kind, as its removal answers.
func notFoundOf(kind FactorKind) error {
	switch kind {
	case FactorTOTP:
		return ErrTOTPNotExisting
	case FactorU2F:
		return ErrU2FNotFound
	case FactorOTPSMS:
		return ErrOTPSMSNotExisting
	case FactorOTPEmail:
		return ErrOTPEmailNotExisting
	}
	return nil
}

// factorDetails are the details of a resource-API call: the change
// details of the user, but naming the factor and when it was created.
func factorDetails(u *userState, id string, created time.Time) Details {
	d := u.changeDetails()
	d.ID, d.CreationDate = id, created
	return d
}

func (s *Service) removeFactor(ctx context.Context, sc scope, ref FactorRef) (Details, error) {
	notFound := notFoundOf(ref.Kind)
	if notFound == nil {
		return Details{}, invalid("COMMAND-fk001", "unknown factor type")
	}
	if err := s.requireRecentSignIn(ctx, ref.UserID); err != nil {
		return Details{}, err
	}
	orgID := sc.orgID
	var d Details
	err := s.retry(ctx, func() error {
		u, err := s.loadUser(ctx, ref.UserID)
		if err != nil {
			return err
		}
		if !sc.visible(u) {
			u = nil // outside the caller's organization context: invisible
		}
		permissionFirst := ref.Kind == FactorOTPSMS || ref.Kind == FactorOTPEmail
		if permissionFirst {
			target := orgID
			if u != nil {
				target = u.Owner
			}
			if target == "" {
				if sc.resource {
					return notFound
				}
				return ErrOTPUserNotFound
			}
			if err := s.checkPermission(ctx, target, PermUserWrite, ref.UserID); err != nil {
				return err
			}
		}
		if u == nil || u.Human == nil {
			return notFound
		}
		f := u.factor(ref.Kind, ref.ID)
		if f == nil || ((ref.Kind == FactorU2F || sc.resource) && ref.ID == "") {
			return notFound
		}
		factorID, created := f.ID, f.Created
		if !permissionFirst {
			if err := s.checkPermission(ctx, u.Owner, PermUserWrite, ref.UserID); err != nil {
				return err
			}
		}
		if sc.guard != nil {
			if err := sc.guard(ctx, u, f); err != nil {
				return err
			}
		}
		c := s.newChange(ctx)
		var typ string
		var payload any = removedPayload{Via: c.via}
		switch ref.Kind {
		case FactorTOTP:
			typ = EventTOTPRemoved
		case FactorU2F:
			typ, payload = EventU2FRemoved, webAuthNRemovedPayload{ID: factorID, Via: c.via}
			if f.KeyClaimed { // never another user's claim of the same id
				c.batch.Release = append(c.batch.Release, claimCredential(f.KeyID))
			}
		case FactorOTPSMS:
			typ = EventOTPSMSRemoved
		case FactorOTPEmail:
			typ = EventOTPEmailRemoved
		}
		if err := c.push(u, typ, payload); err != nil {
			return internal("COMMAND-rm001", err)
		}
		removed := u.changeDetails() // the removal's own sequence, before any revocation
		if sc.resource {
			removed = factorDetails(u, factorID, created)
		}
		if err := s.revokeOtherTokens(ctx, c, u); err != nil {
			return err
		}
		if err := s.commit(ctx, c); err != nil {
			return err
		}
		d = removed
		return nil
	})
	return d, err
}

// ListFactors returns a user's factors (ready and not ready). A user that
// does not exist, or is outside orgID when orgID is set, has none.
func (s *Service) ListFactors(ctx context.Context, orgID, userID string) ([]FactorView, error) {
	u, err := s.loadUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u == nil || (orgID != "" && u.Owner != orgID) {
		return nil, nil
	}
	if orgID == "" {
		if err := s.checkPermission(ctx, u.Owner, PermUserRead, userID); err != nil {
			return nil, err
		}
	}
	out := make([]FactorView, 0, len(u.Factors))
	for _, f := range u.Factors {
		out = append(out, FactorView{Kind: f.Kind, ID: f.ID, Name: f.Name, State: f.State, Created: f.Created})
	}
	return out, nil
}

// ListUserFactors is ListFactors for APIs that tell a missing user from
// one without factors (OneLogin): a user that does not exist, is outside
// orgID or is not a person answers ErrUserNotFound. Reading another
// user's factors needs user.read in the user's organization.
func (s *Service) ListUserFactors(ctx context.Context, orgID, userID string) ([]FactorView, error) {
	u, err := s.loadUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u == nil || u.Human == nil || (orgID != "" && u.Owner != orgID) {
		return nil, ErrUserNotFound
	}
	if err := s.checkPermission(ctx, u.Owner, PermUserRead, userID); err != nil {
		return nil, err
	}
	out := make([]FactorView, 0, len(u.Factors))
	for _, f := range u.Factors {
		v := FactorView{Kind: f.Kind, ID: f.ID, Name: f.Name, State: f.State, Created: f.Created}
		switch f.Kind {
		case FactorOTPSMS:
			v.Contact = u.Human.Phone
		case FactorOTPEmail:
			v.Contact = u.Human.Email
		}
		out = append(out, v)
	}
	return out, nil
}

// loadHumanFor loads a human user for an enrolment of a kind of factor by
// the caller, checking scope and the credential permission (self always
// allowed).
func (s *Service) loadHumanFor(ctx context.Context, sc scope, userID string, kind FactorKind) (*userState, error) {
	u, err := s.loadUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if !sc.visible(u) {
		if sc.resource {
			return nil, notFoundOf(kind)
		}
		return nil, ErrUserNotFoundPrecond
	}
	if err := s.checkPermission(ctx, u.Owner, PermUserCredentialWrite, userID); err != nil {
		return nil, err
	}
	if u.Human == nil {
		return nil, ErrUserNotHuman
	}
	return u, nil
}

// TOTPRegistration is a started TOTP enrolment: show URI (as a QR code) or
// Secret to the person once.
type TOTPRegistration struct {
	ID     string
	URI    string
	Secret string
}

const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	totpSkew   = 1 // accept one period either side for clock drift
)

// RegisterTOTP starts a TOTP enrolment with a fresh secret (RFC 6238,
// SHA-1, 6 digits, 30 s). An unverified earlier registration is replaced.
func (s *Service) RegisterTOTP(ctx context.Context, orgID, userID string, opts ...FactorOption) (TOTPRegistration, Details, error) {
	return s.registerTOTP(ctx, scope{orgID: orgID}, userID, opts...)
}

func (s *Service) registerTOTP(ctx context.Context, sc scope, userID string, opts ...FactorOption) (TOTPRegistration, Details, error) {
	var reg TOTPRegistration
	var d Details
	o, err := factorOptions(opts)
	if err != nil {
		return reg, d, err
	}
	err = s.retry(ctx, func() error {
		u, err := s.loadHumanFor(ctx, sc, userID, FactorTOTP)
		if err != nil {
			return err
		}
		if f := u.factor(FactorTOTP, ""); f != nil && f.State == FactorReady {
			return ErrTOTPAlreadyReady
		}
		key, err := totp.Generate(totp.GenerateOpts{Issuer: s.issuer, AccountName: u.Username,
			Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return internal("COMMAND-totp1", err)
		}
		sealed, err := s.sealer.seal([]byte(key.Secret()), "totp:"+u.ID)
		if err != nil {
			return internal("COMMAND-totp2", err)
		}
		id := s.NewID()
		c := s.newChange(ctx)
		if err := c.push(u, EventTOTPAdded, totpAddedPayload{ID: id, Secret: sealed, Name: o.name}); err != nil {
			return internal("COMMAND-totp3", err)
		}
		if err := s.commit(ctx, c); err != nil {
			return err
		}
		reg = TOTPRegistration{ID: id, URI: key.URL(), Secret: key.Secret()}
		d = u.changeDetails()
		if sc.resource {
			d = factorDetails(u, id, c.now)
		}
		return nil
	})
	return reg, d, err
}

// VerifyTOTP completes a TOTP enrolment with a code from the person's app.
// totpID, when set, must name the pending registration.
func (s *Service) VerifyTOTP(ctx context.Context, orgID, userID, totpID, code string) (Details, error) {
	return s.verifyTOTP(ctx, scope{orgID: orgID}, userID, totpID, code)
}

func (s *Service) verifyTOTP(ctx context.Context, sc scope, userID, totpID, code string) (Details, error) {
	var d Details
	err := s.retry(ctx, func() error {
		u, err := s.loadHumanFor(ctx, sc, userID, FactorTOTP)
		if err != nil {
			return err
		}
		f := u.factor(FactorTOTP, totpID)
		if sc.resource && (f == nil || totpID == "") {
			return ErrTOTPNotExisting
		}
		if f == nil {
			return ErrTOTPNotStarted
		}
		if f.State == FactorReady {
			return ErrTOTPVerified
		}
		secret, err := s.sealer.open(f.Secret, "totp:"+u.ID)
		if err != nil {
			return internal("COMMAND-totp4", err)
		}
		if err := s.checkFailedCodes(u.ID); err != nil {
			return err
		}
		c := s.newChange(ctx)
		ok, err := totp.ValidateCustom(code, string(secret), c.now, totp.ValidateOpts{
			Period: totpPeriod, Skew: totpSkew, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
		if err != nil || !ok {
			s.failedCode(u.ID)
			return ErrInvalidCode
		}
		if err := c.push(u, EventTOTPVerified, factorIDPayload{ID: f.ID}); err != nil {
			return internal("COMMAND-totp5", err)
		}
		if err := s.commit(ctx, c); err != nil {
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

// AddOTPSMS enables one-time codes by SMS; the phone must be verified. The
// factor is ready at once; it replaces a pending registration (see
// AddOTPSMSAuthenticator).
func (s *Service) AddOTPSMS(ctx context.Context, orgID, userID string, opts ...FactorOption) (string, Details, error) {
	return s.addOTP(ctx, orgID, userID, FactorOTPSMS, opts)
}

// AddOTPEmail enables one-time codes by email; the email must be verified.
// Like AddOTPSMS, it replaces a pending registration.
func (s *Service) AddOTPEmail(ctx context.Context, orgID, userID string, opts ...FactorOption) (string, Details, error) {
	return s.addOTP(ctx, orgID, userID, FactorOTPEmail, opts)
}

func (s *Service) addOTP(ctx context.Context, orgID, userID string, kind FactorKind, opts []FactorOption) (string, Details, error) {
	var id string
	var d Details
	o, err := factorOptions(opts)
	if err != nil {
		return id, d, err
	}
	err = s.retry(ctx, func() error {
		u, err := s.loadUser(ctx, userID)
		if err != nil {
			return err
		}
		if u == nil || (orgID != "" && u.Owner != orgID) {
			return ErrUserNotFound
		}
		if err := s.checkPermission(ctx, u.Owner, PermUserCredentialWrite, userID); err != nil {
			return err
		}
		if u.Human == nil {
			return ErrUserNotHuman
		}
		typ, exists, unverified := EventOTPSMSAdded, ErrOTPSMSExists, ErrPhoneNotVerified
		verified := u.Human.PhoneVerified
		if kind == FactorOTPEmail {
			typ, exists, unverified = EventOTPEmailAdded, ErrOTPEmailExists, ErrEmailNotVerified
			verified = u.Human.EmailVerified
		}
		if f := u.factor(kind, ""); f != nil && f.State == FactorReady {
			return exists
		}
		if !verified {
			return unverified
		}
		id = s.NewID()
		c := s.newChange(ctx)
		if err := c.push(u, typ, otpAddedPayload{ID: id, Name: o.name}); err != nil {
			return internal("COMMAND-otp01", err)
		}
		if err := s.commit(ctx, c); err != nil {
			return err
		}
		d = u.changeDetails()
		return nil
	})
	return id, d, err
}

// AuthMethod is a way a user can authenticate.
type AuthMethod string

// Authentication methods.
const (
	AuthMethodPassword AuthMethod = "password"
	AuthMethodTOTP     AuthMethod = "totp"
	AuthMethodU2F      AuthMethod = "u2f"
	AuthMethodOTPSMS   AuthMethod = "otp_sms"
	AuthMethodOTPEmail AuthMethod = "otp_email"
)

// AuthMethods lists how a user can authenticate: a password and every
// ready factor. Reading another user's methods needs user.read.
func (s *Service) AuthMethods(ctx context.Context, orgID, userID string) ([]AuthMethod, error) {
	u, err := s.loadUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u == nil || (orgID != "" && u.Owner != orgID) {
		return nil, ErrUserNotFound
	}
	if err := s.checkPermission(ctx, u.Owner, PermUserRead, userID); err != nil {
		return nil, err
	}
	var out []AuthMethod
	if u.Human != nil && u.Human.PasswordHash != "" {
		out = append(out, AuthMethodPassword)
	}
	seen := map[FactorKind]bool{}
	for _, f := range u.Factors {
		if f.State != FactorReady || seen[f.Kind] {
			continue
		}
		seen[f.Kind] = true
		out = append(out, AuthMethod(f.Kind))
	}
	return out, nil
}

// FactorOption sets something of a factor being added.
type FactorOption func(*factorOpts)

type factorOpts struct{ name string }

// MaxFactorName is the longest name a factor takes, in characters.
const MaxFactorName = 255

// Named gives the factor a name of its owner's (OneLogin's display_name:
// "Ada's phone"), kept as given and shown where the dialect shows one.
// Empty means none.
func Named(name string) FactorOption {
	return func(o *factorOpts) { o.name = name }
}

func factorOptions(opts []FactorOption) (factorOpts, error) {
	var o factorOpts
	for _, f := range opts {
		f(&o)
	}
	if utf8.RuneCountInString(o.name) > MaxFactorName || !utf8.ValidString(o.name) {
		return o, invalid("COMMAND-fgNam", "a factor's name is valid UTF-8 of at most 255 characters")
	}
	return o, nil
}
