package mfa

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
)

// OneLogin API credential scopes, as OneLogin spells them.
const (
	ScopeAuthenticationOnly = "Authentication Only"
	ScopeReadUsers          = "Read users"
	ScopeManageUsers        = "Manage users"
	ScopeReadAll            = "Read All"
	ScopeManageAll          = "Manage All"
)

// The organization roles behind the scopes.
const (
	roleReadUsers   = "ONELOGIN_READ_USERS"
	roleManageUsers = "ONELOGIN_MANAGE_USERS"
	roleReadAll     = "ONELOGIN_READ_ALL"
	roleManageAll   = "ONELOGIN_MANAGE_ALL"
)

// scopeRoles maps each scope to the organization role its credential holds:
// Read users → user.read; Manage users → user.read, user.write,
// user.credential.write; Read All → the read permissions; Manage All →
// everything an organization owner may do; Authentication Only → nothing.
var scopeRoles = map[string]string{
	ScopeAuthenticationOnly: "",
	ScopeReadUsers:          roleReadUsers,
	ScopeManageUsers:        roleManageUsers,
	ScopeReadAll:            roleReadAll,
	ScopeManageAll:          roleManageAll,
}

// APITokenLifetime is the lifetime of a token issued to an API credential
// (OneLogin's expires_in of 36000 seconds).
const APITokenLifetime = 10 * time.Hour

// CanonicalScope returns the OneLogin spelling of scope (matched without
// regard to case), or false for an unknown scope.
func CanonicalScope(scope string) (string, bool) {
	for s := range scopeRoles {
		if strings.EqualFold(strings.TrimSpace(scope), s) {
			return s, true
		}
	}
	return "", false
}

// APICredential is a new API credential; Secret is shown once.
type APICredential struct {
	ClientID string
	Secret   string
	UserID   string
	OrgID    string
	Scope    string
}

// CreateAPICredential creates an API credential (OneLogin's client id and
// secret) owned by orgID with one scope. The credential is a machine user
// of the organization whose username is the client id; its scope's role
// (scopeRoles) is an organization membership, so a token of the credential
// acts only in orgID and only with those permissions. Because creating one
// hands out that role, the caller needs org.member.write in orgID (as for
// AddOrgMember). Only the secret's SHA-256 is kept: it is 256 random bits.
func (s *Service) CreateAPICredential(ctx context.Context, orgID, scope string) (APICredential, Details, error) {
	scope, ok := CanonicalScope(scope)
	if !ok {
		return APICredential{}, Details{}, ErrUnknownAPIScope
	}
	var cred APICredential
	var d Details
	err := s.retry(ctx, func() error {
		org, err := s.loadOrg(ctx, orgID)
		if err != nil {
			return err
		}
		if org == nil {
			return ErrOrgNotFound
		}
		if err := s.checkPermission(ctx, orgID, PermOrgMemberWrite, ""); err != nil {
			return err
		}
		clientID, err := randomHex(32)
		if err != nil {
			return internal("COMMAND-api01", err)
		}
		secret, err := randomHex(32)
		if err != nil {
			return internal("COMMAND-api02", err)
		}
		sum := sha256.Sum256([]byte(secret))
		c := s.newChange(ctx)
		u := &userState{aggregate: aggregate{Type: aggregateTypeUser, ID: s.NewID(), Owner: orgID}}
		if err := c.push(u, EventMachineAdded, machineAddedPayload{Username: clientID, Name: "API credential (" + scope + ")"}); err != nil {
			return internal("COMMAND-api03", err)
		}
		if err := c.push(u, EventAPICredentialAdded, apiCredentialPayload{Scope: scope, SecretHash: hex.EncodeToString(sum[:])}); err != nil {
			return internal("COMMAND-api04", err)
		}
		if role := scopeRoles[scope]; role != "" {
			if err := c.addOrgMember(org, u.ID, []string{role}); err != nil {
				return internal("COMMAND-api05", err)
			}
		}
		c.batch.Claims = append(c.batch.Claims, eventstore.Claim{Key: claimUsername(clientID), Owner: u.ID})
		if err := s.commit(ctx, c); err != nil {
			return err
		}
		cred = APICredential{ClientID: clientID, Secret: secret, UserID: u.ID, OrgID: orgID, Scope: scope}
		d = u.details()
		return nil
	})
	return cred, d, err
}

// apiCredential returns the machine user of an API credential that proves
// its secret, or ErrInvalidClient.
func (s *Service) apiCredential(ctx context.Context, clientID, secret string) (*userState, error) {
	u, err := s.userByName(ctx, clientID)
	if err != nil {
		return nil, err
	}
	got := sha256.Sum256([]byte(secret))
	if u == nil || u.Machine == nil || u.Machine.APIScope == "" {
		return nil, ErrInvalidClient
	}
	want, err := hex.DecodeString(u.Machine.SecretHash)
	if err != nil || subtle.ConstantTimeCompare(got[:], want) != 1 {
		return nil, ErrInvalidClient
	}
	return u, nil
}

// APICredentialGrant issues an access token to an API credential that
// proves its secret. The token carries the credential's scope and acts in
// its organization; its amr is "client_secret".
func (s *Service) APICredentialGrant(ctx context.Context, clientID, secret string) (TokenGrant, error) {
	return s.apiCredentialGrant(ctx, clientID, secret, false)
}

// APICredentialGrantReplacing is APICredentialGrant for OneLogin's v1
// token endpoint, which ends the credential's older tokens when it issues
// a new one: the new token and the revocations are stored together.
func (s *Service) APICredentialGrantReplacing(ctx context.Context, clientID, secret string) (TokenGrant, error) {
	return s.apiCredentialGrant(ctx, clientID, secret, true)
}

func (s *Service) apiCredentialGrant(ctx context.Context, clientID, secret string, replace bool) (TokenGrant, error) {
	if err := s.allowGrant("client", clientID); err != nil {
		return TokenGrant{}, err
	}
	var g TokenGrant
	err := s.retry(ctx, func() error {
		u, err := s.apiCredential(ctx, clientID, secret)
		if err != nil {
			return err
		}
		c := s.newChange(ctx)
		c.creator = u.ID
		if replace {
			if err := s.revokeTokens(ctx, c, u, ""); err != nil {
				return err
			}
		}
		if g, err = s.pushAccessToken(c, u, []string{u.Machine.APIScope}, []string{"client_secret"}, c.now, APITokenLifetime); err != nil {
			return err
		}
		return s.commit(ctx, c)
	})
	return g, err
}

// RevokeAPIToken ends token when it was issued to the API credential that
// proves its secret (RFC 7009 §2.1: a client revokes only its own tokens).
// A token that is unknown, expired or another client's is left alone and
// is not an error; revoked reports whether a live token ended.
func (s *Service) RevokeAPIToken(ctx context.Context, clientID, secret, token string) (revoked bool, err error) {
	if err := s.allowGrant("client", clientID); err != nil {
		return false, err
	}
	u, err := s.apiCredential(ctx, clientID, secret)
	if err != nil {
		return false, err
	}
	p, err := s.Authenticate(ctx, token)
	if errors.Is(err, ErrTokenInvalid) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if p.UserID != u.ID {
		return false, nil
	}
	return s.RevokeToken(ctx, token)
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
