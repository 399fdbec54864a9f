package zitadel

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	mgmt "github.com/factorgate/factorgate/gen/zitadel/management"
	"github.com/factorgate/factorgate/gen/zitadel/policy"
	"github.com/factorgate/factorgate/server/api"
	"github.com/factorgate/factorgate/server/mfa"
)

// managementServer implements zitadel.management.v1.ManagementService.
// Every call acts in the request's organization context (the
// x-zitadel-orgid header, or the caller's own organization).
type managementServer struct {
	mgmt.UnimplementedManagementServiceServer
	core *mfa.Service
}

var _ mgmt.ManagementServiceServer = (*managementServer)(nil)

func (s *managementServer) removeFactor(ctx context.Context, ref mfa.FactorRef) (mfa.Details, error) {
	return s.core.RemoveFactor(ctx, api.OrgID(ctx), ref)
}

func (s *managementServer) RemoveHumanAuthFactorOTP(ctx context.Context, req *mgmt.RemoveHumanAuthFactorOTPRequest) (*mgmt.RemoveHumanAuthFactorOTPResponse, error) {
	d, err := s.removeFactor(ctx, mfa.FactorRef{UserID: req.GetUserId(), Kind: mfa.FactorTOTP})
	if err != nil {
		return nil, err
	}
	return &mgmt.RemoveHumanAuthFactorOTPResponse{Details: changeDetails(d)}, nil
}

func (s *managementServer) RemoveHumanAuthFactorU2F(ctx context.Context, req *mgmt.RemoveHumanAuthFactorU2FRequest) (*mgmt.RemoveHumanAuthFactorU2FResponse, error) {
	d, err := s.removeFactor(ctx, mfa.FactorRef{UserID: req.GetUserId(), Kind: mfa.FactorU2F, ID: req.GetTokenId()})
	if err != nil {
		return nil, err
	}
	return &mgmt.RemoveHumanAuthFactorU2FResponse{Details: changeDetails(d)}, nil
}

func (s *managementServer) RemoveHumanAuthFactorOTPSMS(ctx context.Context, req *mgmt.RemoveHumanAuthFactorOTPSMSRequest) (*mgmt.RemoveHumanAuthFactorOTPSMSResponse, error) {
	d, err := s.removeFactor(ctx, mfa.FactorRef{UserID: req.GetUserId(), Kind: mfa.FactorOTPSMS})
	if err != nil {
		return nil, err
	}
	return &mgmt.RemoveHumanAuthFactorOTPSMSResponse{Details: changeDetails(d)}, nil
}

func (s *managementServer) RemoveHumanAuthFactorOTPEmail(ctx context.Context, req *mgmt.RemoveHumanAuthFactorOTPEmailRequest) (*mgmt.RemoveHumanAuthFactorOTPEmailResponse, error) {
	d, err := s.removeFactor(ctx, mfa.FactorRef{UserID: req.GetUserId(), Kind: mfa.FactorOTPEmail})
	if err != nil {
		return nil, err
	}
	return &mgmt.RemoveHumanAuthFactorOTPEmailResponse{Details: changeDetails(d)}, nil
}

