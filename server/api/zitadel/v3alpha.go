package zitadel

import (
	"context"

	objectv3alpha "github.com/factorgate/factorgate/gen/zitadel/object/v3alpha"
	resuser "github.com/factorgate/factorgate/gen/zitadel/resources/user/v3alpha"
	"github.com/factorgate/factorgate/server/mfa"
)

// resourceUserServer implements the authenticator calls of
// zitadel.resources.user.v3alpha.ZITADELUsers, which ZITADEL itself answers
// with Unimplemented. The user is field 3 (id); the optional organization
// confines the call to that organization's users. Every call goes to the
// core's resource API (mfa.Service.StartTOTPRegistration and its
// siblings): a missing user, a user of another organization and a wrong
// factor id all answer the factor kind's NotFound.
type resourceUserServer struct {
	resuser.UnimplementedZITADELUsersServer
	core *mfa.Service
}

var _ resuser.ZITADELUsersServer = (*resourceUserServer)(nil)

// errInstanceNotFound answers a request naming another instance.
var errInstanceNotFound = &mfa.Error{Kind: mfa.KindNotFound, ID: "INSTANCE-fg404", Key: "Errors.Instance.NotFound", Message: "Instance not found"}

// scope resolves the optional instance and organization of a request to
// the organization the user must belong to ("" for any). Domains are not
// supported: this server has no domains.
func (s *resourceUserServer) scope(inst *objectv3alpha.Instance, org *objectv3alpha.Organization) (string, error) {
	switch {
	case inst.GetDomain() != "":
		return "", errUnsupported("instance.domain")
	case inst.GetId() != "" && inst.GetId() != s.core.InstanceID():
		return "", errInstanceNotFound
	case org.GetOrgDomain() != "":
		return "", errUnsupported("organization.org_domain")
	}
	return org.GetOrgId(), nil
}

// resourceRequest is what every per-user request of the service has.
type resourceRequest interface {
	GetInstance() *objectv3alpha.Instance
	GetOrganization() *objectv3alpha.Organization
	GetId() string
}

func (s *resourceUserServer) remove(ctx context.Context, req resourceRequest, kind mfa.FactorKind, id string) (mfa.Details, error) {
	org, err := s.scope(req.GetInstance(), req.GetOrganization())
	if err != nil {
		return mfa.Details{}, err
	}
	return s.core.RemoveAuthenticator(ctx, org, mfa.FactorRef{UserID: req.GetId(), Kind: kind, ID: id})
}

func (s *resourceUserServer) StartTOTPRegistration(ctx context.Context, req *resuser.StartTOTPRegistrationRequest) (*resuser.StartTOTPRegistrationResponse, error) {
	org, err := s.scope(req.GetInstance(), req.GetOrganization())
	if err != nil {
		return nil, err
	}
	reg, d, err := s.core.StartTOTPRegistration(ctx, org, req.GetId())
	if err != nil {
		return nil, err
	}
	return &resuser.StartTOTPRegistrationResponse{Details: resourceDetails(d), TotpId: reg.ID, Uri: reg.URI, Secret: reg.Secret}, nil
}

func (s *resourceUserServer) VerifyTOTPRegistration(ctx context.Context, req *resuser.VerifyTOTPRegistrationRequest) (*resuser.VerifyTOTPRegistrationResponse, error) {
	org, err := s.scope(req.GetInstance(), req.GetOrganization())
	if err != nil {
		return nil, err
	}
	d, err := s.core.VerifyTOTPRegistration(ctx, org, req.GetId(), req.GetTotpId(), req.GetCode())
	if err != nil {
		return nil, err
	}
	return &resuser.VerifyTOTPRegistrationResponse{Details: resourceDetails(d)}, nil
}

func (s *resourceUserServer) RemoveTOTPAuthenticator(ctx context.Context, req *resuser.RemoveTOTPAuthenticatorRequest) (*resuser.RemoveTOTPAuthenticatorResponse, error) {
	d, err := s.remove(ctx, req, mfa.FactorTOTP, req.GetTotpId())
	if err != nil {
		return nil, err
	}
	return &resuser.RemoveTOTPAuthenticatorResponse{Details: resourceDetails(d)}, nil
}

func (s *resourceUserServer) StartWebAuthNRegistration(ctx context.Context, req *resuser.StartWebAuthNRegistrationRequest) (*resuser.StartWebAuthNRegistrationResponse, error) {
	org, err := s.scope(req.GetInstance(), req.GetOrganization())
	if err != nil {
		return nil, err
	}
	r := req.GetRegistration()
	if r.GetCode() != nil {
		return nil, errUnsupported("registration.code")
	}
	reg, d, err := s.core.StartWebAuthNRegistration(ctx, org, req.GetId(), r.GetDomain(), attachmentFromPb(int32(r.GetAuthenticatorType())))
	if err != nil {
		return nil, err
	}
	opts, err := toStruct(reg.Options)
	if err != nil {
		return nil, err
	}
	return &resuser.StartWebAuthNRegistrationResponse{Details: resourceDetails(d), WebAuthNId: reg.ID, PublicKeyCredentialCreationOptions: opts}, nil
}

