package mfa

import (
	"context"
	"strings"
	"unicode"
)

// ErrChannelAddress answers an OTP channel request whose address is not
// the person's verified phone or email (the code check that would prove a
// new address is not part of this command). The ID is factorgate's own.
var ErrChannelAddress = newErr(KindInvalidArgument, "COMMAND-fgAdr", "Errors.User.MFA.OTP.Address",
	"The channel address must be the user's verified phone number or email address")

// ErrNotAnApplication answers a command for applications called with a
// person's token.
var ErrNotAnApplication = newErr(KindUnauthenticated, "COMMAND-fgApp", "Errors.Token.NotApplication",
	"The token must be an application's")

// AddOTPWithPassword enables one-time codes by SMS or email for a person on
// behalf of an application (the caller, a machine user of the same
// organization) that presents the person's username and password, as
// DruID's mfa/create does. The password is the person's consent: the
// command runs as the person, with the same rules as AddOTPSMS and
// AddOTPEmail (the phone or email must be verified; the factor is ready at
// once). address, when given, must be that verified phone or email. A
// wrong password, an unknown user and a user of another organization all
// answer ErrInvalidCredentials; the checks are limited per username as the
// password grant's are (ErrRateLimited).
func (s *Service) AddOTPWithPassword(ctx context.Context, username, password string, kind FactorKind, address string) (userID string, d Details, err error) {
	app := PrincipalFrom(ctx)
	if app == nil {
		return "", Details{}, ErrAuthHeaderMissing
	}
	if !app.Machine {
		return "", Details{}, ErrNotAnApplication
	}
	if kind != FactorOTPSMS && kind != FactorOTPEmail {
		return "", Details{}, invalid("COMMAND-fgAd1", "only OTP SMS and OTP email can be added with a password")
	}
	// A password check is a guess: the same per-username bucket as the
	// password grant's, so an application cannot guess faster here.
	if err := s.allowGrant("user", username); err != nil {
		return "", Details{}, err
	}
	u, err := s.checkPassword(ctx, username, password)
	if err != nil {
		return "", Details{}, err
	}
	if u.Owner != app.OrgID {
		return "", Details{}, ErrInvalidCredentials
	}
	if address != "" {
		want, same := u.Human.Phone, samePhone
		if kind == FactorOTPEmail {
			want, same = u.Human.Email, strings.EqualFold
		}
		if !same(strings.TrimSpace(address), want) {
			return "", Details{}, ErrChannelAddress
		}
	}
	asPerson := WithPrincipal(ctx, &Principal{UserID: u.ID, OrgID: u.Owner, AMR: []string{"pwd"}, AuthTime: s.now()})
	_, d, err = s.addOTP(asPerson, u.Owner, u.ID, kind, nil)
	return u.ID, d, err
}

// samePhone compares phone numbers ignoring spaces, dashes and brackets.
func samePhone(a, b string) bool {
	digits := func(s string) string {
		return strings.Map(func(r rune) rune {
			if unicode.IsDigit(r) || r == '+' {
				return r
			}
			return -1
		}, s)
	}
	return a != "" && digits(a) == digits(b)
}
