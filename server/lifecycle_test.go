package server_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/factorgate/factorgate/gen/zitadel/auth"
	userv1 "github.com/factorgate/factorgate/gen/zitadel/user"
	userv2 "github.com/factorgate/factorgate/gen/zitadel/user/v2"
	"github.com/factorgate/factorgate/server/mfa"
)

// jsonBody is the REST body of a request: its protojson form.
func jsonBody(m proto.Message) string {
	b, err := protojson.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// attest answers WebAuthn creation options (JSON) with a software key.
func attest(e *env, options []byte) []byte {
	e.t.Helper()
	opts, err := virtualwebauthn.ParseAttestationOptions(string(options))
	if err != nil {
		e.t.Fatalf("ParseAttestationOptions: %v", err)
	}
	rp := virtualwebauthn.RelyingParty{Name: "factorgate", ID: "localhost", Origin: "https://localhost"}
	return []byte(virtualwebauthn.CreateAttestationResponse(rp, virtualwebauthn.NewAuthenticator(), ec2Credential(e), *opts))
}

// personWithToken creates a person with a password and returns the user id
// and an access token from the password grant.
func (e *env) personWithToken() (string, string) {
	e.t.Helper()
	userSeq++
	name := "self-" + time.Now().Format("150405.000000") + string(rune('a'+userSeq%26))
	d, err := e.core.AddHumanUser(e.ctx, e.org, mfa.HumanInput{Username: name, GivenName: "Self", FamilyName: "Service",
		Email: name + "@example.com", EmailVerified: true, Phone: "+41791234567", PhoneVerified: true, Password: "s3cret-pass"})
	if err != nil {
		e.t.Fatal(err)
	}
	code, body := e.postForm(url.Values{"grant_type": {"password"}, "username": {name}, "password": {"s3cret-pass"}}, "", "")
	if code != 200 {
		e.t.Fatalf("password grant: %d %v", code, body)
	}
	return d.ID, body["access_token"].(string)
}

// api spells the factor life cycle of one API.
type lifecycleAPI struct {
	name    string
	self    bool                                                              // acts with the person's own token
	enroll  func(e *env, tr transport, tok, user string, kind mfa.FactorKind) // fails the test on error
	list    func(e *env, tr transport, tok, user string) []mfa.FactorKind     // READY factors
	remove  func(e *env, tok, user string, kind mfa.FactorKind, id string) op
	u2fName string
}

func must(e *env, tr transport, o op, tok string) proto.Message {
	e.t.Helper()
	got := tr.call(e, o, tok, "")
	if got.code != codes.OK {
		e.t.Fatalf("%s over %s: %v %q", o.method, tr.name, got.code, got.message)
	}
	return got.resp
}

var v2API = lifecycleAPI{
	name: "user.v2",
	enroll: func(e *env, tr transport, tok, u string, kind mfa.FactorKind) {
		switch kind {
		case mfa.FactorTOTP:
			req := &userv2.RegisterTOTPRequest{UserId: u}
			resp := must(e, tr, newOp[userv2.RegisterTOTPRequest, userv2.RegisterTOTPResponse]("/zitadel.user.v2.UserService/RegisterTOTP", req,
				http.MethodPost, "/v2/users/"+u+"/totp", "{}"), tok).(*userv2.RegisterTOTPResponse)
			code, _ := totp.GenerateCode(resp.GetSecret(), time.Now())
			vreq := &userv2.VerifyTOTPRegistrationRequest{UserId: u, Code: code}
			must(e, tr, newOp[userv2.VerifyTOTPRegistrationRequest, userv2.VerifyTOTPRegistrationResponse]("/zitadel.user.v2.UserService/VerifyTOTPRegistration", vreq,
				http.MethodPost, "/v2/users/"+u+"/totp/verify", jsonBody(vreq)), tok)
		case mfa.FactorU2F:
			req := &userv2.RegisterU2FRequest{UserId: u, Domain: "localhost"}
			resp := must(e, tr, newOp[userv2.RegisterU2FRequest, userv2.RegisterU2FResponse]("/zitadel.user.v2.UserService/RegisterU2F", req,
				http.MethodPost, "/v2/users/"+u+"/u2f", jsonBody(req)), tok).(*userv2.RegisterU2FResponse)
			opts, _ := protojson.Marshal(resp.GetPublicKeyCredentialCreationOptions())
			cred := &structpb.Struct{}
			if err := protojson.Unmarshal(attest(e, opts), cred); err != nil {
				e.t.Fatal(err)
			}
			vreq := &userv2.VerifyU2FRegistrationRequest{UserId: u, U2FId: resp.GetU2FId(), PublicKeyCredential: cred, TokenName: "yubikey"}
			must(e, tr, newOp[userv2.VerifyU2FRegistrationRequest, userv2.VerifyU2FRegistrationResponse]("/zitadel.user.v2.UserService/VerifyU2FRegistration", vreq,
				http.MethodPost, "/v2/users/"+u+"/u2f/"+resp.GetU2FId(), jsonBody(vreq)), tok)
		case mfa.FactorOTPSMS:
			req := &userv2.AddOTPSMSRequest{UserId: u}
			must(e, tr, newOp[userv2.AddOTPSMSRequest, userv2.AddOTPSMSResponse]("/zitadel.user.v2.UserService/AddOTPSMS", req,
				http.MethodPost, "/v2/users/"+u+"/otp_sms", "{}"), tok)
		case mfa.FactorOTPEmail:
			req := &userv2.AddOTPEmailRequest{UserId: u}
			must(e, tr, newOp[userv2.AddOTPEmailRequest, userv2.AddOTPEmailResponse]("/zitadel.user.v2.UserService/AddOTPEmail", req,
				http.MethodPost, "/v2/users/"+u+"/otp_email", "{}"), tok)
		}
	},
	list: func(e *env, tr transport, tok, u string) []mfa.FactorKind {
		req := &userv2.ListAuthenticationFactorsRequest{UserId: u}
		resp := must(e, tr, newOp[userv2.ListAuthenticationFactorsRequest, userv2.ListAuthenticationFactorsResponse]("/zitadel.user.v2.UserService/ListAuthenticationFactors", req,
			http.MethodPost, "/v2/users/"+u+"/authentication_factors/_search", ""), tok).(*userv2.ListAuthenticationFactorsResponse)
		var out []mfa.FactorKind
		for _, f := range resp.GetResult() {
			if f.GetState() != userv2.AuthFactorState_AUTH_FACTOR_STATE_READY {
				continue
			}
			switch {
			case f.GetOtp() != nil:
				out = append(out, mfa.FactorTOTP)
			case f.GetU2F() != nil:
				out = append(out, mfa.FactorU2F)
			case f.GetOtpSms() != nil:
				out = append(out, mfa.FactorOTPSMS)
			case f.GetOtpEmail() != nil:
				out = append(out, mfa.FactorOTPEmail)
			}
		}
		return out
	},
	remove: func(e *env, tok, u string, kind mfa.FactorKind, id string) op {
		switch kind {
		case mfa.FactorTOTP:
			return newOp[userv2.RemoveTOTPRequest, userv2.RemoveTOTPResponse]("/zitadel.user.v2.UserService/RemoveTOTP", &userv2.RemoveTOTPRequest{UserId: u}, http.MethodDelete, "/v2/users/"+u+"/totp", "")
		case mfa.FactorU2F:
			return newOp[userv2.RemoveU2FRequest, userv2.RemoveU2FResponse]("/zitadel.user.v2.UserService/RemoveU2F", &userv2.RemoveU2FRequest{UserId: u, U2FId: id}, http.MethodDelete, "/v2/users/"+u+"/u2f/"+id, "")
		case mfa.FactorOTPSMS:
			return newOp[userv2.RemoveOTPSMSRequest, userv2.RemoveOTPSMSResponse]("/zitadel.user.v2.UserService/RemoveOTPSMS", &userv2.RemoveOTPSMSRequest{UserId: u}, http.MethodDelete, "/v2/users/"+u+"/otp_sms", "")
		default:
			return newOp[userv2.RemoveOTPEmailRequest, userv2.RemoveOTPEmailResponse]("/zitadel.user.v2.UserService/RemoveOTPEmail", &userv2.RemoveOTPEmailRequest{UserId: u}, http.MethodDelete, "/v2/users/"+u+"/otp_email", "")
		}
	},
}

var authAPI = lifecycleAPI{
	name: "auth.v1",
	self: true,
	enroll: func(e *env, tr transport, tok, _ string, kind mfa.FactorKind) {
		switch kind {
		case mfa.FactorTOTP:
			resp := must(e, tr, newOp[auth.AddMyAuthFactorOTPRequest, auth.AddMyAuthFactorOTPResponse]("/zitadel.auth.v1.AuthService/AddMyAuthFactorOTP", &auth.AddMyAuthFactorOTPRequest{},
				http.MethodPost, "/auth/v1/users/me/auth_factors/otp", "{}"), tok).(*auth.AddMyAuthFactorOTPResponse)
			code, _ := totp.GenerateCode(resp.GetSecret(), time.Now())
			vreq := &auth.VerifyMyAuthFactorOTPRequest{Code: code}
			must(e, tr, newOp[auth.VerifyMyAuthFactorOTPRequest, auth.VerifyMyAuthFactorOTPResponse]("/zitadel.auth.v1.AuthService/VerifyMyAuthFactorOTP", vreq,
				http.MethodPost, "/auth/v1/users/me/auth_factors/otp/_verify", jsonBody(vreq)), tok)
		case mfa.FactorU2F:
			resp := must(e, tr, newOp[auth.AddMyAuthFactorU2FRequest, auth.AddMyAuthFactorU2FResponse]("/zitadel.auth.v1.AuthService/AddMyAuthFactorU2F", &auth.AddMyAuthFactorU2FRequest{},
				http.MethodPost, "/auth/v1/users/me/auth_factors/u2f", "{}"), tok).(*auth.AddMyAuthFactorU2FResponse)
			vreq := &auth.VerifyMyAuthFactorU2FRequest{Verification: &userv1.WebAuthNVerification{PublicKeyCredential: attest(e, resp.GetKey().GetPublicKey()), TokenName: "yubikey"}}
			must(e, tr, newOp[auth.VerifyMyAuthFactorU2FRequest, auth.VerifyMyAuthFactorU2FResponse]("/zitadel.auth.v1.AuthService/VerifyMyAuthFactorU2F", vreq,
				http.MethodPost, "/auth/v1/users/me/auth_factors/u2f/_verify", jsonBody(vreq)), tok)
		case mfa.FactorOTPSMS:
			must(e, tr, newOp[auth.AddMyAuthFactorOTPSMSRequest, auth.AddMyAuthFactorOTPSMSResponse]("/zitadel.auth.v1.AuthService/AddMyAuthFactorOTPSMS", &auth.AddMyAuthFactorOTPSMSRequest{},
				http.MethodPost, "/auth/v1/users/me/auth_factors/otp_sms", "{}"), tok)
		case mfa.FactorOTPEmail:
			must(e, tr, newOp[auth.AddMyAuthFactorOTPEmailRequest, auth.AddMyAuthFactorOTPEmailResponse]("/zitadel.auth.v1.AuthService/AddMyAuthFactorOTPEmail", &auth.AddMyAuthFactorOTPEmailRequest{},
				http.MethodPost, "/auth/v1/users/me/auth_factors/otp_email", "{}"), tok)
		}
	},
	list: func(e *env, tr transport, tok, _ string) []mfa.FactorKind {
		resp := must(e, tr, newOp[auth.ListMyAuthFactorsRequest, auth.ListMyAuthFactorsResponse]("/zitadel.auth.v1.AuthService/ListMyAuthFactors", &auth.ListMyAuthFactorsRequest{},
			http.MethodPost, "/auth/v1/users/me/auth_factors/_search", ""), tok).(*auth.ListMyAuthFactorsResponse)
		var out []mfa.FactorKind
		for _, f := range resp.GetResult() {
			if f.GetState() != userv1.AuthFactorState_AUTH_FACTOR_STATE_READY {
				continue
			}
			switch {
			case f.GetOtp() != nil:
				out = append(out, mfa.FactorTOTP)
			case f.GetU2F() != nil:
				out = append(out, mfa.FactorU2F)
			case f.GetOtpSms() != nil:
				out = append(out, mfa.FactorOTPSMS)
			case f.GetOtpEmail() != nil:
				out = append(out, mfa.FactorOTPEmail)
			}
		}
		return out
	},
	remove: func(e *env, tok, _ string, kind mfa.FactorKind, id string) op {
		switch kind {
		case mfa.FactorTOTP:
			return newOp[auth.RemoveMyAuthFactorOTPRequest, auth.RemoveMyAuthFactorOTPResponse]("/zitadel.auth.v1.AuthService/RemoveMyAuthFactorOTP", &auth.RemoveMyAuthFactorOTPRequest{}, http.MethodDelete, "/auth/v1/users/me/auth_factors/otp", "")
		case mfa.FactorU2F:
			return newOp[auth.RemoveMyAuthFactorU2FRequest, auth.RemoveMyAuthFactorU2FResponse]("/zitadel.auth.v1.AuthService/RemoveMyAuthFactorU2F", &auth.RemoveMyAuthFactorU2FRequest{TokenId: id}, http.MethodDelete, "/auth/v1/users/me/auth_factors/u2f/"+id, "")
		case mfa.FactorOTPSMS:
			return newOp[auth.RemoveMyAuthFactorOTPSMSRequest, auth.RemoveMyAuthFactorOTPSMSResponse]("/zitadel.auth.v1.AuthService/RemoveMyAuthFactorOTPSMS", &auth.RemoveMyAuthFactorOTPSMSRequest{}, http.MethodDelete, "/auth/v1/users/me/auth_factors/otp_sms", "")
		default:
			return newOp[auth.RemoveMyAuthFactorOTPEmailRequest, auth.RemoveMyAuthFactorOTPEmailResponse]("/zitadel.auth.v1.AuthService/RemoveMyAuthFactorOTPEmail", &auth.RemoveMyAuthFactorOTPEmailRequest{}, http.MethodDelete, "/auth/v1/users/me/auth_factors/otp_email", "")
		}
	},
}

// The whole life cycle of every factor kind, through each API and
// transport: enroll → verify → listed READY → remove → not listed →
// remove again → NotFound with the kind's error.
func TestFactorLifecycle(t *testing.T) {
	e := mustRunServer(t)
	notFound := map[mfa.FactorKind]string{
		mfa.FactorTOTP: "COMMAND-Hd9sd", mfa.FactorU2F: "COMMAND-DAfb2", mfa.FactorOTPSMS: "COMMAND-Sr3h3", mfa.FactorOTPEmail: "COMMAND-b312D",
	}
	for _, a := range []lifecycleAPI{v2API, authAPI} {
		for _, kind := range []mfa.FactorKind{mfa.FactorTOTP, mfa.FactorU2F, mfa.FactorOTPSMS, mfa.FactorOTPEmail} {
			for _, tr := range transports {
				t.Run(a.name+"/"+string(kind)+"/"+tr.name, func(t *testing.T) {
					e.t = t
					defer func() { e.t = nil }()
					user, tok := e.personWithToken()
					if !a.self {
						tok = e.admin
					}
					a.enroll(e, tr, tok, user, kind)
					if got := a.list(e, tr, tok, user); len(got) != 1 || got[0] != kind {
						t.Fatalf("after enrolment the list shows %v, want [%s] READY", got, kind)
					}
					id := e.u2fID(user)
					if got := tr.call(e, a.remove(e, tok, user, kind, id), tok, ""); got.code != codes.OK {
						t.Fatalf("remove: %v %q", got.code, got.message)
					}
					if got := a.list(e, tr, tok, user); len(got) != 0 {
						t.Fatalf("after removal the list shows %v", got)
					}
					got := tr.call(e, a.remove(e, tok, user, kind, id), tok, "")
					if got.code != codes.NotFound || got.detailID != notFound[kind] {
						t.Fatalf("second removal: %v %q (detail %q), want NotFound %s", got.code, got.message, got.detailID, notFound[kind])
					}
				})
			}
		}
	}
}
