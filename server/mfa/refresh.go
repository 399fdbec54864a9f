package mfa

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
)

// RefreshTokenLifetime is how long a refresh token can be used (once).
const RefreshTokenLifetime = 30 * 24 * time.Hour

const refreshDocKind = "refresh_token"

// Errors of the refresh token grant. The IDs are factorgate's own.
var (
	ErrRefreshTokenInvalid = newErr(KindUnauthenticated, "OIDC-fgRf1", "Errors.RefreshToken.Invalid",
		"The refresh token is invalid, expired, used or revoked")
	ErrRefreshScope = newErr(KindInvalidArgument, "OIDC-fgRf2", "Errors.RefreshToken.Scope",
		"The requested scope exceeds the scope originally granted")
)

// refreshDoc is the read model of one unused refresh token, keyed by the
// token's SHA-256; the token itself is never stored. Using or revoking the
// token deletes the document.
type refreshDoc struct {
	TokenID string `json:"tokenId"`
	UserID  string `json:"userId"`
	// AccessTokenID is the access token issued with it (absent in
	// documents written before it was recorded).
	AccessTokenID string    `json:"accessTokenId,omitempty"`
	Expiration    time.Time `json:"expiration"`
	Scopes        []string  `json:"scopes,omitempty"`
	AMR           []string  `json:"amr,omitempty"`
	AuthTime      time.Time `json:"authTime"`
}

// PasswordGrantWithRefresh is PasswordGrant that also issues a refresh
// token (for dialects whose clients refresh, such as DruID's).
func (s *Service) PasswordGrantWithRefresh(ctx context.Context, username, password string, scopes []string) (TokenGrant, error) {
	if err := s.allowGrant("user", username); err != nil {
		return TokenGrant{}, err
	}
	u, err := s.checkPassword(ctx, username, password)
	if err != nil {
		return TokenGrant{}, err
	}
	var g TokenGrant
	err = s.retry(ctx, func() error {
		u, err := s.loadUser(ctx, u.ID)
		if err != nil {
			return err
		}
		if u == nil {
			return ErrInvalidCredentials
		}
		c := s.newChange(ctx)
		c.creator = u.ID
		if g, err = s.pushAccessToken(c, u, scopes, []string{"pwd"}, c.now, AccessTokenLifetime); err != nil {
			return err
		}
		if err := s.pushRefreshToken(c, u, &g, []string{"pwd"}); err != nil {
			return err
		}
		return s.commit(ctx, c)
	})
	return g, err
}

// RefreshGrant exchanges a refresh token for a new access token and a new
// refresh token (rotation): the used one ends in the same transaction, so
// it works once, and of two concurrent uses one fails. The new tokens keep
// the original authentication time and methods (amr): a refresh is not a
// new login. scopes, when given, must be a subset of the original ones.
func (s *Service) RefreshGrant(ctx context.Context, refreshToken string, scopes []string) (TokenGrant, error) {
	if refreshToken == "" {
		return TokenGrant{}, ErrRefreshTokenInvalid
	}
	hash := HashToken(refreshToken)
	if err := s.allowGrant("refresh", hash); err != nil {
		return TokenGrant{}, err
	}
	var g TokenGrant
	err := s.retry(ctx, func() error {
		rd, err := s.loadRefresh(ctx, hash)
		if err != nil {
			return err
		}
		if rd == nil || !s.now().Before(rd.Expiration) {
			return ErrRefreshTokenInvalid
		}
		granted := rd.Scopes
		if len(scopes) > 0 {
			for _, sc := range scopes {
				if !slices.Contains(rd.Scopes, sc) {
					return ErrRefreshScope
				}
			}
			granted = scopes
		}
		u, err := s.loadUser(ctx, rd.UserID)
		if err != nil {
			return err
		}
		if u == nil {
			return ErrRefreshTokenInvalid
		}
		// Read the token again after the user: a concurrent use that
		// committed before the user was read has deleted it by now, and
		// one that commits later moves the user's sequence, so this
		// append conflicts and the retry finds the token gone. (Read only
		// before the user, both uses could pass.)
		if rd, err = s.loadRefresh(ctx, hash); err != nil {
			return err
		}
		if rd == nil {
			return ErrRefreshTokenInvalid
		}
		c := s.newChange(ctx)
		c.creator = u.ID
		if err := c.push(u, EventRefreshTokenUsed, tokenRevokedPayload{TokenID: rd.TokenID}); err != nil {
			return internal("COMMAND-rft01", err)
		}
		c.batch.Delete = append(c.batch.Delete, eventstore.DocKey{Kind: refreshDocKind, ID: hash})
		if g, err = s.pushAccessToken(c, u, granted, rd.AMR, rd.AuthTime, AccessTokenLifetime); err != nil {
			return err
		}
		if err := s.pushRefreshToken(c, u, &g, rd.AMR); err != nil {
			return err
		}
		return s.commit(ctx, c)
	})
	return g, err
}

