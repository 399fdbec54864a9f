package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"testing"

	"google.golang.org/grpc/codes"

	objectv3alpha "github.com/factorgate/factorgate/gen/zitadel/object/v3alpha"
	resobject "github.com/factorgate/factorgate/gen/zitadel/resources/object/v3alpha"
	resuser "github.com/factorgate/factorgate/gen/zitadel/resources/user/v3alpha"
	userv3alpha "github.com/factorgate/factorgate/gen/zitadel/user/v3alpha"
	"github.com/factorgate/factorgate/server/mfa"
)

// The v3alpha cases beyond the life cycle (lifecycle_test.go): wrong ids,
// organizations, and the OTP SMS / email verification choices.

var (
	totpNotFound     = failure(codes.NotFound, http.StatusNotFound, "Multifactor OTP (OneTimePassword) doesn't exist", "COMMAND-Hd9sd")
	webAuthNNotFound = failure(codes.NotFound, http.StatusNotFound, "WebAuthN Token could not be found", "COMMAND-DAfb2")
	smsNotFound      = failure(codes.NotFound, http.StatusNotFound, "Multifactor OTP (OneTimePassword) doesn't exist", "COMMAND-Sr3h3")
	emailNotFound    = failure(codes.NotFound, http.StatusNotFound, "Multifactor OTP (OneTimePassword) doesn't exist", "COMMAND-b312D")
	invalidCode      = failure(codes.InvalidArgument, http.StatusBadRequest, "Invalid code", "EVENT-8isk2")
)

func inOrg(id string) *objectv3alpha.Organization {
	return &objectv3alpha.Organization{Property: &objectv3alpha.Organization_OrgId{OrgId: id}}
}

func TestV3AlphaWrongFactorID(t *testing.T) {
	e := mustRunServer(t)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			e.t = t
			defer func() { e.t = nil }()
			user := e.newHuman(e.org)
			e.enrollTOTP(user)
			e.addOTP(user, mfa.FactorOTPSMS)
			e.addOTP(user, mfa.FactorOTPEmail)
			key := e.enrollU2F(user)
			totpID, smsID, emailID := e.factorID(user, mfa.FactorTOTP), e.factorID(user, mfa.FactorOTPSMS), e.factorID(user, mfa.FactorOTPEmail)
			before := len(e.factors(user))

			// Each call names a factor the user has, but of another kind,
			// or an id the user does not have.
			e.mustCall(t, tr, resourceRemove(e, "", user, mfa.FactorTOTP, smsID), e.admin, "", totpNotFound)
			e.mustCall(t, tr, resourceRemove(e, "", user, mfa.FactorU2F, totpID), e.admin, "", webAuthNNotFound)
			e.mustCall(t, tr, resourceRemove(e, "", user, mfa.FactorOTPSMS, emailID), e.admin, "", smsNotFound)
			e.mustCall(t, tr, resourceRemove(e, "", user, mfa.FactorOTPEmail, key+"0"), e.admin, "", emailNotFound)
			vreq := &resuser.VerifyTOTPRegistrationRequest{Id: user, TotpId: smsID, Code: "123456"}
			e.mustCall(t, tr, newOp[resuser.VerifyTOTPRegistrationRequest, resuser.VerifyTOTPRegistrationResponse](resPrefix+"VerifyTOTPRegistration", vreq,
				http.MethodPost, "/resources/v3alpha/users/"+user+"/totp/"+smsID+"/_verify", jsonString("123456")), e.admin, "", totpNotFound)
			sreq := &resuser.VerifyOTPSMSRegistrationRequest{Id: user, OtpSmsId: "404", Code: "12345678"}
			e.mustCall(t, tr, newOp[resuser.VerifyOTPSMSRegistrationRequest, resuser.VerifyOTPSMSRegistrationResponse](resPrefix+"VerifyOTPSMSRegistration", sreq,
				http.MethodPost, "/resources/v3alpha/users/"+user+"/otp_sms/404/_verify", jsonString("12345678")), e.admin, "", smsNotFound)
			e.mustCall(t, tr, userV3AlphaAPI.remove(e, "", user, mfa.FactorTOTP, "404"), e.admin, "", totpNotFound)
			e.mustCall(t, tr, userV3AlphaAPI.remove(e, "", user, mfa.FactorOTPEmail, smsID), e.admin, "", emailNotFound)
			if after := len(e.factors(user)); after != before {
				t.Fatalf("%d factors after the failed calls, want %d", after, before)
			}

			// With the right ids they go.
			for kind, id := range map[mfa.FactorKind]string{mfa.FactorTOTP: totpID, mfa.FactorU2F: key, mfa.FactorOTPSMS: smsID, mfa.FactorOTPEmail: emailID} {
				got := e.mustCall(t, tr, resourceRemove(e, "", user, kind, id), e.admin, "", success)
				d := got.resp.(interface{ GetDetails() *resobject.Details }).GetDetails()
				if d.GetId() != id || d.GetOwner().GetId() != e.org || d.GetOwner().GetType() != objectv3alpha.OwnerType_OWNER_TYPE_ORG ||
					d.GetChanged() == nil || d.GetCreated() == nil {
					t.Fatalf("%s removal details = %v, want id %s owned by org %s", kind, d, id, e.org)
				}
			}
			if n := len(e.factors(user)); n != 0 {
				t.Fatalf("%d factors left", n)
			}
		})
	}
}

