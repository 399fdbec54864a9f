package zitadel

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/factorgate/factorgate/gen/zitadel/object"
	objectv2 "github.com/factorgate/factorgate/gen/zitadel/object/v2"
	objectv3alpha "github.com/factorgate/factorgate/gen/zitadel/object/v3alpha"
	"github.com/factorgate/factorgate/gen/zitadel/policy"
	resobject "github.com/factorgate/factorgate/gen/zitadel/resources/object/v3alpha"
	userv1 "github.com/factorgate/factorgate/gen/zitadel/user"
	"github.com/factorgate/factorgate/server/mfa"
)

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// changeDetails is ZITADEL's v1 "change" shape: removals and updates set
// the change date, not the creation date.
func changeDetails(d mfa.Details) *object.ObjectDetails {
	return &object.ObjectDetails{Sequence: d.Sequence, ChangeDate: ts(d.EventDate), ResourceOwner: d.ResourceOwner}
}

// addDetails is ZITADEL's v1 "add" shape: the creation date is set.
func addDetails(d mfa.Details) *object.ObjectDetails {
	return &object.ObjectDetails{Sequence: d.Sequence, CreationDate: ts(d.EventDate), ResourceOwner: d.ResourceOwner}
}

func objectDetails(d mfa.Details) *object.ObjectDetails {
	return &object.ObjectDetails{Sequence: d.Sequence, CreationDate: ts(d.CreationDate), ChangeDate: ts(d.EventDate), ResourceOwner: d.ResourceOwner}
}

func v2Details(d mfa.Details) *objectv2.Details {
	return &objectv2.Details{Sequence: d.Sequence, ChangeDate: ts(d.EventDate), ResourceOwner: d.ResourceOwner}
}

// resourceDetails is the v3alpha resource shape: the factor's id, when it
// was created and changed, and the organization owning it.
func resourceDetails(d mfa.Details) *resobject.Details {
	return &resobject.Details{
		Id: d.ID, Created: ts(d.CreationDate), Changed: ts(d.EventDate),
		Owner: &objectv3alpha.Owner{Type: objectv3alpha.OwnerType_OWNER_TYPE_ORG, Id: d.ResourceOwner},
	}
}

// otpProofFromPb reads the verification oneof of a v3alpha SetPhone or
// SetEmail: is_verified, return_code, or (send_code or nothing) a code to
// be sent.
func otpProofFromPb(isVerified, returnCode bool) mfa.OTPProof {
	switch {
	case isVerified:
		return mfa.ProofVerified
	case returnCode:
		return mfa.ProofReturnCode
	default:
		return mfa.ProofSendCode
	}
}

// attachmentFromPb maps a v3alpha WebAuthNAuthenticatorType (the same
// numbers in both v3alpha packages).
func attachmentFromPb(t int32) mfa.WebAuthnAttachment {
	switch t {
	case 0:
		return mfa.AttachmentAny
	case 1:
		return mfa.AttachmentPlatform
	case 2:
		return mfa.AttachmentCrossPlatform
	default:
		return mfa.WebAuthnAttachment("unknown")
	}
}

// verificationCode is the optional verification_code of a v3alpha OTP
// registration answer: set only when the code was asked for.
func verificationCode(reg mfa.OTPRegistration) *string {
	if reg.Code == "" {
		return nil
	}
	return &reg.Code
}

func listDetails(total int, at time.Time) *object.ListDetails {
	return &object.ListDetails{TotalResult: uint64(total), ViewTimestamp: ts(at)}
}

var secondFactorToDomain = map[policy.SecondFactorType]mfa.SecondFactor{
	policy.SecondFactorType_SECOND_FACTOR_TYPE_OTP:            mfa.SecondFactorTOTP,
	policy.SecondFactorType_SECOND_FACTOR_TYPE_U2F:            mfa.SecondFactorU2F,
	policy.SecondFactorType_SECOND_FACTOR_TYPE_OTP_EMAIL:      mfa.SecondFactorOTPEmail,
	policy.SecondFactorType_SECOND_FACTOR_TYPE_OTP_SMS:        mfa.SecondFactorOTPSMS,
	policy.SecondFactorType_SECOND_FACTOR_TYPE_RECOVERY_CODES: mfa.SecondFactorRecoveryCodes,
}

