package onelogin

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/factorgate/factorgate/server/api"
	"github.com/factorgate/factorgate/server/mfa"
)

// tokenEndpoint serves OneLogin's POST /auth/oauth2/v2/token (client
// credentials grant for API credentials) and POST /auth/oauth2/revoke.
// The client authenticates with OneLogin's custom header
// "Authorization: client_id:<id>, client_secret:<secret>", with HTTP Basic,
// or with client_id and client_secret in the body (form or JSON).
//
// Error bodies use the spec's flat Error shape
// ({"error":true,"code":…,"type":…,"message":…}); the real service's
// shape is unverified (reference/onelogin.md §8).
type tokenEndpoint struct {
	core *mfa.Service
}

// tokenResponse is the v2 token answer. refresh_token is left out: the
// spec marks it deprecated and factorgate has no refresh grant.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	CreatedAt   string `json:"created_at"`
	ExpiresIn   int64  `json:"expires_in"`
	TokenType   string `json:"token_type"`
	AccountID   int64  `json:"account_id"`
}

type flatError struct {
	Error   bool   `json:"error"`
	Code    int    `json:"code"`
	Type    string `json:"type"`
	Message string `json:"message"`
}

func (h *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var serve func(http.ResponseWriter, *http.Request, url.Values)
	switch r.URL.Path {
	case "/auth/oauth2/v2/token":
		serve = h.token
	case "/auth/oauth2/revoke":
		serve = h.revoke
	default:
		writeJSON(w, http.StatusNotFound, flatError{Error: true, Code: http.StatusNotFound, Type: "Not Found", Message: "No Route Exists"})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, flatError{Error: true, Code: http.StatusMethodNotAllowed, Type: "method not allowed", Message: "Use POST"})
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		badRequest(w, "Request Failure")
		return
	}
	serve(w, r, body)
}

func (h *tokenEndpoint) token(w http.ResponseWriter, r *http.Request, body url.Values) {
	if body.Get("grant_type") != "client_credentials" {
		badRequest(w, "grant_type is incorrect/absent")
		return
	}
	id, secret := clientCredentials(r, body)
	if id == "" || secret == "" {
		authFailure(w)
		return
	}
	g, err := h.core.APICredentialGrant(r.Context(), id, secret)
	if errors.Is(err, mfa.ErrInvalidClient) {
		authFailure(w)
		return
	}
	if api.RetryAfter(w, err) {
		tooManyRequests(w)
		return
	}
	if err != nil {
		serverError(w)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: g.Token, CreatedAt: g.Created.UTC().Format("2006-01-02T15:04:05.000Z"),
		ExpiresIn: int64(g.ExpiresIn.Seconds()), TokenType: "bearer", AccountID: number(g.OrgID)})
}

// revoke ends an access token of the calling credential ({"access_token":
// …} in the body). Like RFC 7009, an unknown or foreign token is no error.
func (h *tokenEndpoint) revoke(w http.ResponseWriter, r *http.Request, body url.Values) {
	token := body.Get("access_token")
	if token == "" {
		token = body.Get("token")
	}
	if token == "" {
		badRequest(w, "access_token is absent")
		return
	}
	id, secret := clientCredentials(r, body)
	if id == "" || secret == "" {
		authFailure(w)
		return
	}
	_, err := h.core.RevokeAPIToken(r.Context(), id, secret, token)
	if errors.Is(err, mfa.ErrInvalidClient) {
		authFailure(w)
		return
	}
	if api.RetryAfter(w, err) {
		tooManyRequests(w)
		return
	}
	if err != nil {
		serverError(w)
		return
	}
	writeJSON(w, http.StatusOK, v1Error{Status: v1Status{Error: false, Code: http.StatusOK, Type: "success", Message: "Success"}})
}

// readBody reads a form or JSON body (at most 64 KiB) into values.
func readBody(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" {
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		return r.PostForm, nil
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	out := url.Values{}
	if strings.TrimSpace(string(data)) == "" {
		return out, nil
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	for k, v := range m {
		if s, ok := v.(string); ok {
			out.Set(k, s)
		}
	}
	return out, nil
}

// clientCredentials reads the client id and secret from OneLogin's custom
// Authorization header, HTTP Basic, or the body, in that order.
func clientCredentials(r *http.Request, body url.Values) (id, secret string) {
	auth := r.Header.Get("Authorization")
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(auth)), "client_id") {
		for _, part := range strings.Split(auth, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(part), ":")
			if !ok {
				continue
			}
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "client_id":
				id = strings.TrimSpace(v)
			case "client_secret":
				secret = strings.TrimSpace(v)
			}
		}
		return id, secret
	}
	if id, secret, ok := r.BasicAuth(); ok {
		return id, secret
	}
	return body.Get("client_id"), body.Get("client_secret")
}

func badRequest(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, flatError{Error: true, Code: http.StatusBadRequest, Type: "bad request", Message: msg})
}

func authFailure(w http.ResponseWriter) {
	writeJSON(w, http.StatusUnauthorized, flatError{Error: true, Code: http.StatusUnauthorized, Type: "Unauthorized", Message: "Authentication Failure"})
}

// tooManyRequests answers a rate-limited token request (Retry-After is
// set by the caller).
func tooManyRequests(w http.ResponseWriter) {
	writeJSON(w, http.StatusTooManyRequests, flatError{Error: true, Code: http.StatusTooManyRequests, Type: "Too Many Requests", Message: "Too many requests; try again later"})
}

func serverError(w http.ResponseWriter) {
	writeJSON(w, http.StatusInternalServerError, flatError{Error: true, Code: http.StatusInternalServerError, Type: "internal server error", Message: "Internal Server Error"})
}
