package mfa

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/factorgate/factorgate/server/eventstore"
)

// RevokeToken ends an access token (from a grant or a personal access
// token), or an unused refresh token, at once: the revocation event and
// the removal of the token's read-model document are one transaction, and Authenticate reads that
// document on every call, so every replica sharing the store refuses the
// token from the moment RevokeToken returns. Revoking an unknown, expired
// or already revoked token is not an error (RFC 7009 §2.2); revoked reports
// whether this call ended a live token.
func (s *Service) RevokeToken(ctx context.Context, token string) (revoked bool, err error) {
	if token == "" {
		return false, nil
	}
	hash := HashToken(token)
	err = s.retry(ctx, func() error {
		d, err := s.store.Get(ctx, tokenDocKind, hash)
		if errors.Is(err, eventstore.ErrNotFound) {
			revoked, err = s.revokeRefresh(ctx, hash)
			return err
		}
		if err != nil {
			return storeErr("COMMAND-rvk01", err)
		}
		var td tokenDoc
		if err := json.Unmarshal(d.Data, &td); err != nil {
			return internal("COMMAND-rvk02", err)
		}
		u, err := s.loadUser(ctx, td.UserID)
		if err != nil {
			return err
		}
		// Read the token again after the user (as RefreshGrant does): a
		// concurrent revocation either has deleted it by now or will move
		// the user's sequence and make this append retry.
		if _, err := s.store.Get(ctx, tokenDocKind, hash); errors.Is(err, eventstore.ErrNotFound) {
			revoked = false
			return nil
		} else if err != nil {
			return storeErr("COMMAND-rvk04", err)
		}
		c := s.newChange(ctx)
		c.batch.Delete = append(c.batch.Delete, eventstore.DocKey{Kind: tokenDocKind, ID: hash})
		if u != nil {
			if err := c.push(u, EventTokenRevoked, tokenRevokedPayload{TokenID: td.TokenID}); err != nil {
				return internal("COMMAND-rvk03", err)
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
