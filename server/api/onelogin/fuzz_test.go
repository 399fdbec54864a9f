package onelogin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzBearerToken: OneLogin's Authorization spellings ("Bearer x",
// "bearer:x", "bearer: x") never panic; an accepted token has no blanks,
// and every spelling of it parses back to it.
func FuzzBearerToken(f *testing.F) {
	f.Fuzz(func(t *testing.T, header string) {
		tok, ok := bearerToken(header)
		if !ok {
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t") {
			t.Fatalf("bearerToken(%q) = %q", header, tok)
		}
		if strings.HasPrefix(tok, ":") {
			return // ambiguous with the "bearer:" spelling; issued tokens start with "fg_"
		}
		for _, spelling := range []string{"Bearer " + tok, "bearer:" + tok, "bearer: " + tok, "BEARER " + tok} {
			if again, ok := bearerToken(spelling); !ok || again != tok {
				t.Fatalf("bearerToken(%q) = %q, %v; want %q", spelling, again, ok, tok)
			}
		}
	})
}

// FuzzClientCredentialsHeader: OneLogin's "client_id:…, client_secret:…"
// header never panics, and an id and secret without the separators parse
// back from the header built from them.
func FuzzClientCredentialsHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, header, id, secret string) {
		r := httptest.NewRequest(http.MethodPost, "/auth/oauth2/v2/token", nil)
		r.Header.Set("Authorization", header)
		_, _ = clientCredentials(r, nil) // must not panic

		clean := func(s string) bool {
			return s != "" && s == strings.TrimSpace(s) && !strings.ContainsAny(s, ",:\r\n\x00") && !strings.ContainsFunc(s, func(c rune) bool { return c < 0x20 || c == 0x7f })
		}
		if !clean(id) || !clean(secret) {
			return
		}
		r = httptest.NewRequest(http.MethodPost, "/auth/oauth2/v2/token", nil)
		r.Header.Set("Authorization", "client_id:"+id+", client_secret:"+secret)
		gotID, gotSecret := clientCredentials(r, nil)
		if gotID != id || gotSecret != secret {
			t.Fatalf("round trip: got (%q, %q), want (%q, %q)", gotID, gotSecret, id, secret)
		}
	})
}

// FuzzTokenBody: the token endpoint's body reader (form or JSON, at most
// 64 KiB) never panics; a JSON object of strings reads back its values.
func FuzzTokenBody(f *testing.F) {
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/auth/oauth2/v2/token", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", ctype)
		w := httptest.NewRecorder()
		_, _ = readBody(w, r)
	})
}
