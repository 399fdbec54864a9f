package zitadel

import (
	"context"

	userv3alpha "github.com/factorgate/factorgate/gen/zitadel/user/v3alpha"
	"github.com/factorgate/factorgate/server/mfa"
)

// userV3AlphaServer implements the authenticator calls of the superseded
// zitadel.user.v3alpha.UserService (replaced by ZITADELUsers, served
// because older public docs show its paths). Same core calls as
// ZITADELUsers; the requests name no organization, and the details are
// zitadel.object.v2beta.Details.
type userV3AlphaServer struct {
	userv3alpha.UnimplementedUserServiceServer
	core *mfa.Service
}

var _ userv3alpha.UserServiceServer = (*userV3AlphaServer)(nil)

func (s *userV3AlphaServer) remove(ctx context.Context, userID string, kind mfa.FactorKind, id string) (mfa.Details, error) {
	return s.core.RemoveAuthenticator(ctx, "", mfa.FactorRef{UserID: userID, Kind: kind, ID: id})
}

func (s *userV3AlphaServer) StartTOTPRegistration(ctx context.Context, req *userv3alpha.StartTOTPRegistrationRequest) (*userv3alpha.StartTOTPRegistrationResponse, error) {
	reg, d, err := s.core.StartTOTPRegistration(ctx, "", req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &userv3alpha.StartTOTPRegistrationResponse{Details: v2betaDetails(d), TotpId: reg.ID, Uri: reg.URI, Secret: reg.Secret}, nil
}

func (s *userV3AlphaServer) VerifyTOTPRegistration(ctx context.Context, req *userv3alpha.VerifyTOTPRegistrationRequest) (*userv3alpha.VerifyTOTPRegistrationResponse, error) {
	d, err := s.core.VerifyTOTPRegistration(ctx, "", req.GetUserId(), req.GetTotpId(), req.GetCode())
	if err != nil {
		return nil, err
	}
	return &userv3alpha.VerifyTOTPRegistrationResponse{Details: v2betaDetails(d)}, nil
}

func (s *userV3AlphaServer) RemoveTOTPAuthenticator(ctx context.Context, req *userv3alpha.RemoveTOTPAuthenticatorRequest) (*userv3alpha.RemoveTOTPAuthenticatorResponse, error) {
	d, err := s.remove(ctx, req.GetUserId(), mfa.FactorTOTP, req.GetTotpId())
	if err != nil {
		return nil, err
	}
	return &userv3alpha.RemoveTOTPAuthenticatorResponse{Details: v2betaDetails(d)}, nil
}

func (s *userV3AlphaServer) StartWebAuthNRegistration(ctx context.Context, req *userv3alpha.StartWebAuthNRegistrationRequest) (*userv3alpha.StartWebAuthNRegistrationResponse, error) {
	if req.GetCode() != nil {
		return nil, errUnsupported("code")
	}
	reg, d, err := s.core.StartWebAuthNRegistration(ctx, "", req.GetUserId(), req.GetDomain(), attachmentFromPb(int32(req.GetAuthenticatorType())))
	if err != nil {
		return nil, err
	}
	opts, err := toStruct(reg.Options)
	if err != nil {
		return nil, err
	}
	return &userv3alpha.StartWebAuthNRegistrationResponse{Details: v2betaDetails(d), WebAuthNId: reg.ID, PublicKeyCredentialCreationOptions: opts}, nil
}

func (s *userV3AlphaServer) VerifyWebAuthNRegistration(ctx context.Context, req *userv3alpha.VerifyWebAuthNRegistrationRequest) (*userv3alpha.VerifyWebAuthNRegistrationResponse, error) {
	cred, err := fromStruct(req.GetPublicKeyCredential())
	if err != nil {
		return nil, err
	}
	d, err := s.core.VerifyWebAuthNRegistration(ctx, "", req.GetUserId(), req.GetWebAuthNId(), cred, req.GetWebAuthNName())
	if err != nil {
		return nil, err
	}
	return &userv3alpha.VerifyWebAuthNRegistrationResponse{Details: v2betaDetails(d)}, nil
}

func (s *userV3AlphaServer) RemoveWebAuthNAuthenticator(ctx context.Context, req *userv3alpha.RemoveWebAuthNAuthenticatorRequest) (*userv3alpha.RemoveWebAuthNAuthenticatorResponse, error) {
	d, err := s.remove(ctx, req.GetUserId(), mfa.FactorU2F, req.GetWebAuthNId())
	if err != nil {
		return nil, err
	}
	return &userv3alpha.RemoveWebAuthNAuthenticatorResponse{Details: v2betaDetails(d)}, nil
}

func (s *userV3AlphaServer) AddOTPSMSAuthenticator(ctx context.Context, req *userv3alpha.AddOTPSMSAuthenticatorRequest) (*userv3alpha.AddOTPSMSAuthenticatorResponse, error) {
	p := req.GetPhone()
	reg, d, err := s.core.AddOTPSMSAuthenticator(ctx, "", req.GetUserId(), p.GetNumber(), otpProofFromPb(p.GetIsVerified(), p.GetReturnCode() != nil))
	if err != nil {
		return nil, err
	}
	return &userv3alpha.AddOTPSMSAuthenticatorResponse{Details: v2betaDetails(d), OtpSmsId: reg.ID, VerificationCode: verificationCode(reg)}, nil
}

func (s *userV3AlphaServer) VerifyOTPSMSRegistration(ctx context.Context, req *userv3alpha.VerifyOTPSMSRegistrationRequest) (*userv3alpha.VerifyOTPSMSRegistrationResponse, error) {
	d, err := s.core.VerifyOTPSMSRegistration(ctx, "", req.GetUserId(), req.GetOtpSmsId(), req.GetCode())
	if err != nil {
		return nil, err
	}
	return &userv3alpha.VerifyOTPSMSRegistrationResponse{Details: v2betaDetails(d)}, nil
}

func (s *userV3AlphaServer) RemoveOTPSMSAuthenticator(ctx context.Context, req *userv3alpha.RemoveOTPSMSAuthenticatorRequest) (*userv3alpha.RemoveOTPSMSAuthenticatorResponse, error) {
	d, err := s.remove(ctx, req.GetUserId(), mfa.FactorOTPSMS, req.GetOtpSmsId())
	if err != nil {
		return nil, err
	}
	return &userv3alpha.RemoveOTPSMSAuthenticatorResponse{Details: v2betaDetails(d)}, nil
}

func (s *userV3AlphaServer) AddOTPEmailAuthenticator(ctx context.Context, req *userv3alpha.AddOTPEmailAuthenticatorRequest) (*userv3alpha.AddOTPEmailAuthenticatorResponse, error) {
	m := req.GetEmail()
	reg, d, err := s.core.AddOTPEmailAuthenticator(ctx, "", req.GetUserId(), m.GetAddress(), otpProofFromPb(m.GetIsVerified(), m.GetReturnCode() != nil))
	if err != nil {
		return nil, err
	}
	return &userv3alpha.AddOTPEmailAuthenticatorResponse{Details: v2betaDetails(d), OtpEmailId: reg.ID, VerificationCode: verificationCode(reg)}, nil
}

func (s *userV3AlphaServer) VerifyOTPEmailRegistration(ctx context.Context, req *userv3alpha.VerifyOTPEmailRegistrationRequest) (*userv3alpha.VerifyOTPEmailRegistrationResponse, error) {
	d, err := s.core.VerifyOTPEmailRegistration(ctx, "", req.GetUserId(), req.GetOtpEmailId(), req.GetCode())
	if err != nil {
		return nil, err
	}
	return &userv3alpha.VerifyOTPEmailRegistrationResponse{Details: v2betaDetails(d)}, nil
}

func (s *userV3AlphaServer) RemoveOTPEmailAuthenticator(ctx context.Context, req *userv3alpha.RemoveOTPEmailAuthenticatorRequest) (*userv3alpha.RemoveOTPEmailAuthenticatorResponse, error) {
	d, err := s.remove(ctx, req.GetUserId(), mfa.FactorOTPEmail, req.GetOtpEmailId())
	if err != nil {
		return nil, err
	}
	return &userv3alpha.RemoveOTPEmailAuthenticatorResponse{Details: v2betaDetails(d)}, nil
}
