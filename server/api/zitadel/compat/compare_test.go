package compat

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/envoyproxy/protoc-gen-validate/validate"
	openapi "github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2/options"
	authoption "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/authoption"
	protocv2 "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/protoc/v2"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	// The packages below register ZITADEL's descriptors (and, through their
	// imports, the option extensions) in the global registry.
	_ "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/admin"
	_ "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/auth"
	_ "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/management"
	_ "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/message"
	_ "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/object/v3lapha" // sic: zitadel.object.v3alpha
	_ "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/org/v2"
	_ "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user/v2"
	_ "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user/v2beta"
)

// descriptorSetPath is gen/zitadel.binpb at the repository root, written by
// `make generate`.
const descriptorSetPath = "../../../../gen/zitadel.binpb"

// wantMethods is the RPC set factorgate serves, per service that zitadel-go
// ships. Every method of these services in our protos must be listed here
// and must match ZITADEL. The v3alpha services, which zitadel-go does not
// ship, are pinned by pinnedFiles below instead.
var wantMethods = map[protoreflect.FullName][]protoreflect.Name{
	"zitadel.management.v1.ManagementService": {
		"RemoveHumanAuthFactorOTP",
		"RemoveHumanAuthFactorU2F",
		"RemoveHumanAuthFactorOTPSMS",
		"ListUserChanges",
		"RemoveHumanAuthFactorOTPEmail",
		"ListHumanAuthFactors",
		"GetLoginPolicy",
		"GetDefaultLoginPolicy",
		"AddCustomLoginPolicy",
		"UpdateCustomLoginPolicy",
		"ResetLoginPolicyToDefault",
		"ListLoginPolicySecondFactors",
		"AddSecondFactorToLoginPolicy",
		"RemoveSecondFactorFromLoginPolicy",
		"AddMachineUser",
		"AddPersonalAccessToken",
		"AddOrgMember",
		"GenerateMachineSecret",
	},
	"zitadel.admin.v1.AdminService": {
		"GetLoginPolicy",
		"ListLoginPolicySecondFactors",
		"AddSecondFactorToLoginPolicy",
		"RemoveSecondFactorFromLoginPolicy",
		"AddIAMMember",
	},
	"zitadel.org.v2.OrganizationService": {
		"AddOrganization",
	},
	"zitadel.auth.v1.AuthService": {
		"ListMyAuthFactors",
		"AddMyAuthFactorOTP",
		"VerifyMyAuthFactorOTP",
		"RemoveMyAuthFactorOTP",
		"AddMyAuthFactorU2F",
		"VerifyMyAuthFactorU2F",
		"RemoveMyAuthFactorU2F",
		"AddMyAuthFactorOTPSMS",
		"RemoveMyAuthFactorOTPSMS",
		"AddMyAuthFactorOTPEmail",
		"RemoveMyAuthFactorOTPEmail",
	},
	"zitadel.user.v2.UserService": {
		"AddHumanUser",
		"RegisterTOTP",
		"VerifyTOTPRegistration",
		"RemoveTOTP",
		"RegisterU2F",
		"VerifyU2FRegistration",
		"RemoveU2F",
		"AddOTPSMS",
		"RemoveOTPSMS",
		"AddOTPEmail",
		"RemoveOTPEmail",
		"ListAuthenticationMethodTypes",
		"ListAuthenticationFactors",
	},
	// v2beta has no RemoveU2F.
	"zitadel.user.v2beta.UserService": {
		"RegisterU2F",
		"VerifyU2FRegistration",
		"RegisterTOTP",
		"VerifyTOTPRegistration",
		"RemoveTOTP",
		"AddOTPSMS",
		"RemoveOTPSMS",
		"AddOTPEmail",
		"RemoveOTPEmail",
		"ListAuthenticationMethodTypes",
	},
}

// notInZitadelGo reports whether a proto package is one zitadel-go does not
// ship (the v3alpha resource API and the superseded v3alpha user API). Its
// files are checked against pinnedFiles instead of zitadel-go.
func notInZitadelGo(pkg protoreflect.FullName) bool {
	return strings.HasPrefix(string(pkg), "zitadel.resources.") || pkg == "zitadel.user.v3alpha"
}

// reporter is the part of testing.TB the comparison needs; the self-test
// substitutes a recorder.
type reporter interface {
	Errorf(format string, args ...any)
}

// readDescriptorSet reads our descriptor set. Options are decoded with the
// global type registry, so the extensions (google.api.http, validate.rules,
// zitadel.v1.auth_option, zitadel.protoc_gen_zitadel.v2.options and
// openapiv2_operation) resolve to the Go types linked into this test.
func readDescriptorSet() (*descriptorpb.FileDescriptorSet, error) {
	b, err := os.ReadFile(descriptorSetPath)
	if err != nil {
		return nil, fmt.Errorf("read %s (run `make generate`): %w", descriptorSetPath, err)
	}
	set := new(descriptorpb.FileDescriptorSet)
	if err := proto.Unmarshal(b, set); err != nil {
		return nil, fmt.Errorf("decode %s: %w", descriptorSetPath, err)
	}
	return set, nil
}

