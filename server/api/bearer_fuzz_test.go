package api

import (
	"strings"
	"testing"

	"github.com/factorgate/factorgate/server/mfa"
)

// FuzzBearerToken: the chain's Authorization parser never panics, refuses
// with the two header errors only, returns a token without surrounding
// blanks, and "Bearer "+token parses back to the same token.
func FuzzBearerToken(f *testing.F) {
	f.Fuzz(func(t *testing.T, header string) {
		tok, err := BearerToken(header)
		if err != nil {
			if err != mfa.ErrAuthHeaderMissing && err != mfa.ErrAuthHeaderInvalid {
				t.Fatalf("BearerToken(%q): unexpected error %v", header, err)
			}
			if header == "" != (err == mfa.ErrAuthHeaderMissing) {
				t.Fatalf("BearerToken(%q): %v", header, err)
			}
			return
		}
		if tok == "" || tok != strings.TrimSpace(tok) {
			t.Fatalf("BearerToken(%q) = %q: empty or padded", header, tok)
		}
		if !strings.HasPrefix(strings.ToLower(header), "bearer ") {
			t.Fatalf("BearerToken(%q) accepted another scheme", header)
		}
		again, err := BearerToken("Bearer " + tok)
		if err != nil || again != tok {
			t.Fatalf("round trip of %q: %q, %v", tok, again, err)
		}
	})
}
