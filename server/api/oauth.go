package api

import (
	"encoding/json"
	"net/http"

	"google.golang.org/grpc/codes"
)

// oauthError is an OAuth 2.0 error body (RFC 6749 §5.2), which the token
// endpoints of the ZITADEL and DruID dialects answer with.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// RefuseOAuth is the RefuseFunc of the OAuth token endpoints:
// temporarily_unavailable for a rate limit, invalid_request otherwise.
func RefuseOAuth(w http.ResponseWriter, _ *http.Request, status int, _ codes.Code, msg string) {
	e := "invalid_request"
	if status == http.StatusTooManyRequests {
		e = "temporarily_unavailable"
	}
	WriteOAuthError(w, status, e, msg)
}

// WriteOAuthError answers with an OAuth 2.0 error body, never cached.
func WriteOAuthError(w http.ResponseWriter, code int, e, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(oauthError{Error: e, Description: desc})
}
