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
	_ "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/management"
	_ "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/message"
	_ "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/org/v2"
	_ "github.com/zitadel/zitadel-go/v3/pkg/client/zitadel/user/v2"
)

// descriptorSetPath is gen/zitadel.binpb at the repository root, written by
// `make generate`.
const descriptorSetPath = "../../../../gen/zitadel.binpb"

// wantMethods is the RPC set factorgate serves, per service. Every method of
// these services in our protos must be listed here and must match ZITADEL.
var wantMethods = map[protoreflect.FullName][]protoreflect.Name{
	"zitadel.management.v1.ManagementService": {
		"RemoveHumanAuthFactorOTP",
		"RemoveHumanAuthFactorU2F",
		"RemoveHumanAuthFactorOTPSMS",
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
	"zitadel.user.v2.UserService": {
		"AddHumanUser",
	},
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
		if !strings.HasPrefix(fd.Path(), "zitadel/") {
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
	// Every service in our zitadel/ files must be in wantMethods.
	ours.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(fd.Path(), "zitadel/") {
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

	// Real (non-synthetic) oneofs and their members.
	differs(c, p, "oneofs", oneofs(om), oneofs(tm))

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