// compareAll compares every ZITADEL-compatible service, message, enum and
// extension in ours with the descriptor of the same full name in theirs and
// reports each difference separately. It returns the number of messages and
// enums compared.
func compareAll(r reporter, ours, theirs *protoregistry.Files) int {
	c := &comparer{r: r, seen: map[protoreflect.FullName]bool{}}
	c.services(ours, theirs)
	// Everything else declared in our zitadel/ files: types not reachable
	// from a method (e.g. zitadel.v1.ErrorDetail) and the option extensions.
	ours.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(fd.Path(), "zitadel/") || notInZitadelGo(fd.Package()) {
			return true
		}
		for i := range fd.Messages().Len() {
			om := fd.Messages().Get(i)
			if tm, ok := lookup[protoreflect.MessageDescriptor](c, theirs, om.FullName()); ok {
				c.message(om, tm)
			}
		}
		for i := range fd.Enums().Len() {
			oe := fd.Enums().Get(i)
			if te, ok := lookup[protoreflect.EnumDescriptor](c, theirs, oe.FullName()); ok {
				c.enum(oe, te)
			}
		}
		for i := range fd.Extensions().Len() {
			ox := fd.Extensions().Get(i)
			if tx, ok := lookup[protoreflect.ExtensionDescriptor](c, theirs, ox.FullName()); ok {
				c.extension(ox, tx)
			}
		}
		return true
	})
	return len(c.seen)
}

type comparer struct {
	r    reporter
	seen map[protoreflect.FullName]bool
}

func (c *comparer) errorf(path protoreflect.FullName, format string, args ...any) {
	c.r.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
}

// differs reports a scalar difference.
func differs[T comparable](c *comparer, path protoreflect.FullName, what string, ours, theirs T) {
	if ours != theirs {
		c.errorf(path, "%s differs: ours %v, zitadel %v", what, ours, theirs)
	}
}

// lookup finds the zitadel-go descriptor of the given kind and full name.
func lookup[D protoreflect.Descriptor](c *comparer, theirs *protoregistry.Files, name protoreflect.FullName) (D, bool) {
	d, err := theirs.FindDescriptorByName(name)
	if err != nil {
		var zero D
		c.errorf(name, "not found in zitadel-go: %v", err)
		return zero, false
	}
	td, ok := d.(D)
	if !ok {
		c.errorf(name, "is a %T in zitadel-go", d)
	}
	return td, ok
}

func (c *comparer) services(ours, theirs *protoregistry.Files) {
	// Every service in our zitadel/ files must be in wantMethods, except
	// the ones zitadel-go does not ship (see pinnedFiles).
	ours.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(fd.Path(), "zitadel/") || notInZitadelGo(fd.Package()) {
			return true
		}
		for i := range fd.Services().Len() {
			if _, ok := wantMethods[fd.Services().Get(i).FullName()]; !ok {
				c.errorf(fd.Services().Get(i).FullName(), "service is not in the expected set (add it to wantMethods)")
			}
		}
		return true
	})
	names := make([]protoreflect.FullName, 0, len(wantMethods))
	for n := range wantMethods {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		od, err := ours.FindDescriptorByName(name)
		if err != nil {
			c.errorf(name, "service missing in our protos: %v", err)
			continue
		}
		tsvc, ok := lookup[protoreflect.ServiceDescriptor](c, theirs, name)
		if !ok {
			continue
		}
		osvc, ok := od.(protoreflect.ServiceDescriptor)
		if !ok {
			c.errorf(name, "is a %T in our protos", od)
			continue
		}
		differs(c, name, "file", osvc.ParentFile().Path(), tsvc.ParentFile().Path())
		for _, m := range wantMethods[name] {
			if osvc.Methods().ByName(m) == nil {
				c.errorf(name.Append(m), "method missing in our protos")
			}
		}
		for i := range osvc.Methods().Len() {
			om := osvc.Methods().Get(i)
			if !slices.Contains(wantMethods[name], om.Name()) {
				c.errorf(om.FullName(), "method is not in the expected set (add it to wantMethods)")
			}
			tm := tsvc.Methods().ByName(om.Name())
			if tm == nil {
				c.errorf(om.FullName(), "method not found in zitadel-go")
				continue
			}
			c.method(om, tm)
		}
	}
}

func (c *comparer) method(om, tm protoreflect.MethodDescriptor) {
	p := tm.FullName()
	differs(c, p, "request type", om.Input().FullName(), tm.Input().FullName())
	differs(c, p, "response type", om.Output().FullName(), tm.Output().FullName())
	differs(c, p, "client streaming", om.IsStreamingClient(), tm.IsStreamingClient())
	differs(c, p, "server streaming", om.IsStreamingServer(), tm.IsStreamingServer())
	oo, to := om.Options().(*descriptorpb.MethodOptions), tm.Options().(*descriptorpb.MethodOptions)
	differs(c, p, "deprecated option", oo.GetDeprecated(), to.GetDeprecated())
	c.option(p, oo, to, annotations.E_Http)
	c.option(p, oo, to, authoption.E_AuthOption)
	c.option(p, oo, to, protocv2.E_Options)
	c.openAPI(p, oo, to)
	if om.Input().FullName() == tm.Input().FullName() {
		c.message(om.Input(), tm.Input())
	}
	if om.Output().FullName() == tm.Output().FullName() {
		c.message(om.Output(), tm.Output())
	}
}

// option compares one extension of two options messages: presence and, when
// present on both sides, the whole value (every field of the option message,
// e.g. all HttpRule fields including body and additional_bindings).
func (c *comparer) option(path protoreflect.FullName, ours, theirs proto.Message, xt protoreflect.ExtensionType) {
	name := xt.TypeDescriptor().FullName()
	oh := ours != nil && proto.HasExtension(ours, xt)
	th := theirs != nil && proto.HasExtension(theirs, xt)
	switch {
	case oh != th:
		c.errorf(path, "%s differs: present in ours %v, in zitadel %v", name, oh, th)
	case oh:
		ov, _ := proto.GetExtension(ours, xt).(proto.Message)
		tv, _ := proto.GetExtension(theirs, xt).(proto.Message)
		if !proto.Equal(ov, tv) {
			c.errorf(path, "%s differs: ours {%v}, zitadel {%v}", name, text(ov), text(tv))
		}
	}
}

