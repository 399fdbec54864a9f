package mfa

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
)

var update = flag.Bool("update", false, "rewrite testdata/events.golden")

// eventPayloads names the payload type of every event type; nil means the
// event has no payload. It must list every Event* constant of events.go.
var eventPayloads = map[string]any{
	EventInstanceAdded:             instanceAddedPayload{},
	EventInstanceMemberAdded:       memberAddedPayload{},
	EventInstancePolicyAdded:       policyPayload{},
	EventInstanceSecondFactorAdded: secondFactorPayload{},
	EventInstanceSecondFactorRemov: secondFactorPayload{},

	EventOrgAdded:             orgAddedPayload{},
	EventOrgMemberAdded:       memberAddedPayload{},
	EventOrgPolicyAdded:       policyPayload{},
	EventOrgPolicyChanged:     policyPayload{},
	EventOrgPolicyRemoved:     removedPayload{},
	EventOrgSecondFactorAdded: secondFactorPayload{},
	EventOrgSecondFactorRemov: secondFactorPayload{},

	EventHumanAdded:       humanAddedPayload{},
	EventMachineAdded:     machineAddedPayload{},
	EventPATAdded:         patAddedPayload{},
	EventPATRemoved:       patRemovedPayload{},
	EventTokenAdded:       tokenAddedPayload{},
	EventTokenRevoked:     tokenRevokedPayload{},
	EventMachineSecretSet: machineSecretPayload{},

	EventRefreshTokenAdded:   refreshTokenAddedPayload{},
	EventRefreshTokenUsed:    tokenRevokedPayload{},
	EventRefreshTokenRevoked: tokenRevokedPayload{},

	EventTOTPAdded:       totpAddedPayload{},
	EventTOTPVerified:    factorIDPayload{},
	EventTOTPRemoved:     removedPayload{},
	EventU2FAdded:        u2fAddedPayload{},
	EventU2FVerified:     u2fVerifiedPayload{},
	EventU2FRemoved:      webAuthNRemovedPayload{},
	EventOTPSMSAdded:     otpAddedPayload{},
	EventOTPSMSRemoved:   removedPayload{},
	EventOTPEmailAdded:   otpAddedPayload{},
	EventOTPEmailRemoved: removedPayload{},

	EventPhoneChanged:  phoneChangedPayload{},
	EventPhoneVerified: nil,
	EventEmailChanged:  emailChangedPayload{},
	EventEmailVerified: nil,

	EventOTPSMSRegistrationStarted:       otpSMSRegistrationPayload{},
	EventOTPSMSRegistrationCheckFailed:   factorIDPayload{},
	EventOTPSMSRegistrationVerified:      factorIDPayload{},
	EventOTPEmailRegistrationStarted:     otpEmailRegistrationPayload{},
	EventOTPEmailRegistrationCheckFailed: factorIDPayload{},
	EventOTPEmailRegistrationVerified:    factorIDPayload{},

	EventAPICredentialAdded: apiCredentialPayload{},

	EventNotificationQueued:    notificationQueuedPayload{},
	EventNotificationClaimed:   notificationClaimedPayload{},
	EventNotificationAttempted: notificationAttemptedPayload{},
	EventNotificationDelivered: nil,
}

