package zitadel

import (
	"context"

	userv2 "github.com/factorgate/factorgate/gen/zitadel/user/v2"
	"github.com/factorgate/factorgate/server/api"
	"github.com/factorgate/factorgate/server/mfa"
)

// userServer implements zitadel.user.v2.UserService.
type userServer struct {
	userv2.UnimplementedUserServiceServer
	core *mfa.Service
}

var _ userv2.UserServiceServer = (*userServer)(nil)

func (s *userServer) AddHumanUser(ctx context.Context, req *userv2.AddHumanUserRequest) (*userv2.AddHumanUserResponse, error) {
	in, err := humanFromPb(req)
	if err != nil {
		return nil, err
	}
	org := api.OrgID(ctx) // the request's organization field, or the header, or the caller's own
	d, err := s.core.AddHumanUser(ctx, org, in)
	if err != nil {
		return nil, err
	}
	return &userv2.AddHumanUserResponse{UserId: d.ID, Details: v2Details(d)}, nil
}

var errUnsupported = func(what string) error {
	return &mfa.Error{Kind: mfa.KindInvalidArgument, ID: "USER-fg001", Key: "Errors.Unsupported", Message: what + " is not supported by this server"}
}

// humanFromPb converts the v2 request; features this server does not have
// (identity providers, metadata, verification codes by mail, imported TOTP
// secrets) are refused rather than silently dropped.
func humanFromPb(req *userv2.AddHumanUserRequest) (mfa.HumanInput, error) {
	switch {
	case len(req.GetIdpLinks()) > 0:
		return mfa.HumanInput{}, errUnsupported("idp_links")
	case len(req.GetMetadata()) > 0:
		return mfa.HumanInput{}, errUnsupported("metadata")
	case req.TotpSecret != nil:
		return mfa.HumanInput{}, errUnsupported("totp_secret")
	case req.GetOrganization().GetOrgDomain() != "":
		return mfa.HumanInput{}, errUnsupported("organization.org_domain")
	}
	p := req.GetProfile()
	in := mfa.HumanInput{
		UserID: req.GetUserId(), Username: req.GetUsername(),
		GivenName: p.GetGivenName(), FamilyName: p.GetFamilyName(), NickName: p.GetNickName(),
		DisplayName: p.GetDisplayName(), PreferredLanguage: p.GetPreferredLanguage(), Gender: int(p.GetGender()),
		Email: req.GetEmail().GetEmail(), EmailVerified: req.GetEmail().GetIsVerified(),
		Phone: req.GetPhone().GetPhone(), PhoneVerified: req.GetPhone().GetIsVerified(),
		Password: req.GetPassword().GetPassword(), PasswordHash: req.GetHashedPassword().GetHash(),
	}
	return in, nil
}

// orgOfAddHumanUser is the org_field of AddHumanUser.
func orgOfAddHumanUser(req any) string {
	if r, ok := req.(*userv2.AddHumanUserRequest); ok {
		return r.GetOrganization().GetOrgId()
	}
	return ""
}