// openAPI compares the two OpenAPI facts we keep from ZITADEL's operation
// annotations: the deprecated mark and the documented header parameters.
// Summaries, descriptions, tags and examples are deliberately not copied.
func (c *comparer) openAPI(path protoreflect.FullName, ours, theirs *descriptorpb.MethodOptions) {
	op := func(o *descriptorpb.MethodOptions) *openapi.Operation {
		v, _ := proto.GetExtension(o, openapi.E_Openapiv2Operation).(*openapi.Operation)
		return v
	}
	headers := func(o *openapi.Operation) string {
		var out []string
		for _, h := range o.GetParameters().GetHeaders() {
			out = append(out, fmt.Sprintf("%s(%v)", h.GetName(), h.GetType()))
		}
		slices.Sort(out)
		return strings.Join(out, ",")
	}
	oop, top := op(ours), op(theirs)
	differs(c, path, "openapiv2_operation.deprecated", oop.GetDeprecated(), top.GetDeprecated())
	differs(c, path, "openapiv2_operation header parameters", headers(oop), headers(top))
}

func text(m proto.Message) string {
	return prototext.MarshalOptions{}.Format(m)
}

func (c *comparer) message(om, tm protoreflect.MessageDescriptor) {
	p := tm.FullName()
	if c.seen[p] {
		return
	}
	c.seen[p] = true
	// Map entries are synthesized and have no file of their own to compare.
	if !tm.IsMapEntry() {
		differs(c, p, "file", om.ParentFile().Path(), tm.ParentFile().Path())
	}
	differs(c, p, "map entry", om.IsMapEntry(), tm.IsMapEntry())

	for i := range tm.Fields().Len() {
		tf := tm.Fields().Get(i)
		of := om.Fields().ByNumber(tf.Number())
		if of == nil {
			if byName := om.Fields().ByName(tf.Name()); byName != nil {
				differs(c, tf.FullName(), "number", byName.Number(), tf.Number())
			} else {
				c.errorf(tf.FullName(), "field (number %d) missing in our protos", tf.Number())
			}
			continue
		}
		c.field(of, tf)
	}
	for i := range om.Fields().Len() {
		of := om.Fields().Get(i)
		if tm.Fields().ByNumber(of.Number()) == nil && tm.Fields().ByName(of.Name()) == nil {
			c.errorf(of.FullName(), "field (number %d) not in zitadel-go", of.Number())
		}
	}

	// Real (non-synthetic) oneofs and their members, and validate.required.
	differs(c, p, "oneofs", oneofs(om), oneofs(tm))
	for i := range tm.Oneofs().Len() {
		to := tm.Oneofs().Get(i)
		if oo := om.Oneofs().ByName(to.Name()); oo != nil {
			c.option(to.FullName(), oo.Options(), to.Options(), validate.E_Required)
		}
	}

	differs(c, p, "reserved names", names(om.ReservedNames()), names(tm.ReservedNames()))
	differs(c, p, "reserved ranges", ranges(om.ReservedRanges()), ranges(tm.ReservedRanges()))

	// Nested declarations, including ones no field refers to.
	for i := range tm.Messages().Len() {
		tn := tm.Messages().Get(i)
		if tn.IsMapEntry() {
			continue
		}
		on := om.Messages().ByName(tn.Name())
		if on == nil {
			c.errorf(tn.FullName(), "nested message missing in our protos")
			continue
		}
		c.message(on, tn)
	}
	for i := range om.Messages().Len() {
		if on := om.Messages().Get(i); !on.IsMapEntry() && tm.Messages().ByName(on.Name()) == nil {
			c.errorf(on.FullName(), "nested message not in zitadel-go")
		}
	}
	for i := range tm.Enums().Len() {
		te := tm.Enums().Get(i)
		oe := om.Enums().ByName(te.Name())
		if oe == nil {
			c.errorf(te.FullName(), "nested enum missing in our protos")
			continue
		}
		c.enum(oe, te)
	}
	for i := range om.Enums().Len() {
		if oe := om.Enums().Get(i); tm.Enums().ByName(oe.Name()) == nil {
			c.errorf(oe.FullName(), "nested enum not in zitadel-go")
		}
	}
}

func (c *comparer) field(of, tf protoreflect.FieldDescriptor) {
	p := tf.FullName()
	differs(c, p, "name", of.Name(), tf.Name())
	differs(c, p, "kind", of.Kind(), tf.Kind())
	differs(c, p, "cardinality", of.Cardinality(), tf.Cardinality())
	differs(c, p, "proto3 optional", of.HasOptionalKeyword(), tf.HasOptionalKeyword())
	differs(c, p, "packed", of.IsPacked(), tf.IsPacked())
	differs(c, p, "json name", of.JSONName(), tf.JSONName())
	differs(c, p, "oneof", oneofName(of), oneofName(tf))
	oo, to := of.Options().(*descriptorpb.FieldOptions), tf.Options().(*descriptorpb.FieldOptions)
	differs(c, p, "deprecated option", oo.GetDeprecated(), to.GetDeprecated())
	c.option(p, oo, to, validate.E_Rules)

	switch {
	case of.Message() != nil && tf.Message() != nil:
		if of.Message().FullName() != tf.Message().FullName() {
			differs(c, p, "message type", of.Message().FullName(), tf.Message().FullName())
			return
		}
		c.message(of.Message(), tf.Message())
	case of.Enum() != nil && tf.Enum() != nil:
		if of.Enum().FullName() != tf.Enum().FullName() {
			differs(c, p, "enum type", of.Enum().FullName(), tf.Enum().FullName())
			return
		}
		c.enum(of.Enum(), tf.Enum())
	}
}

