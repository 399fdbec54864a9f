package onelogin

import (
	"context"
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
// credentials grant for API credentials), its v1 sibling POST
// /auth/oauth2/token (the same grant in the v1 envelope; issuing a token
// there ends the credential's older tokens, as OneLogin's v1 did) and POST
// /auth/oauth2/revoke.
// The client authenticates with OneLogin's custom header
// "Authorization: client_id:<id>, client_secret:<secret>", with HTTP Basic,
// or with client_id and client_secret in the body (form or JSON).
//
// Error bodies use the spec's flat Error shape
// ({"error":true,"code":…,"type":…,"message":…}), and the v1 envelope
// ({"status":{…}}) on the v1 endpoint; the real service's shapes are
// unverified (reference/onelogin.md §8).
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

// v1TokenResponse is the v1 token answer: the v2 fields in the v1
// envelope, as a one-element data array.
type v1TokenResponse struct {
	Status v1Status        `json:"status"`
	Data   []tokenResponse `json:"data"`
}

type flatError struct {
	Error   bool   `json:"error"`
	Code    int    `json:"code"`
	Type    string `json:"type"`
	Message string `json:"message"`
}

func (h *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var serve func(http.ResponseWriter, *http.Request, url.Values, failFunc)
	fail := flatFail
	switch r.URL.Path {
	case "/auth/oauth2/v2/token":
		serve = h.token
	case "/auth/oauth2/token":
		serve, fail = h.tokenV1, v1Fail
	case "/auth/oauth2/revoke":
		serve = h.revoke
	default:
		fail(w, http.StatusNotFound, "Not Found", "No Route Exists")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(w, http.StatusMethodNotAllowed, "method not allowed", "Use POST")
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		fail(w, http.StatusBadRequest, "bad request", "Request Failure")
		return
	}
	serve(w, r, body, fail)
}

// failFunc writes an error in the endpoint's shape: the flat Error, or the
// v1 envelope.
type failFunc func(w http.ResponseWriter, code int, typ, msg string)

func flatFail(w http.ResponseWriter, code int, typ, msg string) {
	writeJSON(w, code, flatError{Error: true, Code: code, Type: typ, Message: msg})
}

func v1Fail(w http.ResponseWriter, code int, typ, msg string) {
	writeJSON(w, code, v1Error{Status: v1Status{Error: true, Code: code, Type: typ, Message: msg}})
}

func (h *tokenEndpoint) token(w http.ResponseWriter, r *http.Request, body url.Values, fail failFunc) {
	g, ok := h.grant(w, r, body, fail, h.core.APICredentialGrant)
	if ok {
		writeJSON(w, http.StatusOK, grantBody(g))
	}
}

// tokenV1 is token in the v1 envelope; the credential's older tokens end.
func (h *tokenEndpoint) tokenV1(w http.ResponseWriter, r *http.Request, body url.Values, fail failFunc) {
	g, ok := h.grant(w, r, body, fail, h.core.APICredentialGrantReplacing)
	if ok {
		writeJSON(w, http.StatusOK, v1TokenResponse{Status: v1Status{Code: http.StatusOK, Type: "success", Message: "Success"},
			Data: []tokenResponse{grantBody(g)}})
	}
}

// grant checks the request and issues the token with issue; on a failure
// it has answered and ok is false.
func (h *tokenEndpoint) grant(w http.ResponseWriter, r *http.Request, body url.Values, fail failFunc,
	issue func(ctx context.Context, id, secret string) (mfa.TokenGrant, error)) (_ mfa.TokenGrant, ok bool) {
	if body.Get("grant_type") != "client_credentials" {
		fail(w, http.StatusBadRequest, "bad request", "grant_type is incorrect/absent")
		return mfa.TokenGrant{}, false
	}
	id, secret := clientCredentials(r, body)
	if id == "" || secret == "" {
		authFailure(w, fail)
		return mfa.TokenGrant{}, false
	}
	g, err := issue(r.Context(), id, secret)
	switch {
	case errors.Is(err, mfa.ErrInvalidClient):
		authFailure(w, fail)
		return mfa.TokenGrant{}, false
	case api.RetryAfter(w, err):
		tooManyRequests(w, fail)
		return mfa.TokenGrant{}, false
	case err != nil:
		serverError(w, fail)
		return mfa.TokenGrant{}, false
	}
	w.Header().Set("Cache-Control", "no-store")
	return g, true
}

func grantBody(g mfa.TokenGrant) tokenResponse {
	return tokenResponse{AccessToken: g.Token, CreatedAt: g.Created.UTC().Format("2006-01-02T15:04:05.000Z"),
		ExpiresIn: int64(g.ExpiresIn.Seconds()), TokenType: "bearer", AccountID: number(g.OrgID)}
}

// revoke ends an access token of the calling credential ({"access_token":
// …} in the body). Like RFC 7009, an unknown or foreign token is no error.
func (h *tokenEndpoint) revoke(w http.ResponseWriter, r *http.Request, body url.Values, fail failFunc) {
	token := body.Get("access_token")
	if token == "" {
		token = body.Get("token")
	}
	if token == "" {
		fail(w, http.StatusBadRequest, "bad request", "access_token is absent")
		return
	}
	id, secret := clientCredentials(r, body)
	if id == "" || secret == "" {
		authFailure(w, fail)
		return
	}
	_, err := h.core.RevokeAPIToken(r.Context(), id, secret, token)
	if errors.Is(err, mfa.ErrInvalidClient) {
		authFailure(w, fail)
		return
	}
	if api.RetryAfter(w, err) {
		tooManyRequests(w, fail)
		return
	}
	if err != nil {
		serverError(w, fail)
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

func authFailure(w http.ResponseWriter, fail failFunc) {
	fail(w, http.StatusUnauthorized, "Unauthorized", "Authentication Failure")
}

// tooManyRequests answers a rate-limited token request (Retry-After is
// set by the caller).
func tooManyRequests(w http.ResponseWriter, fail failFunc) {
	fail(w, http.StatusTooManyRequests, "Too Many Requests", "Too many requests; try again later")
}

func serverError(w http.ResponseWriter, fail failFunc) {
	fail(w, http.StatusInternalServerError, "internal server error", "Internal Server Error")
}
