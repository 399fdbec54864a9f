package onelogin

import (
	"context"

	oneloginv1 "github.com/factorgate/factorgate/gen/factorgate/onelogin/v1"
	"github.com/factorgate/factorgate/server/api"
	"github.com/factorgate/factorgate/server/mfa"
)

// credentialServer creates API credentials (factorgate's own call).
type credentialServer struct {
	oneloginv1.UnimplementedCredentialServiceServer
	core *mfa.Service
}

func (s *credentialServer) CreateCredential(ctx context.Context, req *oneloginv1.CreateCredentialRequest) (*oneloginv1.CreateCredentialResponse, error) {
	cred, _, err := s.core.CreateAPICredential(ctx, api.OrgID(ctx), req.GetScope())
	if err != nil {
		if mfa.KindOf(err) == mfa.KindInvalidArgument {
			return nil, errBadRequest(mfa.AsError(err).Message)
		}
		return nil, coreError(err)
	}
	return &oneloginv1.CreateCredentialResponse{ClientId: cred.ClientID, ClientSecret: cred.Secret}, nil
}

// credentialOrg is the organization named in the request, if any.
func credentialOrg(req any) string {
	if r, ok := req.(*oneloginv1.CreateCredentialRequest); ok {
		return r.GetOrgId()
	}
	return ""
}
