package mfa

import (
	"context"
	"encoding/json"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
)

// DefaultSelfRemovalMaxAge is how recently a person must have signed in to
// remove one of their own factors, unless configured otherwise.
const DefaultSelfRemovalMaxAge = 10 * time.Minute

// ErrStepUpRequired answers a removal of one's own factor with a token
// whose sign-in is older than the configured window (OWASP ASVS 5.0 7.5.1:
// re-authenticate before changing authentication factors). The ID is
// factorgate's own; ZITADEL dialects answer it as FailedPrecondition (HTTP
// 400), DruID as 401.
var ErrStepUpRequired = newErr(KindFailedPrecondition, "COMMAND-fgStp", "Errors.User.MFA.StepUpRequired",
	"Removing your own second factor needs a recent sign-in: sign in again, then retry")

// requireRecentSignIn enforces the step-up rule: when the caller removes a
// factor of their own user, the token's sign-in (AuthTime) must lie within
// the window. Administrators acting on someone else are not affected, and
// a window of zero turns the rule off.
func (s *Service) requireRecentSignIn(ctx context.Context, userID string) error {
	p := PrincipalFrom(ctx)
	if s.selfRemovalMaxAge <= 0 || p == nil || p.UserID != userID {
		return nil
	}
	if p.AuthTime.IsZero() || s.now().Sub(p.AuthTime) > s.selfRemovalMaxAge {
		return ErrStepUpRequired
	}
	return nil
}

// revokeOtherTokens adds to c the revocation of every access and refresh
// token of u except the caller's own access token (and the refresh token
// issued with it), when the service is configured to end other sessions
// after a factor removal (OWASP ASVS 5.0 7.4.3). It runs in the removal's
// transaction: the removal and the revocations are stored together.
func (s *Service) revokeOtherTokens(ctx context.Context, c *change, u *userState) error {
	if !s.revokeOnRemoval {
		return nil
	}
	keep := ""
	if p := PrincipalFrom(ctx); p != nil && p.UserID == u.ID {
		keep = p.TokenID
	}
	return s.revokeTokens(ctx, c, u, keep)
}

// revokeTokens adds to c the revocation of every stored access and refresh
// token of u but the access token keep (and the refresh token issued with
// it); keep may be empty.
func (s *Service) revokeTokens(ctx context.Context, c *change, u *userState, keep string) error {
	tokens, err := s.store.List(ctx, tokenDocKind, u.ID, "", 0)
	if err != nil {
		return storeErr("COMMAND-rvo01", err)
	}
	for _, d := range tokens {
		var td tokenDoc
		if err := json.Unmarshal(d.Data, &td); err != nil {
			return internal("COMMAND-rvo02", err)
		}
		if td.TokenID == keep || td.UserID != u.ID {
			continue
		}
		c.batch.Delete = append(c.batch.Delete, eventstore.DocKey{Kind: tokenDocKind, ID: d.ID})
		if err := c.push(u, EventTokenRevoked, tokenRevokedPayload{TokenID: td.TokenID}); err != nil {
			return internal("COMMAND-rvo03", err)
		}
	}
	refresh, err := s.store.List(ctx, refreshDocKind, u.ID, "", 0)
	if err != nil {
		return storeErr("COMMAND-rvo04", err)
	}
	for _, d := range refresh {
		var rd refreshDoc
		if err := json.Unmarshal(d.Data, &rd); err != nil {
			return internal("COMMAND-rvo05", err)
		}
		if (keep != "" && rd.AccessTokenID == keep) || rd.UserID != u.ID {
			continue
		}
		c.batch.Delete = append(c.batch.Delete, eventstore.DocKey{Kind: refreshDocKind, ID: d.ID})
		if err := c.push(u, EventRefreshTokenRevoked, tokenRevokedPayload{TokenID: rd.TokenID}); err != nil {
			return internal("COMMAND-rvo06", err)
		}
	}
	return nil
}
