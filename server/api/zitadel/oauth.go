package zitadel

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/factorgate/factorgate/server/api"
	"github.com/factorgate/factorgate/server/mfa"
)

// tokenEndpoint serves POST /oauth/v2/token (RFC 6749 §4.3 password grant
// for people, §4.4 client credentials for machine users), so that people
// and services can obtain their own access tokens. Its error bodies are
// OAuth's, not gRPC statuses.
type tokenEndpoint struct {
	core *mfa.Service
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
}

func (h *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/oauth/v2/token" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		api.WriteOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		api.WriteOAuthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	scopes := strings.Fields(r.PostForm.Get("scope"))
	var (
		grant mfa.TokenGrant
		err   error
	)
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "password":
		user, pw := r.PostForm.Get("username"), r.PostForm.Get("password")
		if user == "" || pw == "" {
			api.WriteOAuthError(w, http.StatusBadRequest, "invalid_request", "username and password are required")
			return
		}
		grant, err = h.core.PasswordGrant(r.Context(), user, pw, scopes)
	case "client_credentials":
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if id == "" || secret == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="factorgate"`)
			api.WriteOAuthError(w, http.StatusUnauthorized, "invalid_client", "client authentication is required")
			return
		}
		grant, err = h.core.ClientCredentialsGrant(r.Context(), id, secret, scopes)
	case "":
		api.WriteOAuthError(w, http.StatusBadRequest, "invalid_request", "grant_type is required")
		return
	default:
		api.WriteOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "supported: password, client_credentials")
		return
	}
	if err != nil {
		switch {
		case api.RetryAfter(w, err):
			api.WriteOAuthError(w, http.StatusTooManyRequests, "temporarily_unavailable", mfa.AsError(err).Message)
		case errors.Is(err, mfa.ErrInvalidClient):
			w.Header().Set("WWW-Authenticate", `Basic realm="factorgate"`)
			api.WriteOAuthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		case mfa.KindOf(err) == mfa.KindUnauthenticated:
			api.WriteOAuthError(w, http.StatusBadRequest, "invalid_grant", mfa.AsError(err).Message)
		default:
			api.WriteOAuthError(w, http.StatusInternalServerError, "server_error", "")
		}
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(tokenResponse{AccessToken: grant.Token, TokenType: "Bearer",
		ExpiresIn: int64(grant.ExpiresIn.Seconds()), Scope: strings.Join(scopes, " ")})
}