func (c *comparer) enum(oe, te protoreflect.EnumDescriptor) {
	p := te.FullName()
	if c.seen[p] {
		return
	}
	c.seen[p] = true
	differs(c, p, "file", oe.ParentFile().Path(), te.ParentFile().Path())
	oo, to := oe.Options().(*descriptorpb.EnumOptions), te.Options().(*descriptorpb.EnumOptions)
	differs(c, p, "allow_alias", oo.GetAllowAlias(), to.GetAllowAlias())
	for i := range te.Values().Len() {
		tv := te.Values().Get(i)
		ov := oe.Values().ByName(tv.Name())
		if ov == nil {
			c.errorf(p.Append(tv.Name()), "enum value (number %d) missing in our protos", tv.Number())
			continue
		}
		differs(c, p.Append(tv.Name()), "number", ov.Number(), tv.Number())
	}
	for i := range oe.Values().Len() {
		if ov := oe.Values().Get(i); te.Values().ByName(ov.Name()) == nil {
			c.errorf(p.Append(ov.Name()), "enum value (number %d) not in zitadel-go", ov.Number())
		}
	}
	differs(c, p, "reserved names", names(oe.ReservedNames()), names(te.ReservedNames()))
}

func (c *comparer) extension(ox, tx protoreflect.ExtensionDescriptor) {
	p := tx.FullName()
	differs(c, p, "file", ox.ParentFile().Path(), tx.ParentFile().Path())
	differs(c, p, "number", ox.Number(), tx.Number())
	differs(c, p, "extendee", ox.ContainingMessage().FullName(), tx.ContainingMessage().FullName())
	differs(c, p, "kind", ox.Kind(), tx.Kind())
	differs(c, p, "cardinality", ox.Cardinality(), tx.Cardinality())
	differs(c, p, "json name", ox.JSONName(), tx.JSONName())
	if ox.Message() != nil && tx.Message() != nil {
		differs(c, p, "message type", ox.Message().FullName(), tx.Message().FullName())
		if ox.Message().FullName() == tx.Message().FullName() {
			c.message(ox.Message(), tx.Message())
		}
	}
}

func oneofName(f protoreflect.FieldDescriptor) protoreflect.Name {
	if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
		return o.Name()
	}
	return ""
}