func (s *managementServer) ListHumanAuthFactors(ctx context.Context, req *mgmt.ListHumanAuthFactorsRequest) (*mgmt.ListHumanAuthFactorsResponse, error) {
	fs, err := s.core.ListFactors(ctx, api.OrgID(ctx), req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &mgmt.ListHumanAuthFactorsResponse{Result: authFactorsToPb(fs)}, nil
}

func (s *managementServer) GetLoginPolicy(ctx context.Context, _ *mgmt.GetLoginPolicyRequest) (*mgmt.GetLoginPolicyResponse, error) {
	v, err := s.core.GetLoginPolicy(ctx, api.OrgID(ctx))
	if err != nil {
		return nil, err
	}
	return &mgmt.GetLoginPolicyResponse{Policy: loginPolicyToPb(v), IsDefault: v.IsDefault}, nil
}

func (s *managementServer) GetDefaultLoginPolicy(ctx context.Context, _ *mgmt.GetDefaultLoginPolicyRequest) (*mgmt.GetDefaultLoginPolicyResponse, error) {
	v, err := s.core.GetDefaultLoginPolicy(ctx)
	if err != nil {
		return nil, err
	}
	return &mgmt.GetDefaultLoginPolicyResponse{Policy: loginPolicyToPb(v)}, nil
}

func (s *managementServer) AddCustomLoginPolicy(ctx context.Context, req *mgmt.AddCustomLoginPolicyRequest) (*mgmt.AddCustomLoginPolicyResponse, error) {
	if len(req.GetIdps()) > 0 {
		return nil, errIDPNotFound
	}
	pol, err := addPolicyFromPb(req)
	if err != nil {
		return nil, err
	}
	d, err := s.core.AddCustomLoginPolicy(ctx, api.OrgID(ctx), pol)
	if err != nil {
		return nil, err
	}
	return &mgmt.AddCustomLoginPolicyResponse{Details: addDetails(d)}, nil
}

func (s *managementServer) UpdateCustomLoginPolicy(ctx context.Context, req *mgmt.UpdateCustomLoginPolicyRequest) (*mgmt.UpdateCustomLoginPolicyResponse, error) {
	d, err := s.core.UpdateCustomLoginPolicy(ctx, api.OrgID(ctx), policyFromPb(req))
	if err != nil {
		return nil, err
	}
	return &mgmt.UpdateCustomLoginPolicyResponse{Details: changeDetails(d)}, nil
}

func (s *managementServer) ResetLoginPolicyToDefault(ctx context.Context, _ *mgmt.ResetLoginPolicyToDefaultRequest) (*mgmt.ResetLoginPolicyToDefaultResponse, error) {
	d, err := s.core.ResetLoginPolicyToDefault(ctx, api.OrgID(ctx))
	if err != nil {
		return nil, err
	}
	return &mgmt.ResetLoginPolicyToDefaultResponse{Details: changeDetails(d)}, nil
}

func (s *managementServer) ListLoginPolicySecondFactors(ctx context.Context, _ *mgmt.ListLoginPolicySecondFactorsRequest) (*mgmt.ListLoginPolicySecondFactorsResponse, error) {
	fs, err := s.core.ListSecondFactors(ctx, api.OrgID(ctx))
	if err != nil {
		return nil, err
	}
	return &mgmt.ListLoginPolicySecondFactorsResponse{Details: listDetails(len(fs), time.Now()), Result: secondFactorsToPb(fs)}, nil
}

func (s *managementServer) AddSecondFactorToLoginPolicy(ctx context.Context, req *mgmt.AddSecondFactorToLoginPolicyRequest) (*mgmt.AddSecondFactorToLoginPolicyResponse, error) {
	d, err := s.core.AddSecondFactor(ctx, api.OrgID(ctx), secondFactorFromPb(req.GetType()))
	if err != nil {
		return nil, err
	}
	return &mgmt.AddSecondFactorToLoginPolicyResponse{Details: addDetails(d)}, nil
}

func (s *managementServer) RemoveSecondFactorFromLoginPolicy(ctx context.Context, req *mgmt.RemoveSecondFactorFromLoginPolicyRequest) (*mgmt.RemoveSecondFactorFromLoginPolicyResponse, error) {
	d, err := s.core.RemoveSecondFactor(ctx, api.OrgID(ctx), secondFactorFromPb(req.GetType()))
	if err != nil {
		return nil, err
	}
	return &mgmt.RemoveSecondFactorFromLoginPolicyResponse{Details: changeDetails(d)}, nil
}

func (s *managementServer) AddMachineUser(ctx context.Context, req *mgmt.AddMachineUserRequest) (*mgmt.AddMachineUserResponse, error) {
	d, err := s.core.AddMachineUser(ctx, api.OrgID(ctx), mfa.MachineInput{
		UserID: req.GetUserId(), Username: req.GetUserName(), Name: req.GetName(),
		Description: req.GetDescription(), AccessTokenType: int(req.GetAccessTokenType()),
	})
	if err != nil {
		return nil, err
	}
	return &mgmt.AddMachineUserResponse{UserId: d.ID, Details: addDetails(d)}, nil
}

func (s *managementServer) AddPersonalAccessToken(ctx context.Context, req *mgmt.AddPersonalAccessTokenRequest) (*mgmt.AddPersonalAccessTokenResponse, error) {
	var expiry time.Time
	if e := req.GetExpirationDate(); e != nil {
		expiry = e.AsTime()
	}
	id, token, d, err := s.core.AddPersonalAccessToken(ctx, api.OrgID(ctx), req.GetUserId(), expiry)
	if err != nil {
		return nil, err
	}
	return &mgmt.AddPersonalAccessTokenResponse{TokenId: id, Token: token, Details: addDetails(d)}, nil
}

func (s *managementServer) GenerateMachineSecret(ctx context.Context, req *mgmt.GenerateMachineSecretRequest) (*mgmt.GenerateMachineSecretResponse, error) {
	clientID, secret, d, err := s.core.GenerateMachineSecret(ctx, api.OrgID(ctx), req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &mgmt.GenerateMachineSecretResponse{ClientId: clientID, ClientSecret: secret, Details: changeDetails(d)}, nil
}

func (s *managementServer) AddOrgMember(ctx context.Context, req *mgmt.AddOrgMemberRequest) (*mgmt.AddOrgMemberResponse, error) {
	d, err := s.core.AddOrgMember(ctx, api.OrgID(ctx), req.GetUserId(), req.GetRoles())
	if err != nil {
		return nil, err
	}
	return &mgmt.AddOrgMemberResponse{Details: addDetails(d)}, nil
}

var errIDPNotFound = &mfa.Error{Kind: mfa.KindFailedPrecondition, ID: "Org-6M9ds", Key: "Errors.IDPConfig.NotExisting", Message: "IDP configuration does not exist"}

func passwordless(t policy.PasswordlessType) bool {
	return t == policy.PasswordlessType_PASSWORDLESS_TYPE_ALLOWED
}

// policyRequest is what AddCustomLoginPolicyRequest and
// UpdateCustomLoginPolicyRequest have in common (their field numbers differ,
// their getters do not).
type policyRequest interface {
	GetAllowUsernamePassword() bool
	GetAllowRegister() bool
	GetAllowExternalIdp() bool
	GetForceMfa() bool
	GetForceMfaLocalOnly() bool
	GetPasswordlessType() policy.PasswordlessType
	GetHidePasswordReset() bool
	GetIgnoreUnknownUsernames() bool
	GetAllowDomainDiscovery() bool
	GetDisableLoginWithEmail() bool
	GetDisableLoginWithPhone() bool
	GetDefaultRedirectUri() string
	GetPasswordCheckLifetime() *durationpb.Duration
	GetExternalLoginCheckLifetime() *durationpb.Duration
	GetMfaInitSkipLifetime() *durationpb.Duration
	GetSecondFactorCheckLifetime() *durationpb.Duration
	GetMultiFactorCheckLifetime() *durationpb.Duration
}

func policyFromPb(req policyRequest) mfa.LoginPolicy {
	return mfa.LoginPolicy{
		AllowUsernamePassword: req.GetAllowUsernamePassword(), AllowRegister: req.GetAllowRegister(),
		AllowExternalIDP: req.GetAllowExternalIdp(), ForceMFA: req.GetForceMfa(), ForceMFALocalOnly: req.GetForceMfaLocalOnly(),
		PasswordlessAllowed: passwordless(req.GetPasswordlessType()), HidePasswordReset: req.GetHidePasswordReset(),
		IgnoreUnknownUsernames: req.GetIgnoreUnknownUsernames(), AllowDomainDiscovery: req.GetAllowDomainDiscovery(),
		DisableLoginWithEmail: req.GetDisableLoginWithEmail(), DisableLoginWithPhone: req.GetDisableLoginWithPhone(),
		DefaultRedirectURI:         req.GetDefaultRedirectUri(),
		PasswordCheckLifetime:      durFromPb(req.GetPasswordCheckLifetime()),
		ExternalLoginCheckLifetime: durFromPb(req.GetExternalLoginCheckLifetime()),
		MFAInitSkipLifetime:        durFromPb(req.GetMfaInitSkipLifetime()),
		SecondFactorCheckLifetime:  durFromPb(req.GetSecondFactorCheckLifetime()),
		MultiFactorCheckLifetime:   durFromPb(req.GetMultiFactorCheckLifetime()),
	}
}

func addPolicyFromPb(req *mgmt.AddCustomLoginPolicyRequest) (mfa.LoginPolicy, error) {
	pol := policyFromPb(req)
	for _, t := range req.GetSecondFactors() {
		pol.SecondFactors = append(pol.SecondFactors, secondFactorFromPb(t))
	}
	for _, t := range req.GetMultiFactors() {
		if t != policy.MultiFactorType_MULTI_FACTOR_TYPE_U2F_WITH_VERIFICATION {
			return pol, &mfa.Error{Kind: mfa.KindInvalidArgument, ID: "Org-5m9fs", Key: "Errors.Org.LoginPolicy.MFA.Unspecified", Message: "Multifactor invalid"}
		}
		pol.MultiFactors = append(pol.MultiFactors, mfa.MultiFactorU2FWithVerification)
	}
	return pol, nil
}
