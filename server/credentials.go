package server

import (
	"context"

	"github.com/factorgate/factorgate/server/mfa"
)

// Credentials is a new OneLogin API credential. The secret is shown once:
// the store keeps only its hash.
type Credentials struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// CreateCredentials creates a OneLogin API credential with scope (e.g.
// "Manage users") in organization orgID (the first organization when
// empty), on the store cfg names — the same one a running server uses. It
// bootstraps an empty store as a first start would (writing admin.pat) and
// acts as the instance's bootstrap admin.
func CreateCredentials(ctx context.Context, cfg Config, orgID, scope string) (Credentials, error) {
	s, err := New(ctx, cfg)
	if err != nil {
		return Credentials{}, err
	}
	defer s.Close()
	if orgID == "" {
		orgID = s.boot.OrgID
	}
	admin := mfa.WithPrincipal(ctx, &mfa.Principal{UserID: s.boot.AdminUserID, OrgID: s.boot.OrgID})
	cred, _, err := s.core.CreateAPICredential(admin, orgID, scope)
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{ClientID: cred.ClientID, ClientSecret: cred.Secret}, nil
}
