package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc/codes"

	"github.com/factorgate/factorgate/gen/zitadel/auth"
	resuser "github.com/factorgate/factorgate/gen/zitadel/resources/user/v3alpha"
	userv2 "github.com/factorgate/factorgate/gen/zitadel/user/v2"
	userv2beta "github.com/factorgate/factorgate/gen/zitadel/user/v2beta"
	userv3alpha "github.com/factorgate/factorgate/gen/zitadel/user/v3alpha"
	"github.com/factorgate/factorgate/server"
	"github.com/factorgate/factorgate/server/mfa"
)

// stepClock is the server's clock in step-up tests: real time plus a skew
// the test moves forward (token sign-in times come from it).
type stepClock struct {
	mu   sync.Mutex
	skew time.Duration
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.skew)
}

func (c *stepClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skew += d
}

// selfRemovalPath is one API through which a person removes their own TOTP.
type selfRemovalPath struct {
	name string
	// remove removes user's TOTP (id totpID) with tok; it returns the HTTP
	// status (REST) or gRPC code, and the body or message.
	remove func(t *testing.T, e *env, tok, user, totpID string) (int, codes.Code, string)
}

func zitadelSelf(tr transport, mk func(user, id string) op) func(*testing.T, *env, string, string, string) (int, codes.Code, string) {
	return func(t *testing.T, e *env, tok, user, id string) (int, codes.Code, string) {
		out := tr.call(e, mk(user, id), tok, "")
		return out.http, out.code, out.message + " " + out.detailID + " " + string(out.body)
	}
}

func selfRemovalPaths() []selfRemovalPath {
	ops := []struct {
		name string
		mk   func(user, id string) op
	}{
		{"auth.v1 RemoveMyAuthFactorOTP", func(string, string) op {
			return newOp[auth.RemoveMyAuthFactorOTPRequest, auth.RemoveMyAuthFactorOTPResponse]("/zitadel.auth.v1.AuthService/RemoveMyAuthFactorOTP",
				&auth.RemoveMyAuthFactorOTPRequest{}, http.MethodDelete, "/auth/v1/users/me/auth_factors/otp", "")
		}},
		{"user.v2 RemoveTOTP", func(u, _ string) op {
			return newOp[userv2.RemoveTOTPRequest, userv2.RemoveTOTPResponse]("/zitadel.user.v2.UserService/RemoveTOTP",
				&userv2.RemoveTOTPRequest{UserId: u}, http.MethodDelete, "/v2/users/"+u+"/totp", "")
		}},
		{"user.v2beta RemoveTOTP", func(u, _ string) op {
			return newOp[userv2beta.RemoveTOTPRequest, userv2beta.RemoveTOTPResponse]("/zitadel.user.v2beta.UserService/RemoveTOTP",
				&userv2beta.RemoveTOTPRequest{UserId: u}, http.MethodDelete, "/v2beta/users/"+u+"/totp", "")
		}},
		{"resources.v3alpha RemoveTOTPAuthenticator", func(u, id string) op {
			return newOp[resuser.RemoveTOTPAuthenticatorRequest, resuser.RemoveTOTPAuthenticatorResponse](resPrefix+"RemoveTOTPAuthenticator",
				&resuser.RemoveTOTPAuthenticatorRequest{Id: u, TotpId: id}, http.MethodDelete, "/resources/v3alpha/users/"+u+"/totp/"+id, "")
		}},
		{"user.v3alpha RemoveTOTPAuthenticator", func(u, id string) op {
			return newOp[userv3alpha.RemoveTOTPAuthenticatorRequest, userv3alpha.RemoveTOTPAuthenticatorResponse](v3Prefix+"RemoveTOTPAuthenticator",
				&userv3alpha.RemoveTOTPAuthenticatorRequest{UserId: u, TotpId: id}, http.MethodDelete, "/v3alpha/users/"+u+"/totp/"+id, "")
		}},
	}
	var paths []selfRemovalPath
	for _, o := range ops {
		for _, tr := range transports {
			paths = append(paths, selfRemovalPath{name: o.name + " (" + tr.name + ")", remove: zitadelSelf(tr, o.mk)})
		}
	}
	paths = append(paths, selfRemovalPath{name: "DruID mfa/delete", remove: func(t *testing.T, e *env, tok, user, _ string) (int, codes.Code, string) {
		code, hdr, env := e.druidDelete(druidHeaders(tok, nil), druidBody(user, "totp", nil))
		msg := env.Result.Message
		for _, er := range env.Result.Errors {
			msg += " " + er.Details
		}
		return code, codes.OK, msg + " " + hdr.Get("WWW-Authenticate")
	}})
	return paths
}

