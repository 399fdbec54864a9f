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
	resuser "github.com/factorgate/factorgate/gen/zitadel/resources/user/v3alpha"
	userv1 "github.com/factorgate/factorgate/gen/zitadel/user"
	userv2 "github.com/factorgate/factorgate/gen/zitadel/user/v2"
	userv3alpha "github.com/factorgate/factorgate/gen/zitadel/user/v3alpha"
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
	seq := int(userSeq.Add(1))
	name := "self-" + time.Now().Format("150405.000000") + string(rune('a'+seq%26))
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

// jsonString is the REST body of an RPC whose body is one string field
// (body: "code").
func jsonString(s string) string {
	b, err := protojson.Marshal(&structpb.Value{Kind: &structpb.Value_StringValue{StringValue: s}})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// credentialFor answers WebAuthn creation options (a Struct) with a
// software key's attestation, as a Struct.
func credentialFor(e *env, options *structpb.Struct) *structpb.Struct {
	e.t.Helper()
	opts, err := protojson.Marshal(options)
	if err != nil {
		e.t.Fatal(err)
	}
	cred := &structpb.Struct{}
	if err := protojson.Unmarshal(attest(e, opts), cred); err != nil {
		e.t.Fatal(err)
	}
	return cred
}

// returnCodePhone and returnCodeEmail ask a v3alpha OTP registration for a
// new phone or address, with the code in the answer.
func returnCodePhone(number string) *resuser.SetPhone {
	return &resuser.SetPhone{Number: number, Verification: &resuser.SetPhone_ReturnCode{ReturnCode: &resuser.ReturnPhoneVerificationCode{}}}
}

func returnCodeEmail(address string) *resuser.SetEmail {
	return &resuser.SetEmail{Address: address, Verification: &resuser.SetEmail_ReturnCode{ReturnCode: &resuser.ReturnEmailVerificationCode{}}}
}

// listAsAdmin lists READY factors through user.v2 as the admin: the v3alpha
// APIs have no list call.
func listAsAdmin(e *env, tr transport, _, u string) []mfa.FactorKind {
	return v2API.list(e, tr, e.admin, u)
}

const resPrefix = "/zitadel.resources.user.v3alpha.ZITADELUsers/"

var resourcesAPI = lifecycleAPI{
	name: "resources.user.v3alpha",
	enroll: func(e *env, tr transport, tok, u string, kind mfa.FactorKind) {
		base := "/resources/v3alpha/users/" + u
		switch kind {
		case mfa.FactorTOTP:
			req := &resuser.StartTOTPRegistrationRequest{Id: u}
			resp := must(e, tr, newOp[resuser.StartTOTPRegistrationRequest, resuser.StartTOTPRegistrationResponse](resPrefix+"StartTOTPRegistration", req,
				http.MethodPost, base+"/totp", ""), tok).(*resuser.StartTOTPRegistrationResponse)
			if resp.GetTotpId() == "" || resp.GetDetails().GetId() != resp.GetTotpId() {
				e.t.Fatalf("StartTOTPRegistration answered %v", resp)
			}
			code, _ := totp.GenerateCode(resp.GetSecret(), time.Now())
			vreq := &resuser.VerifyTOTPRegistrationRequest{Id: u, TotpId: resp.GetTotpId(), Code: code}
			must(e, tr, newOp[resuser.VerifyTOTPRegistrationRequest, resuser.VerifyTOTPRegistrationResponse](resPrefix+"VerifyTOTPRegistration", vreq,
				http.MethodPost, base+"/totp/"+resp.GetTotpId()+"/_verify", jsonString(code)), tok)
		case mfa.FactorU2F:
			reg := &resuser.StartWebAuthNRegistration{Domain: "localhost"}
			req := &resuser.StartWebAuthNRegistrationRequest{Id: u, Registration: reg}
			resp := must(e, tr, newOp[resuser.StartWebAuthNRegistrationRequest, resuser.StartWebAuthNRegistrationResponse](resPrefix+"StartWebAuthNRegistration", req,
				http.MethodPost, base+"/webauthn", jsonBody(reg)), tok).(*resuser.StartWebAuthNRegistrationResponse)
			verify := &resuser.VerifyWebAuthNRegistration{PublicKeyCredential: credentialFor(e, resp.GetPublicKeyCredentialCreationOptions()), WebAuthNName: "yubikey"}
			vreq := &resuser.VerifyWebAuthNRegistrationRequest{Id: u, WebAuthNId: resp.GetWebAuthNId(), Verify: verify}
			must(e, tr, newOp[resuser.VerifyWebAuthNRegistrationRequest, resuser.VerifyWebAuthNRegistrationResponse](resPrefix+"VerifyWebAuthNRegistration", vreq,
				http.MethodPost, base+"/webauthn/"+resp.GetWebAuthNId()+"/_verify", jsonBody(verify)), tok)
		case mfa.FactorOTPSMS:
			phone := returnCodePhone("+41 79 111 22 33")
			req := &resuser.AddOTPSMSAuthenticatorRequest{Id: u, Phone: phone}
			resp := must(e, tr, newOp[resuser.AddOTPSMSAuthenticatorRequest, resuser.AddOTPSMSAuthenticatorResponse](resPrefix+"AddOTPSMSAuthenticator", req,
				http.MethodPost, base+"/otp_sms", jsonBody(phone)), tok).(*resuser.AddOTPSMSAuthenticatorResponse)
			vreq := &resuser.VerifyOTPSMSRegistrationRequest{Id: u, OtpSmsId: resp.GetOtpSmsId(), Code: resp.GetVerificationCode()}
			must(e, tr, newOp[resuser.VerifyOTPSMSRegistrationRequest, resuser.VerifyOTPSMSRegistrationResponse](resPrefix+"VerifyOTPSMSRegistration", vreq,
				http.MethodPost, base+"/otp_sms/"+resp.GetOtpSmsId()+"/_verify", jsonString(resp.GetVerificationCode())), tok)
		case mfa.FactorOTPEmail:
			email := returnCodeEmail("lifecycle@example.net")
			req := &resuser.AddOTPEmailAuthenticatorRequest{Id: u, Email: email}
			resp := must(e, tr, newOp[resuser.AddOTPEmailAuthenticatorRequest, resuser.AddOTPEmailAuthenticatorResponse](resPrefix+"AddOTPEmailAuthenticator", req,
				http.MethodPost, base+"/otp_email", jsonBody(email)), tok).(*resuser.AddOTPEmailAuthenticatorResponse)
			vreq := &resuser.VerifyOTPEmailRegistrationRequest{Id: u, OtpEmailId: resp.GetOtpEmailId(), Code: resp.GetVerificationCode()}
			must(e, tr, newOp[resuser.VerifyOTPEmailRegistrationRequest, resuser.VerifyOTPEmailRegistrationResponse](resPrefix+"VerifyOTPEmailRegistration", vreq,
				http.MethodPost, base+"/otp_email/"+resp.GetOtpEmailId()+"/_verify", jsonString(resp.GetVerificationCode())), tok)
		}
	},
	list:   listAsAdmin,
	remove: resourceRemove,
}

// resourceRemove is the v3alpha resource removal of a user's factor id.
func resourceRemove(_ *env, _, u string, kind mfa.FactorKind, id string) op {
	base := "/resources/v3alpha/users/" + u
	switch kind {
	case mfa.FactorTOTP:
		return newOp[resuser.RemoveTOTPAuthenticatorRequest, resuser.RemoveTOTPAuthenticatorResponse](resPrefix+"RemoveTOTPAuthenticator",
			&resuser.RemoveTOTPAuthenticatorRequest{Id: u, TotpId: id}, http.MethodDelete, base+"/totp/"+id, "")
	case mfa.FactorU2F:
		return newOp[resuser.RemoveWebAuthNAuthenticatorRequest, resuser.RemoveWebAuthNAuthenticatorResponse](resPrefix+"RemoveWebAuthNAuthenticator",
			&resuser.RemoveWebAuthNAuthenticatorRequest{Id: u, WebAuthNId: id}, http.MethodDelete, base+"/webauthn/"+id, "")
	case mfa.FactorOTPSMS:
		return newOp[resuser.RemoveOTPSMSAuthenticatorRequest, resuser.RemoveOTPSMSAuthenticatorResponse](resPrefix+"RemoveOTPSMSAuthenticator",
			&resuser.RemoveOTPSMSAuthenticatorRequest{Id: u, OtpSmsId: id}, http.MethodDelete, base+"/otp_sms/"+id, "")
	default:
		return newOp[resuser.RemoveOTPEmailAuthenticatorRequest, resuser.RemoveOTPEmailAuthenticatorResponse](resPrefix+"RemoveOTPEmailAuthenticator",
			&resuser.RemoveOTPEmailAuthenticatorRequest{Id: u, OtpEmailId: id}, http.MethodDelete, base+"/otp_email/"+id, "")
	}
}

const v3Prefix = "/zitadel.user.v3alpha.UserService/"

var userV3AlphaAPI = lifecycleAPI{
	name: "user.v3alpha",
	enroll: func(e *env, tr transport, tok, u string, kind mfa.FactorKind) {
		base := "/v3alpha/users/" + u
		switch kind {
		case mfa.FactorTOTP:
			req := &userv3alpha.StartTOTPRegistrationRequest{UserId: u}
			resp := must(e, tr, newOp[userv3alpha.StartTOTPRegistrationRequest, userv3alpha.StartTOTPRegistrationResponse](v3Prefix+"StartTOTPRegistration", req,
				http.MethodPost, base+"/totp", ""), tok).(*userv3alpha.StartTOTPRegistrationResponse)
			code, _ := totp.GenerateCode(resp.GetSecret(), time.Now())
			vreq := &userv3alpha.VerifyTOTPRegistrationRequest{UserId: u, TotpId: resp.GetTotpId(), Code: code}
			must(e, tr, newOp[userv3alpha.VerifyTOTPRegistrationRequest, userv3alpha.VerifyTOTPRegistrationResponse](v3Prefix+"VerifyTOTPRegistration", vreq,
				http.MethodPost, base+"/totp/"+resp.GetTotpId()+"/verify", jsonBody(vreq)), tok)
		case mfa.FactorU2F:
			req := &userv3alpha.StartWebAuthNRegistrationRequest{UserId: u, Domain: "localhost"}
			resp := must(e, tr, newOp[userv3alpha.StartWebAuthNRegistrationRequest, userv3alpha.StartWebAuthNRegistrationResponse](v3Prefix+"StartWebAuthNRegistration", req,
				http.MethodPost, base+"/webauthn", jsonBody(req)), tok).(*userv3alpha.StartWebAuthNRegistrationResponse)
			vreq := &userv3alpha.VerifyWebAuthNRegistrationRequest{UserId: u, WebAuthNId: resp.GetWebAuthNId(),
				PublicKeyCredential: credentialFor(e, resp.GetPublicKeyCredentialCreationOptions()), WebAuthNName: "yubikey"}
			must(e, tr, newOp[userv3alpha.VerifyWebAuthNRegistrationRequest, userv3alpha.VerifyWebAuthNRegistrationResponse](v3Prefix+"VerifyWebAuthNRegistration", vreq,
				http.MethodPost, base+"/webauthn/"+resp.GetWebAuthNId(), jsonBody(vreq)), tok)
		case mfa.FactorOTPSMS:
			req := &userv3alpha.AddOTPSMSAuthenticatorRequest{UserId: u, Phone: &userv3alpha.SetPhone{Number: "+41791112233",
				Verification: &userv3alpha.SetPhone_ReturnCode{ReturnCode: &userv3alpha.ReturnPhoneVerificationCode{}}}}
			resp := must(e, tr, newOp[userv3alpha.AddOTPSMSAuthenticatorRequest, userv3alpha.AddOTPSMSAuthenticatorResponse](v3Prefix+"AddOTPSMSAuthenticator", req,
				http.MethodPost, base+"/otp_sms", jsonBody(req)), tok).(*userv3alpha.AddOTPSMSAuthenticatorResponse)
			vreq := &userv3alpha.VerifyOTPSMSRegistrationRequest{UserId: u, OtpSmsId: resp.GetOtpSmsId(), Code: resp.GetVerificationCode()}
			must(e, tr, newOp[userv3alpha.VerifyOTPSMSRegistrationRequest, userv3alpha.VerifyOTPSMSRegistrationResponse](v3Prefix+"VerifyOTPSMSRegistration", vreq,
				http.MethodPost, base+"/otp_sms/"+resp.GetOtpSmsId()+"/verify", jsonBody(vreq)), tok)
		case mfa.FactorOTPEmail:
			req := &userv3alpha.AddOTPEmailAuthenticatorRequest{UserId: u, Email: &userv3alpha.SetEmail{Address: "lifecycle@example.net",
				Verification: &userv3alpha.SetEmail_ReturnCode{ReturnCode: &userv3alpha.ReturnEmailVerificationCode{}}}}
			resp := must(e, tr, newOp[userv3alpha.AddOTPEmailAuthenticatorRequest, userv3alpha.AddOTPEmailAuthenticatorResponse](v3Prefix+"AddOTPEmailAuthenticator", req,
				http.MethodPost, base+"/otp_email", jsonBody(req)), tok).(*userv3alpha.AddOTPEmailAuthenticatorResponse)
			vreq := &userv3alpha.VerifyOTPEmailRegistrationRequest{UserId: u, OtpEmailId: resp.GetOtpEmailId(), Code: resp.GetVerificationCode()}
			must(e, tr, newOp[userv3alpha.VerifyOTPEmailRegistrationRequest, userv3alpha.VerifyOTPEmailRegistrationResponse](v3Prefix+"VerifyOTPEmailRegistration", vreq,
				http.MethodPost, base+"/otp_email/"+resp.GetOtpEmailId()+"/verify", jsonBody(vreq)), tok)
		}
	},
	list: listAsAdmin,
	remove: func(_ *env, _, u string, kind mfa.FactorKind, id string) op {
		base := "/v3alpha/users/" + u
		switch kind {
		case mfa.FactorTOTP:
			return newOp[userv3alpha.RemoveTOTPAuthenticatorRequest, userv3alpha.RemoveTOTPAuthenticatorResponse](v3Prefix+"RemoveTOTPAuthenticator",
				&userv3alpha.RemoveTOTPAuthenticatorRequest{UserId: u, TotpId: id}, http.MethodDelete, base+"/totp/"+id, "")
		case mfa.FactorU2F:
			return newOp[userv3alpha.RemoveWebAuthNAuthenticatorRequest, userv3alpha.RemoveWebAuthNAuthenticatorResponse](v3Prefix+"RemoveWebAuthNAuthenticator",
				&userv3alpha.RemoveWebAuthNAuthenticatorRequest{UserId: u, WebAuthNId: id}, http.MethodDelete, base+"/webauthn/"+id, "")
		case mfa.FactorOTPSMS:
			return newOp[userv3alpha.RemoveOTPSMSAuthenticatorRequest, userv3alpha.RemoveOTPSMSAuthenticatorResponse](v3Prefix+"RemoveOTPSMSAuthenticator",
				&userv3alpha.RemoveOTPSMSAuthenticatorRequest{UserId: u, OtpSmsId: id}, http.MethodDelete, base+"/otp_sms/"+id, "")
		default:
			return newOp[userv3alpha.RemoveOTPEmailAuthenticatorRequest, userv3alpha.RemoveOTPEmailAuthenticatorResponse](v3Prefix+"RemoveOTPEmailAuthenticator",
				&userv3alpha.RemoveOTPEmailAuthenticatorRequest{UserId: u, OtpEmailId: id}, http.MethodDelete, base+"/otp_email/"+id, "")
		}
	},
}

// The whole life cycle of every factor kind, through each API and
// transport: enroll → verify → listed READY → remove → not listed →
// remove again → NotFound with the kind's error.
func TestFactorLifecycle(t *testing.T) {
	t.Parallel() // long; shares nothing with other tests (make test time)
	e := mustRunServer(t)
	notFound := map[mfa.FactorKind]string{
		mfa.FactorTOTP: "COMMAND-Hd9sd", mfa.FactorU2F: "COMMAND-DAfb2", mfa.FactorOTPSMS: "COMMAND-Sr3h3", mfa.FactorOTPEmail: "COMMAND-b312D",
	}
	for _, a := range []lifecycleAPI{v2API, authAPI, resourcesAPI, userV3AlphaAPI} {
		for _, kind := range []mfa.FactorKind{mfa.FactorTOTP, mfa.FactorU2F, mfa.FactorOTPSMS, mfa.FactorOTPEmail} {
			for _, tr := range transports {
				t.Run(a.name+"/"+string(kind)+"/"+tr.name, func(t *testing.T) {
					e.t = t
					defer func() { e.t = nil }()
					// Self-service needs the person's own token (a password
					// grant, slow under -race); the others act as the admin.
					user, tok := e.newHuman(e.org), e.admin
					if a.self {
						user, tok = e.personWithToken()
					}
					a.enroll(e, tr, tok, user, kind)
					if got := a.list(e, tr, tok, user); len(got) != 1 || got[0] != kind {
						t.Fatalf("after enrolment the list shows %v, want [%s] READY", got, kind)
					}
					id := e.factorID(user, kind)
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
