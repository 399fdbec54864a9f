package druid

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/factorgate/factorgate/server/api"
	"github.com/factorgate/factorgate/server/mfa"
)

// tokenEndpoint serves DruID's POST /oauth2/token (form-encoded): the
// password grant (a person's username and password; issues a refresh
// token too), the refresh_token grant (rotates the refresh token and keeps
// the original login's time and methods) and client_credentials (an
// application: a machine user's client id and secret, in the form or as
// HTTP Basic). Errors are OAuth 2.0's (RFC 6749 §5.2: {"error",
// "error_description"}), which DruID's OAuth clients read.
type tokenEndpoint struct {
	core *mfa.Service
}

// tokenResponse has the fields of DruID's token object (reference/druid.md
// §6). expires_at is Unix seconds and login_status says who logged in; both
// shapes are (unverified).
type tokenResponse struct {
	AccessToken  string       `json:"access_token"`
	TokenType    string       `json:"token_type"`
	ExpiresIn    int64        `json:"expires_in"`
	ExpiresAt    int64        `json:"expires_at"`
	RefreshToken string       `json:"refresh_token,omitempty"`
	LoginStatus  *loginStatus `json:"login_status,omitempty"`
	Scope        string       `json:"scope"`
}

type loginStatus struct {
	UID          string `json:"uid"`
	ConnectState string `json:"connect_state"`
}

func (h *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/oauth2/token" {
		api.WriteOAuthError(w, http.StatusNotFound, "invalid_request", "unknown endpoint; the token endpoint is /oauth2/token")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		api.WriteOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if !strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/x-www-form-urlencoded") {
		api.WriteOAuthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		api.WriteOAuthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	form := r.PostForm
	scopes := strings.Fields(form.Get("scope"))
	var (
		grant  mfa.TokenGrant
		err    error
		person bool
	)
	switch gt := form.Get("grant_type"); gt {
	case "password":
		user, pw := form.Get("username"), form.Get("password")
		if user == "" || pw == "" {
			api.WriteOAuthError(w, http.StatusBadRequest, "invalid_request", "username and password are required")
			return
		}
		grant, err = h.core.PasswordGrantWithRefresh(r.Context(), user, pw, scopes)
		person = true
	case "refresh_token":
		rt := form.Get("refresh_token")
		if rt == "" {
			api.WriteOAuthError(w, http.StatusBadRequest, "invalid_request", "refresh_token is required")
			return
		}
		grant, err = h.core.RefreshGrant(r.Context(), rt, scopes)
		person = true
	case "client_credentials":
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = form.Get("client_id"), form.Get("client_secret")
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
		api.WriteOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "supported: password, refresh_token, client_credentials")
		return
	}
	if err != nil {
		switch {
		case api.RetryAfter(w, err):
			api.WriteOAuthError(w, http.StatusTooManyRequests, "temporarily_unavailable", mfa.AsError(err).Message)
		case errors.Is(err, mfa.ErrInvalidClient):
			w.Header().Set("WWW-Authenticate", `Basic realm="factorgate"`)
			api.WriteOAuthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		case errors.Is(err, mfa.ErrRefreshScope):
			api.WriteOAuthError(w, http.StatusBadRequest, "invalid_scope", mfa.AsError(err).Message)
		case mfa.KindOf(err) == mfa.KindUnauthenticated:
			api.WriteOAuthError(w, http.StatusBadRequest, "invalid_grant", mfa.AsError(err).Message)
		default:
			api.WriteOAuthError(w, http.StatusInternalServerError, "server_error", "")
		}
		return
	}
	resp := tokenResponse{AccessToken: grant.Token, TokenType: "bearer", ExpiresIn: int64(grant.ExpiresIn.Seconds()),
		ExpiresAt: grant.ExpiresAt.Unix(), RefreshToken: grant.RefreshToken, Scope: strings.Join(grant.Scopes, " ")}
	if person {
		resp.LoginStatus = &loginStatus{UID: grant.UserID, ConnectState: "connected"}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}