// TestStepUpMatrix runs every self-service removal path with a fresh
// sign-in (removed), a sign-in older than the window (refused: ZITADEL
// FailedPrecondition / HTTP 400 with COMMAND-fgStp, DruID 401 with a
// description and an RFC 9470 challenge; the factor stays) and with the
// rule off (removed).
func TestStepUpMatrix(t *testing.T) {
	for _, mode := range []struct {
		name    string
		window  time.Duration
		age     time.Duration
		refused bool
	}{
		{"FreshSignInRemoves", 10 * time.Minute, 0, false},
		{"StaleSignInGetsStepUpRequired", 10 * time.Minute, 11 * time.Minute, true},
		{"RuleOffRemovesWithStaleSignIn", 0, 11 * time.Minute, false},
	} {
		t.Run(mode.name, func(t *testing.T) {
			clock := &stepClock{}
			e := mustRunServer(t, func(c *server.Config) { c.Now, c.SelfRemovalMaxAge = clock.Now, mode.window })
			type person struct{ user, tok, totp string }
			paths := selfRemovalPaths()
			people := make([]person, len(paths))
			for i, p := range paths {
				user, name := e.quickPerson(e.org)
				tok := e.passwordToken(name)
				if strings.HasPrefix(p.name, "DruID") {
					tok = e.druidLogin(name)
				}
				e.enrollTOTP(user)
				people[i] = person{user, tok, e.factors(user)[0].ID}
			}
			clock.Advance(mode.age)
			for i, p := range paths {
				status, code, body := p.remove(t, e, people[i].tok, people[i].user, people[i].totp)
				has := len(e.factors(people[i].user)) > 0
				switch {
				case !mode.refused && (has || (status != 0 && status != http.StatusOK) || code != codes.OK):
					t.Errorf("%s: %d %v %s; factor left: %v", p.name, status, code, body, has)
				case mode.refused && !has:
					t.Errorf("%s: refused removal removed the factor", p.name)
				case mode.refused && strings.HasPrefix(p.name, "DruID"):
					if status != http.StatusUnauthorized || !strings.Contains(body, mfa.ErrStepUpRequired.ID) ||
						!strings.Contains(body, "insufficient_user_authentication") {
						t.Errorf("%s: %d %s, want 401 with %s and a step-up challenge", p.name, status, body, mfa.ErrStepUpRequired.ID)
					}
				case mode.refused:
					if code != codes.FailedPrecondition || (status != 0 && status != http.StatusBadRequest) ||
						!strings.Contains(body, mfa.ErrStepUpRequired.ID) {
						t.Errorf("%s: %d %v %s, want FailedPrecondition/400 with %s", p.name, status, code, body, mfa.ErrStepUpRequired.ID)
					}
				}
				t.Logf("%-55s %-30s http=%d code=%v", p.name, mode.name, status, code)
			}
		})
	}
}

// TestStepUpAdminRemovingSomeoneElseUnaffected: the bootstrap admin's
// token is hours old, and the admin removes a person's factor.
func TestStepUpAdminRemovingSomeoneElseUnaffected(t *testing.T) {
	clock := &stepClock{}
	e := mustRunServer(t, func(c *server.Config) { c.Now = clock.Now })
	user := e.newHuman(e.org)
	e.enrollTOTP(user)
	clock.Advance(6 * time.Hour)
	if code, raw := e.rawREST(http.MethodDelete, "/v2/users/"+user+"/totp", e.admin, ""); code != http.StatusOK {
		t.Fatalf("admin removal: %d %s", code, raw)
	}
}

// TestRevokeTokensOnFactorRemoval: with the option on, removing one's
// factor ends the person's other access tokens; the removing token works.
func TestRevokeTokensOnFactorRemoval(t *testing.T) {
	e := mustRunServer(t, func(c *server.Config) { c.RevokeTokensOnFactorRemoval = true })
	user, name := e.quickPerson(e.org)
	mine := e.passwordToken(name)
	others := []string{e.passwordToken(name), e.passwordToken(name)}
	e.enrollTOTP(user)
	if code, raw := e.rawREST(http.MethodDelete, "/auth/v1/users/me/auth_factors/otp", mine, ""); code != http.StatusOK {
		t.Fatalf("RemoveMyAuthFactorOTP: %d %s", code, raw)
	}
	for _, tok := range others {
		if code, raw := e.rawREST(http.MethodPost, "/auth/v1/users/me/auth_factors/_search", tok, ""); code != http.StatusUnauthorized {
			t.Fatalf("another token after the removal: %d %s, want 401", code, raw)
		}
	}
	if code, raw := e.rawREST(http.MethodPost, "/auth/v1/users/me/auth_factors/_search", mine, ""); code != http.StatusOK {
		t.Fatalf("the removing token after the removal: %d %s", code, raw)
	}

	// Off (the default): other tokens live on.
	e2 := mustRunServer(t)
	user2, name2 := e2.quickPerson(e2.org)
	mine2, other2 := e2.passwordToken(name2), e2.passwordToken(name2)
	e2.enrollTOTP(user2)
	if code, raw := e2.rawREST(http.MethodDelete, "/auth/v1/users/me/auth_factors/otp", mine2, ""); code != http.StatusOK {
		t.Fatalf("RemoveMyAuthFactorOTP: %d %s", code, raw)
	}
	if code, raw := e2.rawREST(http.MethodPost, "/auth/v1/users/me/auth_factors/_search", other2, ""); code != http.StatusOK {
		t.Fatalf("option off: other token %d %s", code, raw)
	}
}

// passwordToken signs username in (ZITADEL's password grant) and returns
// the access token.
func (e *env) passwordToken(username string) string {
	e.t.Helper()
	code, body := e.postForm(url.Values{"grant_type": {"password"}, "username": {username}, "password": {druidPassword}}, "", "")
	tok, _ := body["access_token"].(string)
	if code != http.StatusOK || tok == "" {
		e.t.Fatalf("password grant: %d %v", code, body)
	}
	return tok
}

// quickHash is druidPassword's bcrypt hash at the lowest cost: people
// created with it sign in fast under the race detector.
var quickHash = sync.OnceValue(func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(druidPassword), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
})

// quickPerson creates a person in org whose password is druidPassword.
func (e *env) quickPerson(org string) (id, username string) {
	e.t.Helper()
	seq := int(userSeq.Add(1))
	username = "stepup" + time.Now().Format("150405.000000") + strings.Repeat("q", seq%11) + string(rune('a'+seq%26))
	d, err := e.core.AddHumanUser(e.ctx, org, mfa.HumanInput{Username: username, GivenName: "Ada", FamilyName: "Lovelace",
		Email: username + "@example.com", EmailVerified: true, PasswordHash: quickHash()})
	if err != nil {
		e.t.Fatalf("AddHumanUser: %v", err)
	}
	return d.ID, username
}
