package zitadel

import (
	"context"

	objectv2beta "github.com/factorgate/factorgate/gen/zitadel/object/v2beta"
	userv2beta "github.com/factorgate/factorgate/gen/zitadel/user/v2beta"
	"github.com/factorgate/factorgate/server/mfa"
)

// userV2BetaServer implements the factor calls of the older
// zitadel.user.v2beta.UserService (it has no RemoveU2F). Same rules as v2.
type userV2BetaServer struct {
	userv2beta.UnimplementedUserServiceServer
	core *mfa.Service
}

var _ userv2beta.UserServiceServer = (*userV2BetaServer)(nil)

func v2betaDetails(d mfa.Details) *objectv2beta.Details {
	return &objectv2beta.Details{Sequence: d.Sequence, ChangeDate: ts(d.EventDate), ResourceOwner: d.ResourceOwner}
}

func (s *userV2BetaServer) RegisterTOTP(ctx context.Context, req *userv2beta.RegisterTOTPRequest) (*userv2beta.RegisterTOTPResponse, error) {
	reg, d, err := s.core.RegisterTOTP(ctx, "", req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &userv2beta.RegisterTOTPResponse{Details: v2betaDetails(d), Uri: reg.URI, Secret: reg.Secret}, nil
}

func (s *userV2BetaServer) VerifyTOTPRegistration(ctx context.Context, req *userv2beta.VerifyTOTPRegistrationRequest) (*userv2beta.VerifyTOTPRegistrationResponse, error) {
	d, err := s.core.VerifyTOTP(ctx, "", req.GetUserId(), "", req.GetCode())
	if err != nil {
		return nil, err
	}
	return &userv2beta.VerifyTOTPRegistrationResponse{Details: v2betaDetails(d)}, nil
}

func (s *userV2BetaServer) RemoveTOTP(ctx context.Context, req *userv2beta.RemoveTOTPRequest) (*userv2beta.RemoveTOTPResponse, error) {
	d, err := s.core.RemoveFactor(ctx, "", mfa.FactorRef{UserID: req.GetUserId(), Kind: mfa.FactorTOTP})
	if err != nil {
		return nil, err
	}
	return &userv2beta.RemoveTOTPResponse{Details: v2betaDetails(d)}, nil
}

func (s *userV2BetaServer) RegisterU2F(ctx context.Context, req *userv2beta.RegisterU2FRequest) (*userv2beta.RegisterU2FResponse, error) {
	reg, d, err := s.core.RegisterU2F(ctx, "", req.GetUserId(), req.GetDomain())
	if err != nil {
		return nil, err
	}
	opts, err := toStruct(reg.Options)
	if err != nil {
		return nil, err
	}
	return &userv2beta.RegisterU2FResponse{Details: v2betaDetails(d), U2FId: reg.ID, PublicKeyCredentialCreationOptions: opts}, nil
}

func (s *userV2BetaServer) VerifyU2FRegistration(ctx context.Context, req *userv2beta.VerifyU2FRegistrationRequest) (*userv2beta.VerifyU2FRegistrationResponse, error) {
	cred, err := fromStruct(req.GetPublicKeyCredential())
	if err != nil {
		return nil, err
	}
	d, err := s.core.VerifyU2FRegistration(ctx, "", req.GetUserId(), req.GetU2FId(), cred, req.GetTokenName())
	if err != nil {
		return nil, err
	}
	return &userv2beta.VerifyU2FRegistrationResponse{Details: v2betaDetails(d)}, nil
}

func (s *userV2BetaServer) AddOTPSMS(ctx context.Context, req *userv2beta.AddOTPSMSRequest) (*userv2beta.AddOTPSMSResponse, error) {
	_, d, err := s.core.AddOTPSMS(ctx, "", req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &userv2beta.AddOTPSMSResponse{Details: v2betaDetails(d)}, nil
}

func (s *userV2BetaServer) RemoveOTPSMS(ctx context.Context, req *userv2beta.RemoveOTPSMSRequest) (*userv2beta.RemoveOTPSMSResponse, error) {
	d, err := s.core.RemoveFactor(ctx, "", mfa.FactorRef{UserID: req.GetUserId(), Kind: mfa.FactorOTPSMS})
	if err != nil {
		return nil, err
	}
	return &userv2beta.RemoveOTPSMSResponse{Details: v2betaDetails(d)}, nil
}

func (s *userV2BetaServer) AddOTPEmail(ctx context.Context, req *userv2beta.AddOTPEmailRequest) (*userv2beta.AddOTPEmailResponse, error) {
	_, d, err := s.core.AddOTPEmail(ctx, "", req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &userv2beta.AddOTPEmailResponse{Details: v2betaDetails(d)}, nil
}

func (s *userV2BetaServer) RemoveOTPEmail(ctx context.Context, req *userv2beta.RemoveOTPEmailRequest) (*userv2beta.RemoveOTPEmailResponse, error) {
	d, err := s.core.RemoveFactor(ctx, "", mfa.FactorRef{UserID: req.GetUserId(), Kind: mfa.FactorOTPEmail})
	if err != nil {
		return nil, err
	}
	return &userv2beta.RemoveOTPEmailResponse{Details: v2betaDetails(d)}, nil
}

var authMethodToV2Beta = map[mfa.AuthMethod]userv2beta.AuthenticationMethodType{
	mfa.AuthMethodPassword: userv2beta.AuthenticationMethodType_AUTHENTICATION_METHOD_TYPE_PASSWORD,
	mfa.AuthMethodTOTP:     userv2beta.AuthenticationMethodType_AUTHENTICATION_METHOD_TYPE_TOTP,
	mfa.AuthMethodU2F:      userv2beta.AuthenticationMethodType_AUTHENTICATION_METHOD_TYPE_U2F,
	mfa.AuthMethodOTPSMS:   userv2beta.AuthenticationMethodType_AUTHENTICATION_METHOD_TYPE_OTP_SMS,
	mfa.AuthMethodOTPEmail: userv2beta.AuthenticationMethodType_AUTHENTICATION_METHOD_TYPE_OTP_EMAIL,
}

func (s *userV2BetaServer) ListAuthenticationMethodTypes(ctx context.Context, req *userv2beta.ListAuthenticationMethodTypesRequest) (*userv2beta.ListAuthenticationMethodTypesResponse, error) {
	ms, err := s.core.AuthMethods(ctx, "", req.GetUserId())
	if err != nil {
		return nil, err
	}
	out := make([]userv2beta.AuthenticationMethodType, 0, len(ms))
	for _, m := range ms {
		out = append(out, authMethodToV2Beta[m])
	}
	return &userv2beta.ListAuthenticationMethodTypesResponse{
		Details:         &objectv2beta.ListDetails{TotalResult: uint64(len(out)), Timestamp: ts(nowUTC())},
		AuthMethodTypes: out,
	}, nil
}