// pushRefreshToken adds a refresh token for the access token in g to the
// change and records it in g.
func (s *Service) pushRefreshToken(c *change, u *userState, g *TokenGrant, amr []string) error {
	token, err := newTokenString()
	if err != nil {
		return internal("COMMAND-rft02", err)
	}
	id, hash, expiry := s.NewID(), HashToken(token), c.now.Add(RefreshTokenLifetime)
	if err := c.push(u, EventRefreshTokenAdded, refreshTokenAddedPayload{TokenID: id, TokenHash: hash,
		AccessTokenID: g.TokenID, Expiration: expiry, Scopes: g.Scopes, AMR: amr, AuthTime: g.AuthTime}); err != nil {
		return internal("COMMAND-rft03", err)
	}
	data, err := encodeDoc(refreshDoc{TokenID: id, UserID: u.ID, AccessTokenID: g.TokenID, Expiration: expiry, Scopes: g.Scopes,
		AMR: amr, AuthTime: g.AuthTime})
	if err != nil {
		return internal("COMMAND-rft04", err)
	}
	c.batch.Put = append(c.batch.Put, eventstore.Doc{Kind: refreshDocKind, ID: hash, Owner: u.ID, Data: data})
	g.RefreshToken, g.RefreshExpiresAt = token, expiry
	return nil
}

func (s *Service) loadRefresh(ctx context.Context, hash string) (*refreshDoc, error) {
	d, err := s.store.Get(ctx, refreshDocKind, hash)
	if errors.Is(err, eventstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, storeErr("QUERY-rft01", err)
	}
	var rd refreshDoc
	if err := json.Unmarshal(d.Data, &rd); err != nil {
		return nil, internal("QUERY-rft02", err)
	}
	return &rd, nil
}

// revokeRefresh ends an unused refresh token; revoked is false when the
// hash names none.
func (s *Service) revokeRefresh(ctx context.Context, hash string) (revoked bool, err error) {
	err = s.retry(ctx, func() error {
		rd, err := s.loadRefresh(ctx, hash)
		if err != nil || rd == nil {
			revoked = false
			return err
		}
		u, err := s.loadUser(ctx, rd.UserID)
		if err != nil {
			return err
		}
		// Read the token again after the user (as RevokeToken does): a
		// refresh grant that used it up since has deleted it by now, or
		// will move the user's sequence and make this append retry.
		if again, err := s.loadRefresh(ctx, hash); err != nil || again == nil {
			revoked = false
			return err
		}
		c := s.newChange(ctx)
		c.batch.Delete = append(c.batch.Delete, eventstore.DocKey{Kind: refreshDocKind, ID: hash})
		if u != nil {
			if err := c.push(u, EventRefreshTokenRevoked, tokenRevokedPayload{TokenID: rd.TokenID}); err != nil {
				return internal("COMMAND-rft05", err)
			}
		}
		if err := s.commit(ctx, c); err != nil {
			return err
		}
		revoked = true
		return nil
	})
	return revoked, err
}