func TestV3AlphaOrganization(t *testing.T) {
	e := mustRunServer(t)
	other := e.newOrg("v3alpha-other")
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			e.t = t
			defer func() { e.t = nil }()
			user := e.newHuman(e.org)
			e.enrollTOTP(user)
			e.addOTP(user, mfa.FactorOTPSMS)
			totpID, smsID := e.factorID(user, mfa.FactorTOTP), e.factorID(user, mfa.FactorOTPSMS)
			base := "/resources/v3alpha/users/" + user

			// The user is not in the other organization: every call answers
			// the kind's NotFound, even for the admin.
			rm := &resuser.RemoveTOTPAuthenticatorRequest{Id: user, TotpId: totpID, Organization: inOrg(other)}
			e.mustCall(t, tr, newOp[resuser.RemoveTOTPAuthenticatorRequest, resuser.RemoveTOTPAuthenticatorResponse](resPrefix+"RemoveTOTPAuthenticator", rm,
				http.MethodDelete, base+"/totp/"+totpID+"?organization.orgId="+other, ""), e.admin, "", totpNotFound)
			rmSMS := &resuser.RemoveOTPSMSAuthenticatorRequest{Id: user, OtpSmsId: smsID, Organization: inOrg(other)}
			e.mustCall(t, tr, newOp[resuser.RemoveOTPSMSAuthenticatorRequest, resuser.RemoveOTPSMSAuthenticatorResponse](resPrefix+"RemoveOTPSMSAuthenticator", rmSMS,
				http.MethodDelete, base+"/otp_sms/"+smsID+"?organization.orgId="+other, ""), e.admin, "", smsNotFound)
			start := &resuser.StartTOTPRegistrationRequest{Id: user, Organization: inOrg(other)}
			e.mustCall(t, tr, newOp[resuser.StartTOTPRegistrationRequest, resuser.StartTOTPRegistrationResponse](resPrefix+"StartTOTPRegistration", start,
				http.MethodPost, base+"/totp?organization.orgId="+other, ""), e.admin, "", totpNotFound)
			email := returnCodeEmail("elsewhere@example.net")
			add := &resuser.AddOTPEmailAuthenticatorRequest{Id: user, Email: email, Organization: inOrg(other)}
			e.mustCall(t, tr, newOp[resuser.AddOTPEmailAuthenticatorRequest, resuser.AddOTPEmailAuthenticatorResponse](resPrefix+"AddOTPEmailAuthenticator", add,
				http.MethodPost, base+"/otp_email?organization.orgId="+other, jsonBody(email)), e.admin, "", emailNotFound)
			if n := len(e.factors(user)); n != 2 {
				t.Fatalf("%d factors, want the 2 enrolled", n)
			}

			// Organization domains are not supported; another instance is
			// not found.
			byDomain := &resuser.RemoveTOTPAuthenticatorRequest{Id: user, TotpId: totpID,
				Organization: &objectv3alpha.Organization{Property: &objectv3alpha.Organization_OrgDomain{OrgDomain: "acme.example"}}}
			e.mustCall(t, tr, newOp[resuser.RemoveTOTPAuthenticatorRequest, resuser.RemoveTOTPAuthenticatorResponse](resPrefix+"RemoveTOTPAuthenticator", byDomain,
				http.MethodDelete, base+"/totp/"+totpID+"?organization.orgDomain=acme.example", ""), e.admin, "",
				failure(codes.InvalidArgument, http.StatusBadRequest, "organization.org_domain is not supported by this server", "USER-fg001"))
			otherInstance := &resuser.RemoveTOTPAuthenticatorRequest{Id: user, TotpId: totpID,
				Instance: &objectv3alpha.Instance{Property: &objectv3alpha.Instance_Id{Id: "404"}}}
			e.mustCall(t, tr, newOp[resuser.RemoveTOTPAuthenticatorRequest, resuser.RemoveTOTPAuthenticatorResponse](resPrefix+"RemoveTOTPAuthenticator", otherInstance,
				http.MethodDelete, base+"/totp/"+totpID+"?instance.id=404", ""), e.admin, "",
				failure(codes.NotFound, http.StatusNotFound, "Instance not found", "INSTANCE-fg404"))

			// In the user's own organization (and instance) it works.
			rm.Organization, rm.Instance = inOrg(e.org), &objectv3alpha.Instance{Property: &objectv3alpha.Instance_Id{Id: e.core.InstanceID()}}
			e.mustCall(t, tr, newOp[resuser.RemoveTOTPAuthenticatorRequest, resuser.RemoveTOTPAuthenticatorResponse](resPrefix+"RemoveTOTPAuthenticator", rm,
				http.MethodDelete, base+"/totp/"+totpID+"?organization.orgId="+e.org+"&instance.id="+e.core.InstanceID(), ""), e.admin, "", success)
		})
	}
}

