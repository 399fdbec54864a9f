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