// oneofs renders the real oneofs of m with their member field numbers, in
// a stable order, e.g. "type[2 3 4 5]".
func oneofs(m protoreflect.MessageDescriptor) string {
	var out []string
	for i := range m.Oneofs().Len() {
		o := m.Oneofs().Get(i)
		if o.IsSynthetic() {
			continue
		}
		var nums []int
		for j := range o.Fields().Len() {
			nums = append(nums, int(o.Fields().Get(j).Number()))
		}
		slices.Sort(nums)
		out = append(out, fmt.Sprintf("%s%v", o.Name(), nums))
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func names(n protoreflect.Names) string {
	var out []string
	for i := range n.Len() {
		out = append(out, string(n.Get(i)))
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func ranges(r protoreflect.FieldRanges) string {
	var out []string
	for i := range r.Len() {
		rg := r.Get(i)
		out = append(out, fmt.Sprintf("%d-%d", rg[0], rg[1]))
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// The v3alpha services are not in zitadel-go (its generator deletes the
// resources packages, and the superseded zitadel.user.v3alpha API predates
// it), so their wire facts are pinned here, from ZITADEL's proto files
// (proto/zitadel/resources/user/v3alpha/*.proto,
// proto/zitadel/resources/object/v3alpha/object.proto and, for the
// superseded API, proto/zitadel/user/v3alpha/*.proto). The shared
// zitadel.object.v3alpha and zitadel.object.v2beta messages they use are in
// zitadel-go and compared there.

// pinnedFile is the complete content of one of our proto files in a package
// zitadel-go does not ship: its messages (by field), enums (by value) and
// at most one service.
type pinnedFile struct {
	path     string
	messages map[protoreflect.Name][]string
	enums    map[protoreflect.Name][]string
	service  *pinnedService
}

// pinnedService lists a service's methods. Each method's request and
// response are <Method>Request and <Method>Response in the service's
// package, and every method has exactly the v2 auth option
// {permission: "authenticated"}.
type pinnedService struct {
	name    protoreflect.Name
	methods []pinnedMethod
}

// pinnedMethod is a method and its google.api.http rule, rendered as
// "VERB path" plus " body=<field>" when it has a body mapping.
type pinnedMethod struct {
	name protoreflect.Name
	http string
}

// Field specs are "<number> <name> [repeated|optional] <type> [rules]
// [oneof=<name>]" as rendered by pinField: type is the scalar kind or the
// full name of the message or enum; rules are the validate.rules, e.g.
// "1..200" for string min_len/max_len. Enum specs are "<NAME>=<number>".
var (
	// Common prefix of every per-user zitadel.resources.user.v3alpha
	// request: the user ID is field 3.
	resUser = []string{
		"1 instance optional zitadel.object.v3alpha.Instance",
		"2 organization optional zitadel.object.v3alpha.Organization",
		"3 id string 1..200",
	}
	resDetails = "1 details zitadel.resources.object.v3alpha.Details"
	// The superseded zitadel.user.v3alpha requests start with the user ID.
	oldUser    = []string{"1 user_id string 1..200"}
	oldDetails = "1 details zitadel.object.v2beta.Details"
)

func fields(prefix []string, more ...string) []string {
	return append(slices.Clone(prefix), more...)
}

// communication is the content of both v3alpha communication.proto files
// (SetEmail, SetPhone and their verification choices), in package pkg.
func communication(path, pkg string) pinnedFile {
	return pinnedFile{
		path: path,
		messages: map[protoreflect.Name][]string{
			"SetEmail": {
				"1 address string 1..200 email",
				"2 send_code " + pkg + ".SendEmailVerificationCode oneof=verification",
				"3 return_code " + pkg + ".ReturnEmailVerificationCode oneof=verification",
				"4 is_verified bool const=true oneof=verification",
			},
			"SendEmailVerificationCode":   {"1 url_template optional string 1..200"},
			"ReturnEmailVerificationCode": {},
			"SetPhone": {
				"1 number string 1..20",
				"2 send_code " + pkg + ".SendPhoneVerificationCode oneof=verification",
				"3 return_code " + pkg + ".ReturnPhoneVerificationCode oneof=verification",
				"4 is_verified bool const=true oneof=verification",
			},
			"SendPhoneVerificationCode":   {},
			"ReturnPhoneVerificationCode": {},
		},
	}
}

var webAuthNAuthenticatorType = []string{
	"WEB_AUTH_N_AUTHENTICATOR_UNSPECIFIED=0",
	"WEB_AUTH_N_AUTHENTICATOR_PLATFORM=1",
	"WEB_AUTH_N_AUTHENTICATOR_CROSS_PLATFORM=2",
}

var registrationCode = []string{"1 id string 1..200", "2 code string 1..200"}

var pinnedFiles = []pinnedFile{
	{
		path: "zitadel/resources/object/v3alpha/object.proto",
		messages: map[protoreflect.Name][]string{
			"Details": {
				"1 id string",
				"3 created google.protobuf.Timestamp",
				"4 changed google.protobuf.Timestamp",
				"5 owner zitadel.object.v3alpha.Owner",
			},
		},
	},
	{
		path: "zitadel/resources/user/v3alpha/user_service.proto",
		service: &pinnedService{
			name: "ZITADELUsers",
			methods: []pinnedMethod{
				{"StartWebAuthNRegistration", "POST /resources/v3alpha/users/{id}/webauthn body=registration"},
				{"VerifyWebAuthNRegistration", "POST /resources/v3alpha/users/{id}/webauthn/{web_auth_n_id}/_verify body=verify"},
				{"RemoveWebAuthNAuthenticator", "DELETE /resources/v3alpha/users/{id}/webauthn/{web_auth_n_id}"},
				{"StartTOTPRegistration", "POST /resources/v3alpha/users/{id}/totp"},
				{"VerifyTOTPRegistration", "POST /resources/v3alpha/users/{id}/totp/{totp_id}/_verify body=code"},
				{"RemoveTOTPAuthenticator", "DELETE /resources/v3alpha/users/{id}/totp/{totp_id}"},
				{"AddOTPSMSAuthenticator", "POST /resources/v3alpha/users/{id}/otp_sms body=phone"},
				{"VerifyOTPSMSRegistration", "POST /resources/v3alpha/users/{id}/otp_sms/{otp_sms_id}/_verify body=code"},
				{"RemoveOTPSMSAuthenticator", "DELETE /resources/v3alpha/users/{id}/otp_sms/{otp_sms_id}"},
				{"AddOTPEmailAuthenticator", "POST /resources/v3alpha/users/{id}/otp_email body=email"},
				{"VerifyOTPEmailRegistration", "POST /resources/v3alpha/users/{id}/otp_email/{otp_email_id}/_verify body=code"},
				{"RemoveOTPEmailAuthenticator", "DELETE /resources/v3alpha/users/{id}/otp_email/{otp_email_id}"},
			},
		},
		messages: map[protoreflect.Name][]string{
			"StartWebAuthNRegistrationRequest":  fields(resUser, "4 registration zitadel.resources.user.v3alpha.StartWebAuthNRegistration"),
			"StartWebAuthNRegistrationResponse": {resDetails, "2 web_auth_n_id string", "3 public_key_credential_creation_options google.protobuf.Struct"},
			"VerifyWebAuthNRegistrationRequest": fields(resUser,
				"4 web_auth_n_id string 1..200",
				"5 verify zitadel.resources.user.v3alpha.VerifyWebAuthNRegistration"),
			"VerifyWebAuthNRegistrationResponse":  {resDetails},
			"RemoveWebAuthNAuthenticatorRequest":  fields(resUser, "4 web_auth_n_id string 1..200"),
			"RemoveWebAuthNAuthenticatorResponse": {resDetails},
			"StartTOTPRegistrationRequest":        fields(resUser),
			"StartTOTPRegistrationResponse":       {resDetails, "2 totp_id string", "3 uri string", "4 secret string"},
			"VerifyTOTPRegistrationRequest":       fields(resUser, "4 totp_id string 1..200", "5 code string 6..9"),
			"VerifyTOTPRegistrationResponse":      {resDetails},
			"RemoveTOTPAuthenticatorRequest":      fields(resUser, "4 totp_id string 1..200"),
			"RemoveTOTPAuthenticatorResponse":     {resDetails},
			"AddOTPSMSAuthenticatorRequest":       fields(resUser, "4 phone zitadel.resources.user.v3alpha.SetPhone"),
			"AddOTPSMSAuthenticatorResponse":      {resDetails, "2 otp_sms_id string", "3 verification_code optional string"},
			"VerifyOTPSMSRegistrationRequest":     fields(resUser, "4 otp_sms_id string 1..200", "5 code string 1..200"),
			"VerifyOTPSMSRegistrationResponse":    {resDetails},
			"RemoveOTPSMSAuthenticatorRequest":    fields(resUser, "4 otp_sms_id string 1..200"),
			"RemoveOTPSMSAuthenticatorResponse":   {resDetails},
			"AddOTPEmailAuthenticatorRequest":     fields(resUser, "4 email zitadel.resources.user.v3alpha.SetEmail"),
			"AddOTPEmailAuthenticatorResponse":    {resDetails, "2 otp_email_id string", "3 verification_code optional string"},
			"VerifyOTPEmailRegistrationRequest":   fields(resUser, "4 otp_email_id string 1..200", "5 code string 1..200"),
			"VerifyOTPEmailRegistrationResponse":  {resDetails},
			"RemoveOTPEmailAuthenticatorRequest":  fields(resUser, "4 otp_email_id string 1..200"),
			"RemoveOTPEmailAuthenticatorResponse": {resDetails},
		},
	},
	{
		path: "zitadel/resources/user/v3alpha/authenticator.proto",
		messages: map[protoreflect.Name][]string{
			"StartWebAuthNRegistration": {
				"1 domain string 1..200",
				"2 authenticator_type zitadel.resources.user.v3alpha.WebAuthNAuthenticatorType",
				"3 code optional zitadel.resources.user.v3alpha.AuthenticatorRegistrationCode",
			},
			"VerifyWebAuthNRegistration": {
				"1 public_key_credential google.protobuf.Struct required",
				"2 web_auth_n_name string 1..200",
			},
			"AuthenticatorRegistrationCode": registrationCode,
		},
		enums: map[protoreflect.Name][]string{"WebAuthNAuthenticatorType": webAuthNAuthenticatorType},
	},
	communication("zitadel/resources/user/v3alpha/communication.proto", "zitadel.resources.user.v3alpha"),
	{
		path: "zitadel/user/v3alpha/user_service.proto",
		service: &pinnedService{
			name: "UserService",
			methods: []pinnedMethod{
				{"StartWebAuthNRegistration", "POST /v3alpha/users/{user_id}/webauthn body=*"},
				{"VerifyWebAuthNRegistration", "POST /v3alpha/users/{user_id}/webauthn/{web_auth_n_id} body=*"},
				{"RemoveWebAuthNAuthenticator", "DELETE /v3alpha/users/{user_id}/webauthn/{web_auth_n_id}"},
				{"StartTOTPRegistration", "POST /v3alpha/users/{user_id}/totp"},
				{"VerifyTOTPRegistration", "POST /v3alpha/users/{user_id}/totp/{totp_id}/verify body=*"},
				{"RemoveTOTPAuthenticator", "DELETE /v3alpha/users/{user_id}/totp/{totp_id}"},
				{"AddOTPSMSAuthenticator", "POST /v3alpha/users/{user_id}/otp_sms body=*"},
				{"VerifyOTPSMSRegistration", "POST /v3alpha/users/{user_id}/otp_sms/{otp_sms_id}/verify body=*"},
				{"RemoveOTPSMSAuthenticator", "DELETE /v3alpha/users/{user_id}/otp_sms/{otp_sms_id}"},
				{"AddOTPEmailAuthenticator", "POST /v3alpha/users/{user_id}/otp_email body=*"},
				{"VerifyOTPEmailRegistration", "POST /v3alpha/users/{user_id}/otp_email/{otp_email_id}/verify body=*"},
				{"RemoveOTPEmailAuthenticator", "DELETE /v3alpha/users/{user_id}/otp_email/{otp_email_id}"},
			},
		},
		messages: map[protoreflect.Name][]string{
			"StartWebAuthNRegistrationRequest": fields(oldUser,
				"2 code optional zitadel.user.v3alpha.AuthenticatorRegistrationCode",
				"3 authenticator_type zitadel.user.v3alpha.WebAuthNAuthenticatorType",
				"4 domain string 1..200"),
			"StartWebAuthNRegistrationResponse": {oldDetails, "2 web_auth_n_id string", "3 public_key_credential_creation_options google.protobuf.Struct"},
			"VerifyWebAuthNRegistrationRequest": fields(oldUser,
				"2 web_auth_n_id string 1..200",
				"3 public_key_credential google.protobuf.Struct required",
				"4 web_auth_n_name string 1..200"),
			"VerifyWebAuthNRegistrationResponse":  {oldDetails},
			"RemoveWebAuthNAuthenticatorRequest":  fields(oldUser, "2 web_auth_n_id string 1..200"),
			"RemoveWebAuthNAuthenticatorResponse": {oldDetails},
			"StartTOTPRegistrationRequest":        fields(oldUser),
			"StartTOTPRegistrationResponse":       {oldDetails, "2 totp_id string", "3 uri string", "4 secret string"},
			"VerifyTOTPRegistrationRequest":       fields(oldUser, "2 totp_id string 1..200", "3 code string 6..9"),
			"VerifyTOTPRegistrationResponse":      {oldDetails},
			"RemoveTOTPAuthenticatorRequest":      fields(oldUser, "2 totp_id string 1..200"),
			"RemoveTOTPAuthenticatorResponse":     {oldDetails},
			"AddOTPSMSAuthenticatorRequest":       fields(oldUser, "2 phone zitadel.user.v3alpha.SetPhone"),
			"AddOTPSMSAuthenticatorResponse":      {oldDetails, "2 otp_sms_id string", "3 verification_code optional string"},
			"VerifyOTPSMSRegistrationRequest":     fields(oldUser, "2 otp_sms_id string 1..200", "3 code string 1..200"),
			"VerifyOTPSMSRegistrationResponse":    {oldDetails},
			"RemoveOTPSMSAuthenticatorRequest":    fields(oldUser, "2 otp_sms_id string 1..200"),
			"RemoveOTPSMSAuthenticatorResponse":   {oldDetails},
			"AddOTPEmailAuthenticatorRequest":     fields(oldUser, "2 email zitadel.user.v3alpha.SetEmail"),
			"AddOTPEmailAuthenticatorResponse":    {oldDetails, "2 otp_email_id string", "3 verification_code optional string"},
			"VerifyOTPEmailRegistrationRequest":   fields(oldUser, "2 otp_email_id string 1..200", "3 code string 1..200"),
			"VerifyOTPEmailRegistrationResponse":  {oldDetails},
			"RemoveOTPEmailAuthenticatorRequest":  fields(oldUser, "2 otp_email_id string 1..200"),
			"RemoveOTPEmailAuthenticatorResponse": {oldDetails},
		},
	},
	{
		path:     "zitadel/user/v3alpha/authenticator.proto",
		messages: map[protoreflect.Name][]string{"AuthenticatorRegistrationCode": registrationCode},
		enums:    map[protoreflect.Name][]string{"WebAuthNAuthenticatorType": webAuthNAuthenticatorType},
	},
	communication("zitadel/user/v3alpha/communication.proto", "zitadel.user.v3alpha"),
}

// checkPinned compares our files in the packages zitadel-go does not ship
// with pinnedFiles: every such file must be pinned and match exactly (no
// missing or extra service, method, message, field or enum value).
func checkPinned(r reporter, ours *protoregistry.Files) {
	pinned := map[string]pinnedFile{}
	for _, pf := range pinnedFiles {
		pinned[pf.path] = pf
	}
	errorf := func(path any, format string, args ...any) {
		r.Errorf("%v: %s", path, fmt.Sprintf(format, args...))
	}
	ours.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if strings.HasPrefix(fd.Path(), "zitadel/") && notInZitadelGo(fd.Package()) {
			if _, ok := pinned[fd.Path()]; !ok {
				errorf(fd.Path(), "file is not pinned (add it to pinnedFiles)")
			}
		}
		return true
	})
	for _, pf := range pinnedFiles {
		fd, err := ours.FindFileByPath(pf.path)
		if err != nil {
			errorf(pf.path, "pinned file missing in our protos: %v", err)
			continue
		}
		pkg := fd.Package()

		// Service and methods.
		var wantSvc []protoreflect.Name
		if pf.service != nil {
			wantSvc = []protoreflect.Name{pf.service.name}
		}
		var gotSvc []protoreflect.Name
		for i := range fd.Services().Len() {
			gotSvc = append(gotSvc, fd.Services().Get(i).Name())
		}
		if !slices.Equal(gotSvc, wantSvc) {
			errorf(pf.path, "services differ: ours %v, pinned %v", gotSvc, wantSvc)
		}
		if pf.service != nil {
			if sd := fd.Services().ByName(pf.service.name); sd != nil {
				checkPinnedService(errorf, sd, pf.service)
			}
		}

		// Messages.
		for i := range fd.Messages().Len() {
			md := fd.Messages().Get(i)
			if _, ok := pf.messages[md.Name()]; !ok {
				errorf(md.FullName(), "message is not pinned")
			}
		}
		for name, want := range pf.messages {
			md := fd.Messages().ByName(name)
			if md == nil {
				errorf(pkg.Append(name), "pinned message missing in %s", pf.path)
				continue
			}
			if md.Messages().Len() > 0 || md.Enums().Len() > 0 {
				errorf(md.FullName(), "has nested declarations, which are not pinned")
			}
			var got []string
			for j := range md.Fields().Len() {
				got = append(got, pinField(md.Fields().Get(j)))
			}
			compareSpecs(errorf, md.FullName(), "field", got, want)
			if md.ReservedNames().Len() > 0 || md.ReservedRanges().Len() > 0 {
				errorf(md.FullName(), "has reserved names or numbers, which are not pinned")
			}
		}

		// Enums.
		for i := range fd.Enums().Len() {
			ed := fd.Enums().Get(i)
			if _, ok := pf.enums[ed.Name()]; !ok {
				errorf(ed.FullName(), "enum is not pinned")
			}
		}
		for name, want := range pf.enums {
			ed := fd.Enums().ByName(name)
			if ed == nil {
				errorf(pkg.Append(name), "pinned enum missing in %s", pf.path)
				continue
			}
			var got []string
			for j := range ed.Values().Len() {
				v := ed.Values().Get(j)
				got = append(got, fmt.Sprintf("%s=%d", v.Name(), v.Number()))
			}
			compareSpecs(errorf, ed.FullName(), "value", got, want)
		}
	}
}

func checkPinnedService(errorf func(any, string, ...any), sd protoreflect.ServiceDescriptor, ps *pinnedService) {
	want := map[protoreflect.Name]pinnedMethod{}
	for _, m := range ps.methods {
		want[m.name] = m
	}
	for i := range sd.Methods().Len() {
		if _, ok := want[sd.Methods().Get(i).Name()]; !ok {
			errorf(sd.Methods().Get(i).FullName(), "method is not pinned")
		}
	}
	authenticated := &protocv2.Options{AuthOption: &protocv2.AuthOption{Permission: "authenticated"}}
	for _, pm := range ps.methods {
		md := sd.Methods().ByName(pm.name)
		if md == nil {
			errorf(sd.FullName().Append(pm.name), "pinned method missing in our protos")
			continue
		}
		p := md.FullName()
		pkg := sd.ParentFile().Package()
		if got, want := md.Input().FullName(), pkg.Append(pm.name+"Request"); got != want {
			errorf(p, "request type differs: ours %s, pinned %s", got, want)
		}
		if got, want := md.Output().FullName(), pkg.Append(pm.name+"Response"); got != want {
			errorf(p, "response type differs: ours %s, pinned %s", got, want)
		}
		if md.IsStreamingClient() || md.IsStreamingServer() {
			errorf(p, "is streaming")
		}
		opts := md.Options().(*descriptorpb.MethodOptions)
		if got := pinHTTP(opts); got != pm.http {
			errorf(p, "google.api.http differs: ours %q, pinned %q", got, pm.http)
		}
		v2, _ := proto.GetExtension(opts, protocv2.E_Options).(*protocv2.Options)
		if !proto.Equal(v2, authenticated) {
			errorf(p, "zitadel.protoc_gen_zitadel.v2.options differ: ours {%v}, pinned {%v}", text(v2), text(authenticated))
		}
		if proto.HasExtension(opts, authoption.E_AuthOption) {
			errorf(p, "has a v1 auth_option")
		}
		if opts.GetDeprecated() {
			errorf(p, "is deprecated")
		}
	}
}

// compareSpecs reports the specs missing on either side, in number order.
func compareSpecs(errorf func(any, string, ...any), path protoreflect.FullName, what string, got, want []string) {
	for _, w := range want {
		if !slices.Contains(got, w) {
			errorf(path, "pinned %s %q not in ours (ours: %q)", what, w, got)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			errorf(path, "%s %q is not pinned", what, g)
		}
	}
}

// pinHTTP renders a method's google.api.http rule as "VERB path[ body=x]".
func pinHTTP(opts *descriptorpb.MethodOptions) string {
	rule, _ := proto.GetExtension(opts, annotations.E_Http).(*annotations.HttpRule)
	if rule == nil {
		return "(none)"
	}
	var out string
	switch p := rule.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		out = "GET " + p.Get
	case *annotations.HttpRule_Post:
		out = "POST " + p.Post
	case *annotations.HttpRule_Put:
		out = "PUT " + p.Put
	case *annotations.HttpRule_Patch:
		out = "PATCH " + p.Patch
	case *annotations.HttpRule_Delete:
		out = "DELETE " + p.Delete
	default:
		out = fmt.Sprintf("%T", p)
	}
	if rule.GetBody() != "" {
		out += " body=" + rule.GetBody()
	}
	if rule.GetResponseBody() != "" {
		out += " response_body=" + rule.GetResponseBody()
	}
	if n := len(rule.GetAdditionalBindings()); n > 0 {
		out += fmt.Sprintf(" +%d bindings", n)
	}
	return out
}

// pinField renders a field as a pinnedFile field spec.
func pinField(f protoreflect.FieldDescriptor) string {
	parts := []string{fmt.Sprint(f.Number()), string(f.Name())}
	switch {
	case f.IsList():
		parts = append(parts, "repeated")
	case f.IsMap():
		parts = append(parts, "map")
	case f.HasOptionalKeyword():
		parts = append(parts, "optional")
	}
	switch {
	case f.Message() != nil:
		parts = append(parts, string(f.Message().FullName()))
	case f.Enum() != nil:
		parts = append(parts, string(f.Enum().FullName()))
	default:
		parts = append(parts, f.Kind().String())
	}
	if r := pinRules(f.Options().(*descriptorpb.FieldOptions)); r != "" {
		parts = append(parts, r)
	}
	if o := oneofName(f); o != "" {
		parts = append(parts, "oneof="+string(o))
	}
	if f.JSONName() != jsonCamel(string(f.Name())) {
		parts = append(parts, "json="+f.JSONName())
	}
	return strings.Join(parts, " ")
}

// pinRules renders the validate.rules of a field: "min..max" and "email"
// for strings, "required" for messages, "min_len=n" for bytes, "const=v" for
// bools. A rule it cannot render shows as "rules?" so that it fails.
func pinRules(opts *descriptorpb.FieldOptions) string {
	rules, _ := proto.GetExtension(opts, validate.E_Rules).(*validate.FieldRules)
	if rules == nil {
		return ""
	}
	rules = proto.Clone(rules).(*validate.FieldRules)
	var out []string
	switch {
	case rules.GetString_() != nil:
		s := rules.GetString_()
		if s.MinLen != nil || s.MaxLen != nil {
			out = append(out, fmt.Sprintf("%d..%d", s.GetMinLen(), s.GetMaxLen()))
		}
		if s.GetEmail() {
			out = append(out, "email")
			s.WellKnown = nil
		}
		s.MinLen, s.MaxLen = nil, nil
		if proto.Size(s) > 0 {
			out = append(out, "rules?")
		}
	case rules.GetMessage() != nil:
		m := rules.GetMessage()
		if m.GetRequired() {
			out = append(out, "required")
		}
		m.Required = nil
		if proto.Size(m) > 0 {
			out = append(out, "rules?")
		}
	case rules.GetBytes() != nil:
		b := rules.GetBytes()
		if b.MinLen != nil {
			out = append(out, fmt.Sprintf("min_len=%d", b.GetMinLen()))
		}
		b.MinLen = nil
		if proto.Size(b) > 0 {
			out = append(out, "rules?")
		}
	case rules.GetBool() != nil:
		b := rules.GetBool()
		if b.Const != nil {
			out = append(out, fmt.Sprintf("const=%v", b.GetConst()))
		}
		b.Const = nil
		if proto.Size(b) > 0 {
			out = append(out, "rules?")
		}
	default:
		out = append(out, "rules?")
	}
	return strings.Join(out, " ")
}

// jsonCamel is protoc's default JSON name of a field.
func jsonCamel(name string) string {
	var b strings.Builder
	up := false
	for _, r := range name {
		switch {
		case r == '_':
			up = true
		case up && 'a' <= r && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
			up = false
		default:
			b.WriteRune(r)
			up = false
		}
	}
	return b.String()
}
