package api

import (
	"strings"

	"github.com/factorgate/factorgate/server/mfa"
)

// BearerToken reads the token of an Authorization header value "Bearer
// <token>" (the scheme in any case, blanks around the token ignored):
// ErrAuthHeaderMissing for an empty value, ErrAuthHeaderInvalid for any
// other scheme or an empty token. It is the one parser of the chain;
// OneLogin's spellings are rewritten to this one before it.
func BearerToken(header string) (string, error) {
	if header == "" {
		return "", mfa.ErrAuthHeaderMissing
	}
	scheme, token, found := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !found || !strings.EqualFold(scheme, "bearer") || token == "" {
		return "", mfa.ErrAuthHeaderInvalid
	}
	return token, nil
}
