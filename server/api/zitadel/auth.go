package zitadel

import (
	"context"

	"github.com/factorgate/factorgate/gen/zitadel/auth"
	userv1 "github.com/factorgate/factorgate/gen/zitadel/user"
	"github.com/factorgate/factorgate/server/mfa"
)

// authServer implements zitadel.auth.v1.AuthService: self-service on the
// token's own user, in the user's own organization.
type authServer struct {
	auth.UnimplementedAuthServiceServer
	core *mfa.Service
}

var _ auth.AuthServiceServer = (*authServer)(nil)

// me returns the caller's user and organization.
func me(ctx context.Context) (user, org string) {
	p := mfa.PrincipalFrom(ctx)
	if p == nil {
		return "", ""
	}
	return p.UserID, p.OrgID
}

func (s *authServer) ListMyAuthFactors(ctx context.Context, _ *auth.ListMyAuthFactorsRequest) (*auth.ListMyAuthFactorsResponse, error) {
	user, org := me(ctx)
	fs, err := s.core.ListFactors(ctx, org, user)
	if err != nil {
		return nil, err
	}
	return &auth.ListMyAuthFactorsResponse{Result: authFactorsToPb(fs)}, nil
}

func (s *authServer) removeMine(ctx context.Context, kind mfa.FactorKind, id string) (mfa.Details, error) {
	user, org := me(ctx)
	return s.core.RemoveFactor(ctx, org, mfa.FactorRef{UserID: user, Kind: kind, ID: id})
}

func (s *authServer) AddMyAuthFactorOTP(ctx context.Context, _ *auth.AddMyAuthFactorOTPRequest) (*auth.AddMyAuthFactorOTPResponse, error) {
	user, org := me(ctx)
	reg, d, err := s.core.RegisterTOTP(ctx, org, user)
	if err != nil {
		return nil, err
	}
	return &auth.AddMyAuthFactorOTPResponse{Url: reg.URI, Secret: reg.Secret, Details: addDetails(d)}, nil
}

func (s *authServer) VerifyMyAuthFactorOTP(ctx context.Context, req *auth.VerifyMyAuthFactorOTPRequest) (*auth.VerifyMyAuthFactorOTPResponse, error) {
	user, org := me(ctx)
	d, err := s.core.VerifyTOTP(ctx, org, user, "", req.GetCode())
	if err != nil {
		return nil, err
	}
	return &auth.VerifyMyAuthFactorOTPResponse{Details: changeDetails(d)}, nil
}

func (s *authServer) RemoveMyAuthFactorOTP(ctx context.Context, _ *auth.RemoveMyAuthFactorOTPRequest) (*auth.RemoveMyAuthFactorOTPResponse, error) {
	d, err := s.removeMine(ctx, mfa.FactorTOTP, "")
	if err != nil {
		return nil, err
	}
	return &auth.RemoveMyAuthFactorOTPResponse{Details: changeDetails(d)}, nil
}

func (s *authServer) AddMyAuthFactorU2F(ctx context.Context, _ *auth.AddMyAuthFactorU2FRequest) (*auth.AddMyAuthFactorU2FResponse, error) {
	user, org := me(ctx)
	reg, d, err := s.core.RegisterU2F(ctx, org, user, "")
	if err != nil {
		return nil, err
	}
	return &auth.AddMyAuthFactorU2FResponse{Key: &userv1.WebAuthNKey{PublicKey: reg.Options}, Details: addDetails(d)}, nil
}

func (s *authServer) VerifyMyAuthFactorU2F(ctx context.Context, req *auth.VerifyMyAuthFactorU2FRequest) (*auth.VerifyMyAuthFactorU2FResponse, error) {
	user, org := me(ctx)
	v := req.GetVerification()
	d, err := s.core.VerifyU2FRegistration(ctx, org, user, "", v.GetPublicKeyCredential(), v.GetTokenName())
	if err != nil {
		return nil, err
	}
	return &auth.VerifyMyAuthFactorU2FResponse{Details: changeDetails(d)}, nil
}

func (s *authServer) RemoveMyAuthFactorU2F(ctx context.Context, req *auth.RemoveMyAuthFactorU2FRequest) (*auth.RemoveMyAuthFactorU2FResponse, error) {
	d, err := s.removeMine(ctx, mfa.FactorU2F, req.GetTokenId())
	if err != nil {
		return nil, err
	}
	return &auth.RemoveMyAuthFactorU2FResponse{Details: changeDetails(d)}, nil
}

func (s *authServer) AddMyAuthFactorOTPSMS(ctx context.Context, _ *auth.AddMyAuthFactorOTPSMSRequest) (*auth.AddMyAuthFactorOTPSMSResponse, error) {
	user, org := me(ctx)
	_, d, err := s.core.AddOTPSMS(ctx, org, user)
	if err != nil {
		return nil, err
	}
	return &auth.AddMyAuthFactorOTPSMSResponse{Details: addDetails(d)}, nil
}

func (s *authServer) RemoveMyAuthFactorOTPSMS(ctx context.Context, _ *auth.RemoveMyAuthFactorOTPSMSRequest) (*auth.RemoveMyAuthFactorOTPSMSResponse, error) {
	d, err := s.removeMine(ctx, mfa.FactorOTPSMS, "")
	if err != nil {
		return nil, err
	}
	return &auth.RemoveMyAuthFactorOTPSMSResponse{Details: changeDetails(d)}, nil
}

func (s *authServer) AddMyAuthFactorOTPEmail(ctx context.Context, _ *auth.AddMyAuthFactorOTPEmailRequest) (*auth.AddMyAuthFactorOTPEmailResponse, error) {
	user, org := me(ctx)
	_, d, err := s.core.AddOTPEmail(ctx, org, user)
	if err != nil {
		return nil, err
	}
	return &auth.AddMyAuthFactorOTPEmailResponse{Details: addDetails(d)}, nil
}

func (s *authServer) RemoveMyAuthFactorOTPEmail(ctx context.Context, _ *auth.RemoveMyAuthFactorOTPEmailRequest) (*auth.RemoveMyAuthFactorOTPEmailResponse, error) {
	d, err := s.removeMine(ctx, mfa.FactorOTPEmail, "")
	if err != nil {
		return nil, err
	}
	return &auth.RemoveMyAuthFactorOTPEmailResponse{Details: changeDetails(d)}, nil
}
