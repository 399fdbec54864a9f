package mfa

import (
	"errors"
	"fmt"

	"github.com/factorgate/factorgate/server/eventstore"
)

// Kind classifies a domain error. The API layer maps each kind to one gRPC
// code (and from there to one HTTP status); nothing else decides status codes.
type Kind int

// The kinds mirror the gRPC codes the vendors' APIs answer with.
const (
	KindInternal Kind = iota
	KindInvalidArgument
	KindNotFound
	KindAlreadyExists
	KindFailedPrecondition
	KindPermissionDenied
	KindUnauthenticated
	KindUnimplemented
	KindUnavailable
	KindResourceExhausted
)

func (k Kind) String() string {
	switch k {
	case KindInvalidArgument:
		return "invalid_argument"
	case KindNotFound:
		return "not_found"
	case KindAlreadyExists:
		return "already_exists"
	case KindFailedPrecondition:
		return "failed_precondition"
	case KindPermissionDenied:
		return "permission_denied"
	case KindUnauthenticated:
		return "unauthenticated"
	case KindUnimplemented:
		return "unimplemented"
	case KindUnavailable:
		return "unavailable"
	case KindResourceExhausted:
		return "resource_exhausted"
	default:
		return "internal"
	}
}

// Error is the one domain error type. ID is a stable, grep-able identifier in
// ZITADEL's style ("COMMAND-Hd9sd"); Key is the message key; Message is the
// English text shown to clients (the key itself where the vendor has no
// translation). Err is an internal cause that is logged, never shown.
type Error struct {
	Kind    Kind
	ID      string
	Key     string
	Message string
	Err     error
}

func (e *Error) Error() string {
	s := e.Message
	if e.ID != "" {
		s = fmt.Sprintf("%s (%s)", e.Message, e.ID)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches another *Error by kind and ID, so errors.Is(err, ErrX) works for
// the package-level error values.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return e.Kind == t.Kind && e.ID == t.ID
}

func newErr(kind Kind, id, key, message string) *Error {
	return &Error{Kind: kind, ID: id, Key: key, Message: message}
}

// KindOf returns the kind of err: the kind of the first *Error in its chain,
// KindInternal for any other non-nil error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// AsError returns the *Error in err's chain, or a generic internal error that
// wraps err (its text is never shown to clients).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: KindInternal, ID: "", Key: "Errors.Internal", Message: "Internal error", Err: err}
}

func internal(id string, err error) *Error {
	return &Error{Kind: KindInternal, ID: id, Key: "Errors.Internal", Message: "Internal error", Err: err}
}

