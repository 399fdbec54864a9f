package compat

import (
	"fmt"
	"strings"
	"testing"

	"github.com/envoyproxy/protoc-gen-validate/validate"
	openapi "github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2/options"
	authoption "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/authoption"
	protocv2 "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/protoc/v2"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// TestWireCompatibleWithZitadelGo checks every service, method, message,
// enum and extension of our ZITADEL-compatible protos against the
// descriptors embedded in zitadel-go v3.29.0.
func TestWireCompatibleWithZitadelGo(t *testing.T) {
	ours := mustLoadFiles(t, mustReadSet(t))
	n := compareAll(t, ours, protoregistry.GlobalFiles)
	t.Logf("compared %d messages and enums", n)
}

// TestV3AlphaPinned checks the v3alpha services zitadel-go does not ship
// (zitadel.resources.user.v3alpha.ZITADELUsers and the superseded
// zitadel.user.v3alpha.UserService) against the wire facts pinned in
// pinnedFiles.
func TestV3AlphaPinned(t *testing.T) {
	checkPinned(t, mustLoadFiles(t, mustReadSet(t)))
}

// TestComparerReportsDifferences proves the comparison fails: it alters a
// copy of our descriptor set in several ways and expects each alteration to
// be reported.
func TestComparerReportsDifferences(t *testing.T) {
	set := mustReadSet(t)
	altered := proto.Clone(set).(*descriptorpb.FileDescriptorSet)

	mgmt := file(t, altered, "zitadel/management.proto")
	field(t, message(t, mgmt, "RemoveHumanAuthFactorOTPRequest"), "user_id").Number = proto.Int32(7)
	tokenID := field(t, message(t, mgmt, "RemoveHumanAuthFactorU2FRequest"), "token_id")
	rules := proto.Clone(proto.GetExtension(tokenID.GetOptions(), validate.E_Rules).(*validate.FieldRules)).(*validate.FieldRules)
	rules.GetString_().MaxLen = proto.Uint64(100)
	proto.SetExtension(tokenID.GetOptions(), validate.E_Rules, rules)
	field(t, message(t, mgmt, "RemoveHumanAuthFactorOTPResponse"), "details").TypeName = proto.String(".zitadel.v1.ListDetails")

	otp := method(t, mgmt, "ManagementService", "RemoveHumanAuthFactorOTP")
	http := proto.Clone(proto.GetExtension(otp.GetOptions(), annotations.E_Http).(*annotations.HttpRule)).(*annotations.HttpRule)
	http.Pattern = &annotations.HttpRule_Delete{Delete: "/users/{user_id}/otp"}
	proto.SetExtension(otp.GetOptions(), annotations.E_Http, http)

	list := method(t, mgmt, "ManagementService", "ListHumanAuthFactors")
	proto.SetExtension(list.GetOptions(), authoption.E_AuthOption, &authoption.AuthOption{Permission: "user.write"})

	sms := method(t, mgmt, "ManagementService", "RemoveHumanAuthFactorOTPSMS")
	op := proto.Clone(proto.GetExtension(sms.GetOptions(), openapi.E_Openapiv2Operation).(*openapi.Operation)).(*openapi.Operation)
	op.Deprecated = false
	proto.SetExtension(sms.GetOptions(), openapi.E_Openapiv2Operation, op)

	policy := file(t, altered, "zitadel/policy.proto")
	for _, v := range enum(t, policy, "SecondFactorType").GetValue() {
		if v.GetName() == "SECOND_FACTOR_TYPE_U2F" {
			v.Number = proto.Int32(6)
		}
	}

	field(t, message(t, file(t, altered, "zitadel/object.proto"), "ObjectDetails"), "resource_owner").JsonName = proto.String("owner")
	field(t, message(t, file(t, altered, "zitadel/user.proto"), "AuthFactor"), "otp_email").OneofIndex = nil

	add := method(t, file(t, altered, "zitadel/org/v2/org_service.proto"), "OrganizationService", "AddOrganization")
	opts := proto.Clone(proto.GetExtension(add.GetOptions(), protocv2.E_Options).(*protocv2.Options)).(*protocv2.Options)
	opts.HttpResponse.SuccessCode = 200
	proto.SetExtension(add.GetOptions(), protocv2.E_Options, opts)

	auth := method(t, file(t, altered, "zitadel/auth.proto"), "AuthService", "RemoveMyAuthFactorU2F")
	authHTTP := proto.Clone(proto.GetExtension(auth.GetOptions(), annotations.E_Http).(*annotations.HttpRule)).(*annotations.HttpRule)
	authHTTP.Pattern = &annotations.HttpRule_Delete{Delete: "/users/me/auth_factors/u2f/{id}"}
	proto.SetExtension(auth.GetOptions(), annotations.E_Http, authHTTP)

	v2svc := file(t, altered, "zitadel/user/v2/user_service.proto")
	listFactors := method(t, v2svc, "UserService", "ListAuthenticationFactors")
	listHTTP := proto.Clone(proto.GetExtension(listFactors.GetOptions(), annotations.E_Http).(*annotations.HttpRule)).(*annotations.HttpRule)
	listHTTP.Body = "*"
	proto.SetExtension(listFactors.GetOptions(), annotations.E_Http, listHTTP)
	for _, v := range enum(t, v2svc, "AuthFactors").GetValue() {
		if v.GetName() == "U2F" {
			v.Number = proto.Int32(4)
		}
	}

	v2beta := method(t, file(t, altered, "zitadel/user/v2beta/user_service.proto"), "UserService", "RemoveTOTP")
	betaOp := proto.Clone(proto.GetExtension(v2beta.GetOptions(), openapi.E_Openapiv2Operation).(*openapi.Operation)).(*openapi.Operation)
	betaOp.Deprecated = false
	proto.SetExtension(v2beta.GetOptions(), openapi.E_Openapiv2Operation, betaOp)

	field(t, message(t, file(t, altered, "zitadel/object/v2beta/object.proto"), "Details"), "creation_date").Number = proto.Int32(2)
	field(t, message(t, file(t, altered, "zitadel/object/v2beta/object.proto"), "Details"), "change_date").Number = proto.Int32(4)

	instance := message(t, file(t, altered, "zitadel/object/v3alpha/object.proto"), "Instance")
	instance.GetOneofDecl()[0].Options = nil

	rec := &recorder{}
	compareAll(rec, mustLoadFiles(t, altered), protoregistry.GlobalFiles)

	want := []string{
		"zitadel.management.v1.RemoveHumanAuthFactorOTPRequest.user_id: number differs: ours 7, zitadel 1",
		"zitadel.management.v1.RemoveHumanAuthFactorU2FRequest.token_id: validate.rules differs",
		"zitadel.management.v1.RemoveHumanAuthFactorOTPResponse.details: message type differs: ours zitadel.v1.ListDetails, zitadel zitadel.v1.ObjectDetails",
		"zitadel.management.v1.ManagementService.RemoveHumanAuthFactorOTP: google.api.http differs",
		"zitadel.management.v1.ManagementService.ListHumanAuthFactors: zitadel.v1.auth_option differs",
		"zitadel.management.v1.ManagementService.RemoveHumanAuthFactorOTPSMS: openapiv2_operation.deprecated differs: ours false, zitadel true",
		"zitadel.policy.v1.SecondFactorType.SECOND_FACTOR_TYPE_U2F: number differs: ours 6, zitadel 2",
		"zitadel.v1.ObjectDetails.resource_owner: json name differs: ours owner, zitadel resourceOwner",
		"zitadel.user.v1.AuthFactor.otp_email: oneof differs: ours , zitadel type",
		"zitadel.user.v1.AuthFactor: oneofs differs",
		"zitadel.org.v2.OrganizationService.AddOrganization: zitadel.protoc_gen_zitadel.v2.options differs",
		"zitadel.auth.v1.AuthService.RemoveMyAuthFactorU2F: google.api.http differs",
		"zitadel.user.v2.UserService.ListAuthenticationFactors: google.api.http differs",
		"zitadel.user.v2.AuthFactors.U2F: number differs: ours 4, zitadel 3",
		"zitadel.user.v2beta.UserService.RemoveTOTP: openapiv2_operation.deprecated differs: ours false, zitadel true",
		// Swapped numbers: matched by number, so the names differ.
		"zitadel.object.v2beta.Details.change_date: name differs: ours creation_date, zitadel change_date",
		"zitadel.object.v2beta.Details.change_date: json name differs",
		"zitadel.object.v2beta.Details.creation_date: name differs: ours change_date, zitadel creation_date",
		"zitadel.object.v2beta.Details.creation_date: json name differs",
		"zitadel.object.v3alpha.Instance.property: validate.required differs: present in ours false, in zitadel true",
	}
	for _, w := range want {
		if !rec.has(w) {
			t.Errorf("difference not reported: %q", w)
		}
	}
	if len(rec.msgs) != len(want) {
		t.Errorf("got %d reports, want %d:\n%s", len(rec.msgs), len(want), strings.Join(rec.msgs, "\n"))
	}
}

// TestPinnedReportsDifferences proves the v3alpha check fails: it alters a
// copy of our descriptor set and expects each alteration to be reported.
func TestPinnedReportsDifferences(t *testing.T) {
	altered := proto.Clone(mustReadSet(t)).(*descriptorpb.FileDescriptorSet)

	res := file(t, altered, "zitadel/resources/user/v3alpha/user_service.proto")
	field(t, message(t, res, "RemoveTOTPAuthenticatorRequest"), "id").Number = proto.Int32(1)
	field(t, message(t, res, "RemoveTOTPAuthenticatorRequest"), "instance").Number = proto.Int32(3)
	remove := method(t, res, "ZITADELUsers", "RemoveTOTPAuthenticator")
	rule := proto.Clone(proto.GetExtension(remove.GetOptions(), annotations.E_Http).(*annotations.HttpRule)).(*annotations.HttpRule)
	rule.Pattern = &annotations.HttpRule_Delete{Delete: "/resources/v3alpha/users/{user_id}/totp/{totp_id}"}
	proto.SetExtension(remove.GetOptions(), annotations.E_Http, rule)
	verify := method(t, res, "ZITADELUsers", "VerifyTOTPRegistration")
	rule = proto.Clone(proto.GetExtension(verify.GetOptions(), annotations.E_Http).(*annotations.HttpRule)).(*annotations.HttpRule)
	rule.Body = "*"
	proto.SetExtension(verify.GetOptions(), annotations.E_Http, rule)
	code := field(t, message(t, res, "VerifyTOTPRegistrationRequest"), "code")
	rules := proto.Clone(proto.GetExtension(code.GetOptions(), validate.E_Rules).(*validate.FieldRules)).(*validate.FieldRules)
	rules.GetString_().MinLen = proto.Uint64(1)
	proto.SetExtension(code.GetOptions(), validate.E_Rules, rules)
	start := method(t, res, "ZITADELUsers", "StartTOTPRegistration")
	proto.SetExtension(start.GetOptions(), protocv2.E_Options, &protocv2.Options{AuthOption: &protocv2.AuthOption{Permission: "user.write"}})

	old := file(t, altered, "zitadel/user/v3alpha/user_service.proto")
	field(t, message(t, old, "RemoveOTPSMSAuthenticatorResponse"), "details").TypeName = proto.String(".zitadel.object.v2beta.ListDetails")
	sms := message(t, old, "RemoveOTPSMSAuthenticatorRequest")
	sms.Field = sms.Field[:1]

	for _, v := range enum(t, file(t, altered, "zitadel/resources/user/v3alpha/authenticator.proto"), "WebAuthNAuthenticatorType").GetValue() {
		if v.GetName() == "WEB_AUTH_N_AUTHENTICATOR_PLATFORM" {
			v.Number = proto.Int32(3)
		}
	}
	field(t, message(t, file(t, altered, "zitadel/resources/object/v3alpha/object.proto"), "Details"), "created").Number = proto.Int32(2)

	rec := &recorder{}
	checkPinned(rec, mustLoadFiles(t, altered))

	want := []string{
		`zitadel.resources.user.v3alpha.RemoveTOTPAuthenticatorRequest: pinned field "1 instance optional zitadel.object.v3alpha.Instance" not in ours`,
		`zitadel.resources.user.v3alpha.RemoveTOTPAuthenticatorRequest: pinned field "3 id string 1..200" not in ours`,
		`zitadel.resources.user.v3alpha.RemoveTOTPAuthenticatorRequest: field "1 id string 1..200" is not pinned`,
		`zitadel.resources.user.v3alpha.RemoveTOTPAuthenticatorRequest: field "3 instance optional zitadel.object.v3alpha.Instance" is not pinned`,
		`zitadel.resources.user.v3alpha.ZITADELUsers.RemoveTOTPAuthenticator: google.api.http differs`,
		`zitadel.resources.user.v3alpha.ZITADELUsers.VerifyTOTPRegistration: google.api.http differs`,
		`zitadel.resources.user.v3alpha.VerifyTOTPRegistrationRequest: pinned field "5 code string 6..9" not in ours`,
		`zitadel.resources.user.v3alpha.VerifyTOTPRegistrationRequest: field "5 code string 1..9" is not pinned`,
		`zitadel.resources.user.v3alpha.ZITADELUsers.StartTOTPRegistration: zitadel.protoc_gen_zitadel.v2.options differ`,
		`zitadel.user.v3alpha.RemoveOTPSMSAuthenticatorResponse: pinned field "1 details zitadel.object.v2beta.Details" not in ours`,
		`zitadel.user.v3alpha.RemoveOTPSMSAuthenticatorResponse: field "1 details zitadel.object.v2beta.ListDetails" is not pinned`,
		`zitadel.user.v3alpha.RemoveOTPSMSAuthenticatorRequest: pinned field "2 otp_sms_id string 1..200" not in ours`,
		`zitadel.resources.user.v3alpha.WebAuthNAuthenticatorType: pinned value "WEB_AUTH_N_AUTHENTICATOR_PLATFORM=1" not in ours`,
		`zitadel.resources.user.v3alpha.WebAuthNAuthenticatorType: value "WEB_AUTH_N_AUTHENTICATOR_PLATFORM=3" is not pinned`,
		`zitadel.resources.object.v3alpha.Details: pinned field "3 created google.protobuf.Timestamp" not in ours`,
		`zitadel.resources.object.v3alpha.Details: field "2 created google.protobuf.Timestamp" is not pinned`,
	}
	for _, w := range want {
		if !rec.has(w) {
			t.Errorf("difference not reported: %q", w)
		}
	}
	if len(rec.msgs) != len(want) {
		t.Errorf("got %d reports, want %d:\n%s", len(rec.msgs), len(want), strings.Join(rec.msgs, "\n"))
	}
}

type recorder struct{ msgs []string }

func (r *recorder) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) has(prefix string) bool {
	for _, m := range r.msgs {
		if strings.HasPrefix(m, prefix) {
			return true
		}
	}
	return false
}