// TestEventsGolden pins the persisted contract: every event type and the
// JSON fields of its payload (STYLE lesson 6). A change here is a change of
// stored data: add a new event type or payload version instead of editing
// one. Run with -update to rewrite the golden file after an intended
// addition.
func TestEventsGolden(t *testing.T) {
	declared := declaredEventTypes(t)
	for name, typ := range declared {
		if _, ok := eventPayloads[typ]; !ok {
			t.Errorf("%s (%q) is missing from eventPayloads", name, typ)
		}
	}
	for typ := range eventPayloads {
		if !slices.Contains(valuesOf(declared), typ) {
			t.Errorf("eventPayloads lists %q, which events.go does not declare", typ)
		}
	}

	var out bytes.Buffer
	out.WriteString("# Persisted event contracts: type, payload version, JSON fields of the payload.\n")
	out.WriteString("# Regenerate with: go test ./server/mfa -run TestEventsGolden -update\n")
	types := make([]string, 0, len(eventPayloads))
	for typ := range eventPayloads {
		types = append(types, typ)
	}
	slices.Sort(types)
	for _, typ := range types {
		fmt.Fprintf(&out, "%s v%d\n", typ, eventPayloadVersionOne)
		proto := eventPayloads[typ]
		if proto == nil {
			out.WriteString("  (no payload)\n")
			continue
		}
		data, err := json.Marshal(example(reflect.TypeOf(proto)))
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		for _, f := range jsonFields("", v) {
			fmt.Fprintf(&out, "  %s\n", f)
		}
	}

	golden := filepath.Join("testdata", "events.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("event contracts changed; stored events may no longer decode.\n"+
			"If the change is intended (a new event type or version), run with -update.\n--- got\n%s\n--- want\n%s", out.Bytes(), want)
	}
}

// TestEventsApply checks that the write model of each event's aggregate
// folds a fully populated payload of that event.
func TestEventsApply(t *testing.T) {
	for typ, proto := range eventPayloads {
		var payload []byte
		if proto != nil {
			var err error
			if payload, err = json.Marshal(example(reflect.TypeOf(proto))); err != nil {
				t.Fatal(err)
			}
		}
		aggType, _, _ := strings.Cut(typ, ".")
		var m writeModel
		switch aggType {
		case aggregateTypeInstance:
			m = &instanceState{}
		case aggregateTypeOrg:
			m = &orgState{}
		case aggregateTypeUser:
			m = &userState{}
		case aggregateTypeNotify:
			m = &notificationState{}
		default:
			t.Errorf("%s: no write model for aggregate %q", typ, aggType)
			continue
		}
		e := eventstore.Event{AggregateType: aggType, AggregateID: "1", Sequence: 1, Type: typ,
			Version: eventPayloadVersionOne, ResourceOwner: "1", CreatedAt: time.Unix(0, 0).UTC(), Payload: payload}
		if err := m.apply(e); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
}

// declaredEventTypes parses events.go and returns its Event* constants.
func declaredEventTypes(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "events.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Event") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("%s is not a string literal", name.Name)
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out[name.Name] = v
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no Event* constants found in events.go")
	}
	return out
}

func valuesOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// example returns a value of type t with every field set, so that fields
// tagged omitempty appear in its JSON too.
func example(t reflect.Type) any { return exampleValue(t).Interface() }

func exampleValue(t reflect.Type) reflect.Value {
	v := reflect.New(t).Elem()
	if t == reflect.TypeFor[time.Time]() {
		v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
		return v
	}
	switch t.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Slice:
		s := reflect.MakeSlice(t, 1, 1)
		s.Index(0).Set(exampleValue(t.Elem()))
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(t)
		m.SetMapIndex(exampleValue(t.Key()), exampleValue(t.Elem()))
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		p.Elem().Set(exampleValue(t.Elem()))
		v.Set(p)
	case reflect.Struct:
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				v.Field(i).Set(exampleValue(t.Field(i).Type))
			}
		}
	default:
		panic(fmt.Sprintf("example: unsupported kind %s", t.Kind()))
	}
	return v
}

// jsonFields lists the leaves of a decoded JSON value as "path type",
// sorted.
func jsonFields(path string, v any) []string {
	switch v := v.(type) {
	case map[string]any:
		var out []string
		for k, e := range v {
			p := k
			if path != "" {
				p = path + "." + k
			}
			out = append(out, jsonFields(p, e)...)
		}
		slices.Sort(out)
		return out
	case []any:
		if len(v) == 0 {
			return []string{path + "[] (empty)"}
		}
		return jsonFields(path+"[]", v[0])
	case string:
		return []string{path + " string"}
	case float64:
		return []string{path + " number"}
	case bool:
		return []string{path + " bool"}
	default:
		return []string{fmt.Sprintf("%s %T", path, v)}
	}
}