func (s *resourceUserServer) VerifyWebAuthNRegistration(ctx context.Context, req *resuser.VerifyWebAuthNRegistrationRequest) (*resuser.VerifyWebAuthNRegistrationResponse, error) {
	org, err := s.scope(req.GetInstance(), req.GetOrganization())
	if err != nil {
		return nil, err
	}
	cred, err := fromStruct(req.GetVerify().GetPublicKeyCredential())
	if err != nil {
		return nil, err
	}
	d, err := s.core.VerifyWebAuthNRegistration(ctx, org, req.GetId(), req.GetWebAuthNId(), cred, req.GetVerify().GetWebAuthNName())
	if err != nil {
		return nil, err
	}
	return &resuser.VerifyWebAuthNRegistrationResponse{Details: resourceDetails(d)}, nil
}

func (s *resourceUserServer) RemoveWebAuthNAuthenticator(ctx context.Context, req *resuser.RemoveWebAuthNAuthenticatorRequest) (*resuser.RemoveWebAuthNAuthenticatorResponse, error) {
	d, err := s.remove(ctx, req, mfa.FactorU2F, req.GetWebAuthNId())
	if err != nil {
		return nil, err
	}
	return &resuser.RemoveWebAuthNAuthenticatorResponse{Details: resourceDetails(d)}, nil
}

func (s *resourceUserServer) AddOTPSMSAuthenticator(ctx context.Context, req *resuser.AddOTPSMSAuthenticatorRequest) (*resuser.AddOTPSMSAuthenticatorResponse, error) {
	org, err := s.scope(req.GetInstance(), req.GetOrganization())
	if err != nil {
		return nil, err
	}
	p := req.GetPhone()
	reg, d, err := s.core.AddOTPSMSAuthenticator(ctx, org, req.GetId(), p.GetNumber(), otpProofFromPb(p.GetIsVerified(), p.GetReturnCode() != nil))
	if err != nil {
		return nil, err
	}
	return &resuser.AddOTPSMSAuthenticatorResponse{Details: resourceDetails(d), OtpSmsId: reg.ID, VerificationCode: verificationCode(reg)}, nil
}

func (s *resourceUserServer) VerifyOTPSMSRegistration(ctx context.Context, req *resuser.VerifyOTPSMSRegistrationRequest) (*resuser.VerifyOTPSMSRegistrationResponse, error) {
	org, err := s.scope(req.GetInstance(), req.GetOrganization())
	if err != nil {
		return nil, err
	}
	d, err := s.core.VerifyOTPSMSRegistration(ctx, org, req.GetId(), req.GetOtpSmsId(), req.GetCode())
	if err != nil {
		return nil, err
	}
	return &resuser.VerifyOTPSMSRegistrationResponse{Details: resourceDetails(d)}, nil
}

func (s *resourceUserServer) RemoveOTPSMSAuthenticator(ctx context.Context, req *resuser.RemoveOTPSMSAuthenticatorRequest) (*resuser.RemoveOTPSMSAuthenticatorResponse, error) {
	d, err := s.remove(ctx, req, mfa.FactorOTPSMS, req.GetOtpSmsId())
	if err != nil {
		return nil, err
	}
	return &resuser.RemoveOTPSMSAuthenticatorResponse{Details: resourceDetails(d)}, nil
}

func (s *resourceUserServer) AddOTPEmailAuthenticator(ctx context.Context, req *resuser.AddOTPEmailAuthenticatorRequest) (*resuser.AddOTPEmailAuthenticatorResponse, error) {
	org, err := s.scope(req.GetInstance(), req.GetOrganization())
	if err != nil {
		return nil, err
	}
	m := req.GetEmail()
	reg, d, err := s.core.AddOTPEmailAuthenticator(ctx, org, req.GetId(), m.GetAddress(), otpProofFromPb(m.GetIsVerified(), m.GetReturnCode() != nil))
	if err != nil {
		return nil, err
	}
	return &resuser.AddOTPEmailAuthenticatorResponse{Details: resourceDetails(d), OtpEmailId: reg.ID, VerificationCode: verificationCode(reg)}, nil
}

func (s *resourceUserServer) VerifyOTPEmailRegistration(ctx context.Context, req *resuser.VerifyOTPEmailRegistrationRequest) (*resuser.VerifyOTPEmailRegistrationResponse, error) {
	org, err := s.scope(req.GetInstance(), req.GetOrganization())
	if err != nil {
		return nil, err
	}
	d, err := s.core.VerifyOTPEmailRegistration(ctx, org, req.GetId(), req.GetOtpEmailId(), req.GetCode())
	if err != nil {
		return nil, err
	}
	return &resuser.VerifyOTPEmailRegistrationResponse{Details: resourceDetails(d)}, nil
}

func (s *resourceUserServer) RemoveOTPEmailAuthenticator(ctx context.Context, req *resuser.RemoveOTPEmailAuthenticatorRequest) (*resuser.RemoveOTPEmailAuthenticatorResponse, error) {
	d, err := s.remove(ctx, req, mfa.FactorOTPEmail, req.GetOtpEmailId())
	if err != nil {
		return nil, err
	}
	return &resuser.RemoveOTPEmailAuthenticatorResponse{Details: resourceDetails(d)}, nil
}
