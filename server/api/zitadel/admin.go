package zitadel

import (
	"context"

	"github.com/factorgate/factorgate/gen/zitadel/admin"
	"github.com/factorgate/factorgate/server/mfa"
)

// adminServer implements zitadel.admin.v1.AdminService: the instance's
// default login policy and instance members.
type adminServer struct {
	admin.UnimplementedAdminServiceServer
	core *mfa.Service
}

var _ admin.AdminServiceServer = (*adminServer)(nil)

func (s *adminServer) GetLoginPolicy(ctx context.Context, _ *admin.GetLoginPolicyRequest) (*admin.GetLoginPolicyResponse, error) {
	v, err := s.core.GetDefaultLoginPolicy(ctx)
	if err != nil {
		return nil, err
	}
	return &admin.GetLoginPolicyResponse{Policy: loginPolicyToPb(v)}, nil
}

func (s *adminServer) ListLoginPolicySecondFactors(ctx context.Context, _ *admin.ListLoginPolicySecondFactorsRequest) (*admin.ListLoginPolicySecondFactorsResponse, error) {
	fs, d, err := s.core.ListDefaultSecondFactors(ctx)
	if err != nil {
		return nil, err
	}
	return &admin.ListLoginPolicySecondFactorsResponse{Details: listDetails(len(fs), d.EventDate), Result: secondFactorsToPb(fs)}, nil
}

func (s *adminServer) AddSecondFactorToLoginPolicy(ctx context.Context, req *admin.AddSecondFactorToLoginPolicyRequest) (*admin.AddSecondFactorToLoginPolicyResponse, error) {
	d, err := s.core.AddDefaultSecondFactor(ctx, secondFactorFromPb(req.GetType()))
	if err != nil {
		return nil, err
	}
	return &admin.AddSecondFactorToLoginPolicyResponse{Details: addDetails(d)}, nil
}

func (s *adminServer) RemoveSecondFactorFromLoginPolicy(ctx context.Context, req *admin.RemoveSecondFactorFromLoginPolicyRequest) (*admin.RemoveSecondFactorFromLoginPolicyResponse, error) {
	d, err := s.core.RemoveDefaultSecondFactor(ctx, secondFactorFromPb(req.GetType()))
	if err != nil {
		return nil, err
	}
	return &admin.RemoveSecondFactorFromLoginPolicyResponse{Details: changeDetails(d)}, nil
}

func (s *adminServer) AddIAMMember(ctx context.Context, req *admin.AddIAMMemberRequest) (*admin.AddIAMMemberResponse, error) {
	d, err := s.core.AddIAMMember(ctx, req.GetUserId(), req.GetRoles())
	if err != nil {
		return nil, err
	}
	return &admin.AddIAMMemberResponse{Details: addDetails(d)}, nil
}