func TestV3AlphaOTPVerification(t *testing.T) {
	e := mustRunServer(t)
	eightDigits := regexp.MustCompile(`^[0-9]{8}$`)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			e.t = t
			defer func() { e.t = nil }()

			t.Run("return_code: a wrong code, then the right one", func(t *testing.T) {
				e.t = t
				user := e.newHuman(e.org)
				base := "/resources/v3alpha/users/" + user
				phone := returnCodePhone("+41 79 222 33 44")
				req := &resuser.AddOTPSMSAuthenticatorRequest{Id: user, Phone: phone}
				got := e.mustCall(t, tr, newOp[resuser.AddOTPSMSAuthenticatorRequest, resuser.AddOTPSMSAuthenticatorResponse](resPrefix+"AddOTPSMSAuthenticator", req,
					http.MethodPost, base+"/otp_sms", jsonBody(phone)), e.admin, "", success)
				resp := got.resp.(*resuser.AddOTPSMSAuthenticatorResponse)
				code, id := resp.GetVerificationCode(), resp.GetOtpSmsId()
				if !eightDigits.MatchString(code) || resp.GetDetails().GetId() != id || resp.GetDetails().GetOwner().GetId() != e.org {
					t.Fatalf("AddOTPSMSAuthenticator answered %v", resp)
				}
				// protojson varies its spacing from build to build: compare compacted.
				var compact bytes.Buffer
				if tr.name == "rest" && (json.Compact(&compact, got.body) != nil ||
					!bytes.Contains(compact.Bytes(), []byte(`"owner":{"type":"OWNER_TYPE_ORG","id":"`+e.org+`"}`))) {
					t.Fatalf("REST details: %s", got.body)
				}
				if kinds := listAsAdmin(e, tr, "", user); len(kinds) != 0 {
					t.Fatalf("READY before verification: %v", kinds)
				}

				verify := func(c string, w expect) {
					t.Helper()
					vreq := &resuser.VerifyOTPSMSRegistrationRequest{Id: user, OtpSmsId: id, Code: c}
					e.mustCall(t, tr, newOp[resuser.VerifyOTPSMSRegistrationRequest, resuser.VerifyOTPSMSRegistrationResponse](resPrefix+"VerifyOTPSMSRegistration", vreq,
						http.MethodPost, base+"/otp_sms/"+id+"/_verify", jsonString(c)), e.admin, "", w)
				}
				wrong := "00000000"
				if code == wrong {
					wrong = "11111111"
				}
				verify(wrong, invalidCode)
				if kinds := listAsAdmin(e, tr, "", user); len(kinds) != 0 {
					t.Fatalf("READY after a wrong code: %v", kinds)
				}
				verify(code, success)
				if kinds := listAsAdmin(e, tr, "", user); len(kinds) != 1 || kinds[0] != mfa.FactorOTPSMS {
					t.Fatalf("after verification the list shows %v", kinds)
				}
				verify(code, failure(codes.FailedPrecondition, http.StatusBadRequest, "Multifactor OTP (OneTimePassword) is already set up", "COMMAND-fgSMr"))
			})

			t.Run("send_code: no code in the answer", func(t *testing.T) {
				e.t = t
				user := e.newHuman(e.org)
				email := &resuser.SetEmail{Address: "send@example.net", Verification: &resuser.SetEmail_SendCode{SendCode: &resuser.SendEmailVerificationCode{}}}
				req := &resuser.AddOTPEmailAuthenticatorRequest{Id: user, Email: email}
				got := e.mustCall(t, tr, newOp[resuser.AddOTPEmailAuthenticatorRequest, resuser.AddOTPEmailAuthenticatorResponse](resPrefix+"AddOTPEmailAuthenticator", req,
					http.MethodPost, "/resources/v3alpha/users/"+user+"/otp_email", jsonBody(email)), e.admin, "", success)
				resp := got.resp.(*resuser.AddOTPEmailAuthenticatorResponse)
				if resp.VerificationCode != nil || resp.GetOtpEmailId() == "" || bytes.Contains(got.body, []byte("verificationCode")) {
					t.Fatalf("AddOTPEmailAuthenticator answered %v (body %s)", resp, got.body)
				}
				if f := e.factors(user); len(f) != 1 || f[0].State != mfa.FactorNotReady {
					t.Fatalf("factors = %+v, want one NOT_READY", f)
				}
			})

			t.Run("is_verified: ready at once, for an administrator only", func(t *testing.T) {
				e.t = t
				self, tok := e.personWithToken()
				email := &resuser.SetEmail{Address: "vouched@example.net", Verification: &resuser.SetEmail_IsVerified{IsVerified: true}}
				add := func(token string, w expect) outcome {
					t.Helper()
					req := &resuser.AddOTPEmailAuthenticatorRequest{Id: self, Email: email}
					return e.mustCall(t, tr, newOp[resuser.AddOTPEmailAuthenticatorRequest, resuser.AddOTPEmailAuthenticatorResponse](resPrefix+"AddOTPEmailAuthenticator", req,
						http.MethodPost, "/resources/v3alpha/users/"+self+"/otp_email", jsonBody(email)), token, "", w)
				}
				// Oneself, without a role: vouching needs user.write.
				add(tok, failure(codes.NotFound, http.StatusNotFound, "membership not found", "AUTHZ-cdgFk"))
				got := add(e.admin, success)
				if resp := got.resp.(*resuser.AddOTPEmailAuthenticatorResponse); resp.VerificationCode != nil {
					t.Fatalf("a verification code for a vouched address: %v", resp)
				}
				if kinds := listAsAdmin(e, tr, "", self); len(kinds) != 1 || kinds[0] != mfa.FactorOTPEmail {
					t.Fatalf("after is_verified the list shows %v", kinds)
				}
				// The same through the superseded API, for SMS, and oneself
				// with a returned code (allowed).
				sms := &userv3alpha.AddOTPSMSAuthenticatorRequest{UserId: self, Phone: &userv3alpha.SetPhone{Number: "+41791112299",
					Verification: &userv3alpha.SetPhone_ReturnCode{ReturnCode: &userv3alpha.ReturnPhoneVerificationCode{}}}}
				got = e.mustCall(t, tr, newOp[userv3alpha.AddOTPSMSAuthenticatorRequest, userv3alpha.AddOTPSMSAuthenticatorResponse](v3Prefix+"AddOTPSMSAuthenticator", sms,
					http.MethodPost, "/v3alpha/users/"+self+"/otp_sms", jsonBody(sms)), tok, "", success)
				resp := got.resp.(*userv3alpha.AddOTPSMSAuthenticatorResponse)
				vreq := &userv3alpha.VerifyOTPSMSRegistrationRequest{UserId: self, OtpSmsId: resp.GetOtpSmsId(), Code: resp.GetVerificationCode()}
				e.mustCall(t, tr, newOp[userv3alpha.VerifyOTPSMSRegistrationRequest, userv3alpha.VerifyOTPSMSRegistrationResponse](v3Prefix+"VerifyOTPSMSRegistration", vreq,
					http.MethodPost, "/v3alpha/users/"+self+"/otp_sms/"+resp.GetOtpSmsId()+"/verify", jsonBody(vreq)), tok, "", success)
				if kinds := listAsAdmin(e, tr, "", self); len(kinds) != 2 {
					t.Fatalf("the list shows %v, want otp_email and otp_sms", kinds)
				}
			})

			t.Run("an invalid phone", func(t *testing.T) {
				e.t = t
				user := e.newHuman(e.org)
				phone := returnCodePhone("not a phone") // a national number is Swiss, as in ZITADEL
				req := &resuser.AddOTPSMSAuthenticatorRequest{Id: user, Phone: phone}
				e.mustCall(t, tr, newOp[resuser.AddOTPSMSAuthenticatorRequest, resuser.AddOTPSMSAuthenticatorResponse](resPrefix+"AddOTPSMSAuthenticator", req,
					http.MethodPost, "/resources/v3alpha/users/"+user+"/otp_sms", jsonBody(phone)), e.admin, "",
					failure(codes.InvalidArgument, http.StatusBadRequest, "Phone is invalid", "PHONE-so0wa"))
			})
		})
	}
}