func mustReadSet(t *testing.T) *descriptorpb.FileDescriptorSet {
	t.Helper()
	set, err := readDescriptorSet()
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// mustLoadFiles builds a private registry; nothing is registered globally,
// so our descriptors never clash with zitadel-go's.
func mustLoadFiles(t *testing.T, set *descriptorpb.FileDescriptorSet) *protoregistry.Files {
	t.Helper()
	files, err := protodesc.NewFiles(set)
	if err != nil {
		t.Fatalf("load descriptor set: %v", err)
	}
	return files
}

func file(t *testing.T, set *descriptorpb.FileDescriptorSet, path string) *descriptorpb.FileDescriptorProto {
	t.Helper()
	for _, f := range set.GetFile() {
		if f.GetName() == path {
			return f
		}
	}
	t.Fatalf("file %s not in descriptor set", path)
	return nil
}

func message(t *testing.T, f *descriptorpb.FileDescriptorProto, name string) *descriptorpb.DescriptorProto {
	t.Helper()
	for _, m := range f.GetMessageType() {
		if m.GetName() == name {
			return m
		}
	}
	t.Fatalf("message %s not in %s", name, f.GetName())
	return nil
}

func field(t *testing.T, m *descriptorpb.DescriptorProto, name string) *descriptorpb.FieldDescriptorProto {
	t.Helper()
	for _, f := range m.GetField() {
		if f.GetName() == name {
			return f
		}
	}
	t.Fatalf("field %s not in %s", name, m.GetName())
	return nil
}

func enum(t *testing.T, f *descriptorpb.FileDescriptorProto, name string) *descriptorpb.EnumDescriptorProto {
	t.Helper()
	for _, e := range f.GetEnumType() {
		if e.GetName() == name {
			return e
		}
	}
	t.Fatalf("enum %s not in %s", name, f.GetName())
	return nil
}

func method(t *testing.T, f *descriptorpb.FileDescriptorProto, service, name string) *descriptorpb.MethodDescriptorProto {
	t.Helper()
	for _, s := range f.GetService() {
		if s.GetName() != service {
			continue
		}
		for _, m := range s.GetMethod() {
			if m.GetName() == name {
				return m
			}
		}
	}
	t.Fatalf("method %s.%s not in %s", service, name, f.GetName())
	return nil
}