// Errors with the vendor's IDs and English texts (reference/zitadel.md §10).
var (
	// Authentication and authorization.
	ErrAuthHeaderMissing = &Error{Kind: KindUnauthenticated, Message: "auth header missing"}
	ErrAuthHeaderInvalid = newErr(KindUnauthenticated, "AUTH-toLo1", "", "invalid auth header")
	ErrTokenInvalid      = newErr(KindUnauthenticated, "AUTH-7fs1e", "Errors.Token.Invalid", "Errors.Token.Invalid")
	ErrOrgNotExisting    = newErr(KindPermissionDenied, "AUTH-Bs7Ds", "Errors.Org.NotFound", "Organisation doesn't exist")
	ErrNoPermission      = newErr(KindPermissionDenied, "AUTH-5mWD2", "Errors.Auth.NoPermission", "No matching permissions found")
	ErrNoPermissionCmd   = newErr(KindPermissionDenied, "AUTH-AWfge", "Errors.Auth.NoPermission", "No matching permissions found")
	ErrNoMembership      = newErr(KindNotFound, "AUTHZ-cdgFk", "Errors.Auth.MembershipNotFound", "membership not found")
	// ErrInsufficientScope: the token carries none of the scopes a call
	// needs (OneLogin's API credential scopes). factorgate's own id.
	ErrInsufficientScope = newErr(KindPermissionDenied, "AUTH-fgScp", "Errors.Token.InsufficientScope", "Insufficient Permission")

	// Factors.
	ErrTOTPNotExisting     = newErr(KindNotFound, "COMMAND-Hd9sd", "Errors.User.MFA.OTP.NotExisting", "Multifactor OTP (OneTimePassword) doesn't exist")
	ErrU2FNotFound         = newErr(KindNotFound, "COMMAND-DAfb2", "Errors.User.WebAuthN.NotFound", "WebAuthN Token could not be found")
	ErrOTPSMSNotExisting   = newErr(KindNotFound, "COMMAND-Sr3h3", "Errors.User.MFA.OTP.NotExisting", "Multifactor OTP (OneTimePassword) doesn't exist")
	ErrOTPEmailNotExisting = newErr(KindNotFound, "COMMAND-b312D", "Errors.User.MFA.OTP.NotExisting", "Multifactor OTP (OneTimePassword) doesn't exist")
	ErrTOTPAlreadyReady    = newErr(KindAlreadyExists, "COMMAND-do9se", "Errors.User.MFA.OTP.AlreadyReady", "Multifactor OTP (OneTimePassword) is already set up")
	ErrTOTPNotStarted      = newErr(KindNotFound, "COMMAND-3Mif9s", "Errors.User.MFA.OTP.NotExisting", "Multifactor OTP (OneTimePassword) doesn't exist")
	ErrTOTPVerified        = newErr(KindFailedPrecondition, "COMMAND-qx4ls", "Errors.Users.MFA.OTP.AlreadyReady", "Errors.Users.MFA.OTP.AlreadyReady")
	ErrInvalidCode         = newErr(KindInvalidArgument, "EVENT-8isk2", "Errors.User.MFA.OTP.InvalidCode", "Invalid code")
	ErrOTPSMSExists        = newErr(KindAlreadyExists, "COMMAND-Ad3g2", "Errors.User.MFA.OTP.AlreadyReady", "Multifactor OTP (OneTimePassword) is already set up")
	ErrPhoneNotVerified    = newErr(KindFailedPrecondition, "COMMAND-Q54j2", "Errors.User.MFA.OTP.NotReady", "Multifactor OTP (OneTimePassword) isn't ready")
	ErrOTPEmailExists      = newErr(KindAlreadyExists, "COMMAND-MKL2s", "Errors.User.MFA.OTP.AlreadyReady", "Multifactor OTP (OneTimePassword) is already set up")
	ErrEmailNotVerified    = newErr(KindFailedPrecondition, "COMMAND-KLJ2d", "Errors.User.MFA.OTP.NotReady", "Multifactor OTP (OneTimePassword) isn't ready")
	ErrU2FNotStarted       = newErr(KindNotFound, "COMMAND-3M0od", "Errors.User.WebAuthN.NotFound", "WebAuthN Token could not be found")
	ErrU2FInvalid          = newErr(KindInvalidArgument, "COMMAND-R5kqi", "Errors.User.WebAuthN.ValidateLoginFailed", "WebAuthN credential could not be verified")
	// ErrU2FAlreadyReady and ErrU2FDomainInvalid have no counterpart in
	// reference/zitadel.md; their IDs are factorgate's own.
	ErrU2FAlreadyReady  = newErr(KindFailedPrecondition, "COMMAND-fgU2r", "Errors.User.WebAuthN.AlreadyReady", "WebAuthN Token is already set up")
	ErrU2FDomainInvalid = newErr(KindInvalidArgument, "COMMAND-fgU2d", "Errors.User.WebAuthN.DomainInvalid", "Domain is not a valid relying party id")

	// OTP SMS and email registrations proven by a code (v3alpha). A wrong
	// code answers ErrInvalidCode, as TOTP does. ErrOTPCodeExpired is
	// ZITADEL's expired-code error; the others are factorgate's own.
	ErrOTPSMSAlreadyReady   = newErr(KindFailedPrecondition, "COMMAND-fgSMr", "Errors.User.MFA.OTP.AlreadyReady", "Multifactor OTP (OneTimePassword) is already set up")
	ErrOTPEmailAlreadyReady = newErr(KindFailedPrecondition, "COMMAND-fgEMr", "Errors.User.MFA.OTP.AlreadyReady", "Multifactor OTP (OneTimePassword) is already set up")
	ErrOTPCodeExpired       = newErr(KindFailedPrecondition, "CODE-QvUQ4P", "Errors.User.Code.Expired", "Code is expired")
	ErrOTPCodeExhausted     = newErr(KindFailedPrecondition, "COMMAND-fgOTx", "Errors.User.Code.TooManyAttempts", "Too many wrong codes; start the registration again")
	ErrInvalidPhone         = newErr(KindInvalidArgument, "PHONE-so0wa", "Errors.User.Phone.Invalid", "Phone is invalid")

	// Users and organizations.
	ErrUserNotFound         = newErr(KindNotFound, "COMMAND-M0dsf", "Errors.User.NotFound", "User could not be found")
	ErrOTPUserNotFound      = newErr(KindNotFound, "COMMAND-4g3xq", "Errors.NotFound", "Errors.NotFound")
	ErrUserNotFoundPrecond  = newErr(KindFailedPrecondition, "COMMAND-SqyJz", "Errors.User.NotFound", "User could not be found")
	ErrUserNotHuman         = newErr(KindFailedPrecondition, "COMMAND-Mdf2s", "Errors.User.NotHuman", "The User must be a human")
	ErrUserNotMachine       = newErr(KindFailedPrecondition, "COMMAND-Dggw2", "Errors.User.NotMachine", "The User must be technical")
	ErrUsernameTaken        = newErr(KindAlreadyExists, "COMMAND-k2m4s", "Errors.User.AlreadyExists", "User already exists")
	ErrUserIDTaken          = newErr(KindAlreadyExists, "COMMAND-7yu2d", "Errors.User.AlreadyExisting", "User already exists")
	ErrOrgNotFound          = newErr(KindNotFound, "COMMAND-Ggd32", "Errors.Org.NotFound", "Organisation not found")
	ErrOrgNameTaken         = newErr(KindAlreadyExists, "COMMAND-Ab3gd", "Errors.Org.AlreadyExists", "Organisation's name already taken")
	ErrMemberExists         = newErr(KindAlreadyExists, "Org-PtXi1", "Errors.Org.Member.AlreadyExists", "Member already exists")
	ErrInvalidRole          = newErr(KindInvalidArgument, "Member-3m9ds", "Errors.Member.InvalidRoles", "Roles are invalid")
	ErrResourceOwnerMissing = newErr(KindInvalidArgument, "Org-fM0gs", "Errors.ResourceOwnerMissing", "Resource Owner Organisation missing")
	ErrInvalidEmail         = newErr(KindInvalidArgument, "EMAIL-599BI", "Errors.User.Email.Invalid", "Email is invalid")
	ErrUnknownAPIScope      = newErr(KindInvalidArgument, "COMMAND-fgScp", "Errors.APICredential.Scope", "Unknown scope (want Authentication Only, Read users, Manage users, Read All or Manage All)")
	ErrTokenExpiryPast      = newErr(KindInvalidArgument, "COMMAND-dv3t5", "Errors.User.PAT.ExpirationDateInPast", "Expiration date is in the past")
	// ErrTokenExpiryTooLate: an expiry after the year 9999, which neither
	// protobuf's Timestamp nor RFC 3339 (the events' JSON) can hold. The
	// ID is factorgate's own.
	ErrTokenExpiryTooLate = newErr(KindInvalidArgument, "COMMAND-fgExp", "Errors.User.PAT.ExpirationDateTooLate", "Expiration date is after the year 9999")

	// Login policies.
	ErrOrgMFANotExisting      = newErr(KindNotFound, "Org-3M9od", "Errors.Org.LoginPolicy.MFA.NotExisting", "Multifactor not existing")
	ErrOrgMFAExists           = newErr(KindAlreadyExists, "Org-2B0ps", "Errors.Org.LoginPolicy.MFA.AlreadyExists", "Multifactor already exists")
	ErrOrgMFARemoveInvalid    = newErr(KindInvalidArgument, "Org-55n8s", "Errors.Org.LoginPolicy.MFA.Unspecified", "Multifactor invalid")
	ErrOrgMFAAddInvalid       = newErr(KindInvalidArgument, "Org-5m9fs", "Errors.Org.LoginPolicy.MFA.Unspecified", "Multifactor invalid")
	ErrInstanceMFANotExisting = newErr(KindNotFound, "INSTANCE-3M9od", "Errors.IAM.LoginPolicy.MFA.NotExisting", "Multifactor not existing")
	ErrInstanceMFAExists      = newErr(KindAlreadyExists, "INSTANCE-2B0ps", "Errors.Instance.MFA.AlreadyExists", "Errors.Instance.MFA.AlreadyExists")
	ErrInstanceMFARemoveInval = newErr(KindInvalidArgument, "INSTANCE-55n8s", "Errors.IAM.LoginPolicy.MFA.Unspecified", "Multifactor invalid")
	ErrInstanceMFAAddInvalid  = newErr(KindInvalidArgument, "INSTANCE-5m9fs", "Errors.Instance.LoginPolicy.MFA.Unspecified", "Errors.Instance.LoginPolicy.MFA.Unspecified")
	ErrPolicyExists           = newErr(KindAlreadyExists, "Org-Dgfb2", "Errors.Org.LoginPolicy.AlreadyExists", "Login Policy already exists")
	ErrPolicyNotFoundUpdate   = newErr(KindNotFound, "Org-M0sif", "Errors.Org.LoginPolicy.NotFound", "Login Policy not found")
	ErrPolicyNotChanged       = newErr(KindFailedPrecondition, "Org-5M9vdd", "Errors.Org.LoginPolicy.NotChanged", "Errors.Org.LoginPolicy.NotChanged")
	ErrPolicyNotFoundReset    = newErr(KindNotFound, "Org-GHB37", "Errors.Org.LoginPolicy.NotFound", "Login Policy not found")

	// ErrResourceOwnerMissingAdd is what AddSecondFactorToLoginPolicy answers
	// without an organization (its removal counterpart answers Org-fM0gs).
	ErrResourceOwnerMissingAdd = newErr(KindInvalidArgument, "Org-M0fs9", "Errors.ResourceOwnerMissing", "Resource Owner Organisation missing")

	// Store.
	ErrBusy = newErr(KindUnavailable, "EVENT-Busy1", "Errors.Busy", "too many concurrent changes, try again")
)

// storeErr turns an error of the store into a domain error: Unavailable
// (one stable ID, EVENT-unav1) when the store's database cannot be reached,
// so clients get codes.Unavailable (HTTP 503) and may try again; Internal
// with the call site's id otherwise.
func storeErr(id string, err error) *Error {
	if errors.Is(err, eventstore.ErrUnavailable) {
		return &Error{Kind: KindUnavailable, ID: "EVENT-unav1", Key: "Errors.Unavailable",
			Message: "the store is unavailable, try again", Err: err}
	}
	return internal(id, err)
}

// invalid builds an InvalidArgument error for input the transport's schema
// validation cannot express.
func invalid(id, message string) *Error {
	return newErr(KindInvalidArgument, id, "Errors.Invalid", message)
}
