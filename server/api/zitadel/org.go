package zitadel

import (
	"context"

	orgv2 "github.com/factorgate/factorgate/gen/zitadel/org/v2"
	"github.com/factorgate/factorgate/server/mfa"
)

// orgServer implements zitadel.org.v2.OrganizationService.
type orgServer struct {
	orgv2.UnimplementedOrganizationServiceServer
	core *mfa.Service
}

var _ orgv2.OrganizationServiceServer = (*orgServer)(nil)

func (s *orgServer) AddOrganization(ctx context.Context, req *orgv2.AddOrganizationRequest) (*orgv2.AddOrganizationResponse, error) {
	admins := make([]mfa.OrgAdmin, 0, len(req.GetAdmins()))
	for _, a := range req.GetAdmins() {
		adm := mfa.OrgAdmin{UserID: a.GetUserId(), Roles: a.GetRoles()}
		if h := a.GetHuman(); h != nil {
			in, err := humanFromPb(h)
			if err != nil {
				return nil, err
			}
			adm.Human = &in
		}
		admins = append(admins, adm)
	}
	id := req.GetOrganizationId()
	if id == "" {
		id = req.GetOrgId()
	}
	d, created, err := s.core.AddOrganization(ctx, id, req.GetName(), admins)
	if err != nil {
		return nil, err
	}
	resp := &orgv2.AddOrganizationResponse{Details: v2Details(d), OrganizationId: d.ID}
	for _, c := range created {
		resp.CreatedAdmins = append(resp.CreatedAdmins, &orgv2.AddOrganizationResponse_CreatedAdmin{UserId: c.UserID})
	}
	return resp, nil
}