func secondFactorFromPb(t policy.SecondFactorType) mfa.SecondFactor {
	return secondFactorToDomain[t] // unknown → "" (invalid in the core)
}

func secondFactorToPb(f mfa.SecondFactor) policy.SecondFactorType {
	for k, v := range secondFactorToDomain {
		if v == f {
			return k
		}
	}
	return policy.SecondFactorType_SECOND_FACTOR_TYPE_UNSPECIFIED
}

func secondFactorsToPb(fs []mfa.SecondFactor) []policy.SecondFactorType {
	out := make([]policy.SecondFactorType, 0, len(fs))
	for _, f := range fs {
		out = append(out, secondFactorToPb(f))
	}
	return out
}

func multiFactorsToPb(fs []mfa.MultiFactor) []policy.MultiFactorType {
	out := make([]policy.MultiFactorType, 0, len(fs))
	for _, f := range fs {
		if f == mfa.MultiFactorU2FWithVerification {
			out = append(out, policy.MultiFactorType_MULTI_FACTOR_TYPE_U2F_WITH_VERIFICATION)
		}
	}
	return out
}

func dur(d time.Duration) *durationpb.Duration { return durationpb.New(d) }

func durFromPb(d *durationpb.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.AsDuration()
}

func loginPolicyToPb(v mfa.PolicyView) *policy.LoginPolicy {
	p := v.Policy
	pt := policy.PasswordlessType_PASSWORDLESS_TYPE_NOT_ALLOWED
	if p.PasswordlessAllowed {
		pt = policy.PasswordlessType_PASSWORDLESS_TYPE_ALLOWED
	}
	return &policy.LoginPolicy{
		Details:                    objectDetails(v.Details),
		AllowUsernamePassword:      p.AllowUsernamePassword,
		AllowRegister:              p.AllowRegister,
		AllowExternalIdp:           p.AllowExternalIDP,
		ForceMfa:                   p.ForceMFA,
		PasswordlessType:           pt,
		IsDefault:                  v.IsDefault,
		HidePasswordReset:          p.HidePasswordReset,
		IgnoreUnknownUsernames:     p.IgnoreUnknownUsernames,
		DefaultRedirectUri:         p.DefaultRedirectURI,
		PasswordCheckLifetime:      dur(p.PasswordCheckLifetime),
		ExternalLoginCheckLifetime: dur(p.ExternalLoginCheckLifetime),
		MfaInitSkipLifetime:        dur(p.MFAInitSkipLifetime),
		SecondFactorCheckLifetime:  dur(p.SecondFactorCheckLifetime),
		MultiFactorCheckLifetime:   dur(p.MultiFactorCheckLifetime),
		SecondFactors:              secondFactorsToPb(p.SecondFactors),
		MultiFactors:               multiFactorsToPb(p.MultiFactors),
		AllowDomainDiscovery:       p.AllowDomainDiscovery,
		DisableLoginWithEmail:      p.DisableLoginWithEmail,
		DisableLoginWithPhone:      p.DisableLoginWithPhone,
		ForceMfaLocalOnly:          p.ForceMFALocalOnly,
	}
}

func authFactorsToPb(fs []mfa.FactorView) []*userv1.AuthFactor {
	out := make([]*userv1.AuthFactor, 0, len(fs))
	for _, f := range fs {
		af := &userv1.AuthFactor{State: userv1.AuthFactorState_AUTH_FACTOR_STATE_NOT_READY}
		if f.State == mfa.FactorReady {
			af.State = userv1.AuthFactorState_AUTH_FACTOR_STATE_READY
		}
		switch f.Kind {
		case mfa.FactorTOTP:
			af.Type = &userv1.AuthFactor_Otp{Otp: &userv1.AuthFactorOTP{}}
		case mfa.FactorU2F:
			af.Type = &userv1.AuthFactor_U2F{U2F: &userv1.AuthFactorU2F{Id: f.ID, Name: f.Name}}
		case mfa.FactorOTPSMS:
			af.Type = &userv1.AuthFactor_OtpSms{OtpSms: &userv1.AuthFactorOTPSMS{}}
		case mfa.FactorOTPEmail:
			af.Type = &userv1.AuthFactor_OtpEmail{OtpEmail: &userv1.AuthFactorOTPEmail{}}
		default:
			continue
		}
		out = append(out, af)
	}
	return out
}

func nowUTC() time.Time { return time.Now().UTC() }
