package druid

import (
	"net/http"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/factorgate/factorgate/server/mfa"
)

func TestLanguageOfPicksSpanishOrFallsBackToEnglish(t *testing.T) {
	for in, want := range map[string]string{
		"":                        langEnglish,
		"es":                      langSpanish,
		"es-ES,es;q=0.9,en;q=0.8": langSpanish,
		"es-MX":                   langSpanish,
		"en;q=0.2, es;q=0.9":      langSpanish,
		"fr-FR":                   langEnglish,
		"en-GB,es;q=0.5":          langEnglish,
		"not a language;;;":       langEnglish,
	} {
		if got := languageOf(in); got != want {
			t.Errorf("languageOf(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestAcceptsJSON(t *testing.T) {
	for in, want := range map[string]bool{
		"application/json":                    true,
		"application/json; charset=utf-8":     true,
		"text/html, */*;q=0.1":                true,
		"application/*":                       true,
		"":                                    false,
		"text/html":                           false,
		"text/html, application/json;q=0":     false,
		"text/html, application/json;q=0.000": false,
	} {
		if got := acceptsJSON(in); got != want {
			t.Errorf("acceptsJSON(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestStatusFor417OnlyForTheMFARule(t *testing.T) {
	for _, c := range []struct {
		code codes.Code
		id   string
		want int
	}{
		{codes.FailedPrecondition, mfa.ErrMandatoryFactor.ID, http.StatusExpectationFailed},
		{codes.NotFound, mfa.ErrOTPSMSNotExisting.ID, http.StatusExpectationFailed},
		{codes.NotFound, mfa.ErrTOTPNotExisting.ID, http.StatusExpectationFailed},
		{codes.FailedPrecondition, mfa.ErrUserNotHuman.ID, http.StatusBadRequest},
		{codes.NotFound, mfa.ErrUserNotFound.ID, http.StatusNotFound},
		{codes.Unauthenticated, "", http.StatusUnauthorized},
		{codes.Internal, "", http.StatusInternalServerError},
	} {
		if got := statusFor(c.code, c.id); got != c.want {
			t.Errorf("statusFor(%v, %q) = %d, want %d", c.code, c.id, got, c.want)
		}
	}
}

func TestErrorIDFromTheMessageSuffix(t *testing.T) {
	if got := errorID(status.New(codes.NotFound, "Multifactor OTP (OneTimePassword) doesn't exist (COMMAND-Sr3h3)")); got != "COMMAND-Sr3h3" {
		t.Errorf("errorID = %q", got)
	}
	if got := errorID(status.New(codes.Unauthenticated, "auth header missing")); got != "" {
		t.Errorf("errorID = %q, want none", got)
	}
}

func TestEveryMessageHasEnglishAndSpanish(t *testing.T) {
	for id, texts := range catalogue {
		if texts[langEnglish] == "" || texts[langSpanish] == "" {
			t.Errorf("%s lacks a language: %v", id, texts)
		}
	}
}
