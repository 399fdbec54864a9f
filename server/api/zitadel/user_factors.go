package zitadel

import (
	"context"
	"slices"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	objectv2 "github.com/factorgate/factorgate/gen/zitadel/object/v2"
	userv2 "github.com/factorgate/factorgate/gen/zitadel/user/v2"
	"github.com/factorgate/factorgate/server/mfa"
)

// The user.v2 factor calls act on the user named in the request, in the
// user's own organization; the core checks the caller's permission there
// (removing or enrolling one's own factors needs none).

func (s *userServer) RegisterTOTP(ctx context.Context, req *userv2.RegisterTOTPRequest) (*userv2.RegisterTOTPResponse, error) {
	reg, d, err := s.core.RegisterTOTP(ctx, "", req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &userv2.RegisterTOTPResponse{Details: v2Details(d), Uri: reg.URI, Secret: reg.Secret}, nil
}

func (s *userServer) VerifyTOTPRegistration(ctx context.Context, req *userv2.VerifyTOTPRegistrationRequest) (*userv2.VerifyTOTPRegistrationResponse, error) {
	d, err := s.core.VerifyTOTP(ctx, "", req.GetUserId(), "", req.GetCode())
	if err != nil {
		return nil, err
	}
	return &userv2.VerifyTOTPRegistrationResponse{Details: v2Details(d)}, nil
}

func (s *userServer) RemoveTOTP(ctx context.Context, req *userv2.RemoveTOTPRequest) (*userv2.RemoveTOTPResponse, error) {
	d, err := s.core.RemoveFactor(ctx, "", mfa.FactorRef{UserID: req.GetUserId(), Kind: mfa.FactorTOTP})
	if err != nil {
		return nil, err
	}
	return &userv2.RemoveTOTPResponse{Details: v2Details(d)}, nil
}

func (s *userServer) RegisterU2F(ctx context.Context, req *userv2.RegisterU2FRequest) (*userv2.RegisterU2FResponse, error) {
	reg, d, err := s.core.RegisterU2F(ctx, "", req.GetUserId(), req.GetDomain())
	if err != nil {
		return nil, err
	}
	opts, err := toStruct(reg.Options)
	if err != nil {
		return nil, err
	}
	return &userv2.RegisterU2FResponse{Details: v2Details(d), U2FId: reg.ID, PublicKeyCredentialCreationOptions: opts}, nil
}

func (s *userServer) VerifyU2FRegistration(ctx context.Context, req *userv2.VerifyU2FRegistrationRequest) (*userv2.VerifyU2FRegistrationResponse, error) {
	cred, err := fromStruct(req.GetPublicKeyCredential())
	if err != nil {
		return nil, err
	}
	d, err := s.core.VerifyU2FRegistration(ctx, "", req.GetUserId(), req.GetU2FId(), cred, req.GetTokenName())
	if err != nil {
		return nil, err
	}
	return &userv2.VerifyU2FRegistrationResponse{Details: v2Details(d)}, nil
}

func (s *userServer) RemoveU2F(ctx context.Context, req *userv2.RemoveU2FRequest) (*userv2.RemoveU2FResponse, error) {
	d, err := s.core.RemoveFactor(ctx, "", mfa.FactorRef{UserID: req.GetUserId(), Kind: mfa.FactorU2F, ID: req.GetU2FId()})
	if err != nil {
		return nil, err
	}
	return &userv2.RemoveU2FResponse{Details: v2Details(d)}, nil
}

func (s *userServer) AddOTPSMS(ctx context.Context, req *userv2.AddOTPSMSRequest) (*userv2.AddOTPSMSResponse, error) {
	_, d, err := s.core.AddOTPSMS(ctx, "", req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &userv2.AddOTPSMSResponse{Details: v2Details(d)}, nil
}

func (s *userServer) RemoveOTPSMS(ctx context.Context, req *userv2.RemoveOTPSMSRequest) (*userv2.RemoveOTPSMSResponse, error) {
	d, err := s.core.RemoveFactor(ctx, "", mfa.FactorRef{UserID: req.GetUserId(), Kind: mfa.FactorOTPSMS})
	if err != nil {
		return nil, err
	}
	return &userv2.RemoveOTPSMSResponse{Details: v2Details(d)}, nil
}

func (s *userServer) AddOTPEmail(ctx context.Context, req *userv2.AddOTPEmailRequest) (*userv2.AddOTPEmailResponse, error) {
	_, d, err := s.core.AddOTPEmail(ctx, "", req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &userv2.AddOTPEmailResponse{Details: v2Details(d)}, nil
}

func (s *userServer) RemoveOTPEmail(ctx context.Context, req *userv2.RemoveOTPEmailRequest) (*userv2.RemoveOTPEmailResponse, error) {
	d, err := s.core.RemoveFactor(ctx, "", mfa.FactorRef{UserID: req.GetUserId(), Kind: mfa.FactorOTPEmail})
	if err != nil {
		return nil, err
	}
	return &userv2.RemoveOTPEmailResponse{Details: v2Details(d)}, nil
}

var authMethodToV2 = map[mfa.AuthMethod]userv2.AuthenticationMethodType{
	mfa.AuthMethodPassword: userv2.AuthenticationMethodType_AUTHENTICATION_METHOD_TYPE_PASSWORD,
	mfa.AuthMethodTOTP:     userv2.AuthenticationMethodType_AUTHENTICATION_METHOD_TYPE_TOTP,
	mfa.AuthMethodU2F:      userv2.AuthenticationMethodType_AUTHENTICATION_METHOD_TYPE_U2F,
	mfa.AuthMethodOTPSMS:   userv2.AuthenticationMethodType_AUTHENTICATION_METHOD_TYPE_OTP_SMS,
	mfa.AuthMethodOTPEmail: userv2.AuthenticationMethodType_AUTHENTICATION_METHOD_TYPE_OTP_EMAIL,
}

func (s *userServer) ListAuthenticationMethodTypes(ctx context.Context, req *userv2.ListAuthenticationMethodTypesRequest) (*userv2.ListAuthenticationMethodTypesResponse, error) {
	ms, err := s.core.AuthMethods(ctx, "", req.GetUserId())
	if err != nil {
		return nil, err
	}
	out := make([]userv2.AuthenticationMethodType, 0, len(ms))
	for _, m := range ms {
		out = append(out, authMethodToV2[m])
	}
	return &userv2.ListAuthenticationMethodTypesResponse{
		Details:         &objectv2.ListDetails{TotalResult: uint64(len(out)), Timestamp: ts(nowUTC())},
		AuthMethodTypes: out,
	}, nil
}

var factorKindToV2 = map[mfa.FactorKind]userv2.AuthFactors{
	mfa.FactorTOTP: userv2.AuthFactors_OTP, mfa.FactorOTPSMS: userv2.AuthFactors_OTP_SMS,
	mfa.FactorOTPEmail: userv2.AuthFactors_OTP_EMAIL, mfa.FactorU2F: userv2.AuthFactors_U2F,
}

// ListAuthenticationFactors lists the user's factors, filtered by type and
// state when the request names any; by default only ready factors, as
// ZITADEL does.
func (s *userServer) ListAuthenticationFactors(ctx context.Context, req *userv2.ListAuthenticationFactorsRequest) (*userv2.ListAuthenticationFactorsResponse, error) {
	fs, err := s.core.ListFactors(ctx, "", req.GetUserId())
	if err != nil {
		return nil, err
	}
	states := req.GetStates()
	if len(states) == 0 {
		states = []userv2.AuthFactorState{userv2.AuthFactorState_AUTH_FACTOR_STATE_READY}
	}
	resp := &userv2.ListAuthenticationFactorsResponse{}
	for _, f := range fs {
		if len(req.GetAuthFactors()) > 0 && !slices.Contains(req.GetAuthFactors(), factorKindToV2[f.Kind]) {
			continue
		}
		af := &userv2.AuthFactor{State: userv2.AuthFactorState_AUTH_FACTOR_STATE_NOT_READY}
		if f.State == mfa.FactorReady {
			af.State = userv2.AuthFactorState_AUTH_FACTOR_STATE_READY
		}
		if !slices.Contains(states, af.State) {
			continue
		}
		switch f.Kind {
		case mfa.FactorTOTP:
			af.Type = &userv2.AuthFactor_Otp{Otp: &userv2.AuthFactorOTP{}}
		case mfa.FactorU2F:
			af.Type = &userv2.AuthFactor_U2F{U2F: &userv2.AuthFactorU2F{Id: f.ID, Name: f.Name}}
		case mfa.FactorOTPSMS:
			af.Type = &userv2.AuthFactor_OtpSms{OtpSms: &userv2.AuthFactorOTPSMS{}}
		case mfa.FactorOTPEmail:
			af.Type = &userv2.AuthFactor_OtpEmail{OtpEmail: &userv2.AuthFactorOTPEmail{}}
		}
		resp.Result = append(resp.Result, af)
	}
	return resp, nil
}

// toStruct turns WebAuthn options JSON into the google.protobuf.Struct the
// v2 API carries.
func toStruct(data []byte) (*structpb.Struct, error) {
	st := &structpb.Struct{}
	if err := protojson.Unmarshal(data, st); err != nil {
		return nil, &mfa.Error{Kind: mfa.KindInternal, ID: "USER-fg010", Key: "Errors.Internal", Message: "Internal error", Err: err}
	}
	return st, nil
}

func fromStruct(st *structpb.Struct) ([]byte, error) {
	data, err := protojson.Marshal(st)
	if err != nil {
		return nil, mfa.ErrU2FInvalid
	}
	return data, nil
}
