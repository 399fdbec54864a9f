package mfa

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/factorgate/factorgate/server/eventstore"
)

// AccessTokenLifetime is how long a token issued by a grant is valid.
const AccessTokenLifetime = 12 * time.Hour

// Errors of the token grants.
var (
	ErrInvalidCredentials = newErr(KindUnauthenticated, "COMMAND-3M0fs", "Errors.User.Password.Invalid", "Username or password is invalid")
	ErrInvalidClient      = newErr(KindUnauthenticated, "OIDC-AhX2u", "Errors.Client.Invalid", "client authentication failed")
)

// TokenGrant is an access token issued to a user; Token is shown once.
type TokenGrant struct {
	Token     string
	TokenID   string
	UserID    string
	OrgID     string    // the organization the token acts in
	Scopes    []string  // the scopes the token carries
	Created   time.Time // when it was issued
	ExpiresIn time.Duration
	ExpiresAt time.Time
	// AuthTime is when the person authenticated (kept across refreshes).
	AuthTime time.Time
	// RefreshToken, when the grant issues one, is shown once as well.
	RefreshToken     string
	RefreshExpiresAt time.Time
}

// PasswordGrant issues an access token to a person who proves their
// password. The token remembers that it came from a password ("pwd") and
// when.
func (s *Service) PasswordGrant(ctx context.Context, username, password string, scopes []string) (TokenGrant, error) {
	if err := s.allowGrant("user", username); err != nil {
		return TokenGrant{}, err
	}
	u, err := s.checkPassword(ctx, username, password)
	if err != nil {
		return TokenGrant{}, err
	}
	return s.issueToken(ctx, u.ID, scopes, []string{"pwd"})
}

// checkPassword returns the person whose username and password these are,
// or ErrInvalidCredentials (taking as long for an unknown user).
func (s *Service) checkPassword(ctx context.Context, username, password string) (*userState, error) {
	u, err := s.userByName(ctx, username)
	if err != nil {
		return nil, err
	}
	if u == nil || u.Human == nil || u.Human.PasswordHash == "" {
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, []byte(password))
		return nil, ErrInvalidCredentials
	}
	if bcrypt.CompareHashAndPassword([]byte(u.Human.PasswordHash), []byte(password)) != nil {
		return nil, ErrInvalidCredentials
	}
	return u, nil
}

// ClientCredentialsGrant issues an access token to a machine user that
// proves its client secret (client id = username).
func (s *Service) ClientCredentialsGrant(ctx context.Context, clientID, secret string, scopes []string) (TokenGrant, error) {
	if err := s.allowGrant("client", clientID); err != nil {
		return TokenGrant{}, err
	}
	u, err := s.userByName(ctx, clientID)
	if err != nil {
		return TokenGrant{}, err
	}
	got := sha256.Sum256([]byte(secret))
	if u == nil || u.Machine == nil || u.Machine.SecretHash == "" {
		return TokenGrant{}, ErrInvalidClient
	}
	want, err := hex.DecodeString(u.Machine.SecretHash)
	if err != nil || subtle.ConstantTimeCompare(got[:], want) != 1 {
		return TokenGrant{}, ErrInvalidClient
	}
	return s.issueToken(ctx, u.ID, scopes, []string{"client_secret"})
}

func (s *Service) userByName(ctx context.Context, username string) (*userState, error) {
	if username == "" {
		return nil, nil
	}
	id, err := s.store.ClaimOwner(ctx, claimUsername(username))
	if errors.Is(err, eventstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, storeErr("QUERY-usr01", err)
	}
	return s.loadUser(ctx, id)
}

func (s *Service) issueToken(ctx context.Context, userID string, scopes, amr []string) (TokenGrant, error) {
	return s.issueTokenFor(ctx, userID, scopes, amr, AccessTokenLifetime)
}

func (s *Service) issueTokenFor(ctx context.Context, userID string, scopes, amr []string, lifetime time.Duration) (TokenGrant, error) {
	var g TokenGrant
	err := s.retry(ctx, func() error {
		u, err := s.loadUser(ctx, userID)
		if err != nil {
			return err
		}
		if u == nil {
			return ErrInvalidCredentials
		}
		c := s.newChange(ctx)
		c.creator = userID
		if g, err = s.pushAccessToken(c, u, scopes, amr, c.now, lifetime); err != nil {
			return err
		}
		return s.commit(ctx, c)
	})
	return g, err
}

// pushAccessToken adds a new access token of u to the change: its event
// and its read-model document (keyed by the token's hash).
func (s *Service) pushAccessToken(c *change, u *userState, scopes, amr []string, authTime time.Time, lifetime time.Duration) (TokenGrant, error) {
	token, err := newTokenString()
	if err != nil {
		return TokenGrant{}, internal("COMMAND-tok11", err)
	}
	id, hash, expiry := s.NewID(), HashToken(token), c.now.Add(lifetime)
	if err := c.push(u, EventTokenAdded, tokenAddedPayload{TokenID: id, TokenHash: hash, Expiration: expiry,
		Scopes: scopes, AMR: amr, AuthTime: authTime}); err != nil {
		return TokenGrant{}, internal("COMMAND-tok12", err)
	}
	data, err := encodeDoc(tokenDoc{TokenID: id, UserID: u.ID, OrgID: u.Owner, Machine: u.Machine != nil,
		Expiration: expiry, Scopes: scopes, AMR: amr, AuthTime: authTime})
	if err != nil {
		return TokenGrant{}, internal("COMMAND-tok13", err)
	}
	c.batch.Put = append(c.batch.Put, eventstore.Doc{Kind: tokenDocKind, ID: hash, Owner: u.ID, Data: data})
	return TokenGrant{Token: token, TokenID: id, UserID: u.ID, OrgID: u.Owner, Scopes: scopes, Created: c.now,
		ExpiresIn: lifetime, ExpiresAt: expiry, AuthTime: authTime}, nil
}

// GenerateMachineSecret gives a machine user a new client secret for the
// client credentials grant, replacing the old one. The secret is returned
// once; only its SHA-256 is kept (it is 256 random bits, so a slow hash
// adds nothing).
func (s *Service) GenerateMachineSecret(ctx context.Context, orgID, userID string) (clientID, secret string, d Details, err error) {
	err = s.retry(ctx, func() error {
		u, err := s.loadMachineFor(ctx, orgID, userID)
		if err != nil {
			return err
		}
		if secret, err = newTokenString(); err != nil {
			return internal("COMMAND-sec01", err)
		}
		sum := sha256.Sum256([]byte(secret))
		c := s.newChange(ctx)
		if err := c.push(u, EventMachineSecretSet, machineSecretPayload{SecretHash: hex.EncodeToString(sum[:])}); err != nil {
			return internal("COMMAND-sec02", err)
		}
		if err := s.commit(ctx, c); err != nil {
			return err
		}
		clientID, d = u.Username, u.changeDetails()
		return nil
	})
	return clientID, secret, d, err
}
