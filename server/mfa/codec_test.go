package mfa

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// documentTypes makes a new value of each type the store keeps as a
// document.
var documentTypes = []func() any{
	func() any { return new(userState) },
	func() any { return new(orgState) },
	func() any { return new(instanceState) },
	func() any { return new(tokenDoc) },
	func() any { return new(refreshDoc) },
	func() any { return new(notificationState) },
}

// forRandomDocuments runs check, in a subtest per document type, on 300
// documents of the type filled with random values (strings with quotes,
// escapes, control characters, invalid UTF-8 and non-ASCII text, empty and
// nil slices and maps, zero and non-zero times). It fails a type whose
// fields the filler does not reach.
func forRandomDocuments(t *testing.T, seed uint64, check func(t *testing.T, i int, mk func() any, v any)) {
	r := rand.New(rand.NewPCG(seed, seed+1))
	for _, mk := range documentTypes {
		t.Run(reflect.TypeOf(mk()).Elem().Name(), func(t *testing.T) {
			filled := 0
			for i := range 300 {
				v := mk()
				filled += fillRandom(r, reflect.ValueOf(v).Elem(), 0)
				check(t, i, mk, v)
			}
			if filled < 300 {
				t.Fatalf("only %d fields were filled: the filler does not reach the document's fields", filled)
			}
		})
	}
}

// TestDocumentsDecodeAsEncodingJSONDoes holds decodeDoc to encoding/json:
// every document type with random contents is encoded as the store keeps
// it and decoded by both; the results must be equal. Malformed documents
// must fail in both.
func TestDocumentsDecodeAsEncodingJSONDoes(t *testing.T) {
	forRandomDocuments(t, 1, func(t *testing.T, i int, mk func() any, v any) {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		want, got := mk(), mk()
		if err := json.Unmarshal(data, want); err != nil {
			t.Fatal(err)
		}
		if err := decodeDoc(data, got); err != nil {
			t.Fatalf("case %d: decodeDoc: %v\n%s", i, err, data)
		}
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("case %d: decodeDoc differs from encoding/json\n%s\nencoding/json: %#v\ndecodeDoc:     %#v", i, data, want, got)
		}
	})
	for _, mk := range documentTypes {
		for _, bad := range []string{``, `{`, `{"id":}`, `{"id":"x"`, `[]`, `{"id":1}`, `{"factors":{}}`, `nul`, `{"id":"\x01"}`, `{"id":"\ud800"`} {
			errStd := json.Unmarshal([]byte(bad), mk())
			errFast := decodeDoc([]byte(bad), mk())
			if (errStd == nil) != (errFast == nil) {
				t.Errorf("%T, %q: encoding/json error %v, decodeDoc error %v", mk(), bad, errStd, errFast)
			}
		}
	}
}

// TestDocumentsEncodeAsEncodingJSONDoes holds encodeDoc to encoding/json's
// bytes: every document type with random contents must encode to exactly
// what encoding/json writes, so that the stored bytes of a state do not
// depend on the build that wrote them.
func TestDocumentsEncodeAsEncodingJSONDoes(t *testing.T) {
	forRandomDocuments(t, 3, func(t *testing.T, i int, _ func() any, v any) {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeDoc(v)
		if err != nil {
			t.Fatalf("case %d: encodeDoc: %v", i, err)
		}
		if string(got) != string(want) {
			t.Fatalf("case %d: encodeDoc differs from encoding/json\nencoding/json: %s\nencodeDoc:     %s", i, want, got)
		}
	})
}

// fillRandom sets the exported fields of v (and of structs embedded in it)
// to random values and returns how many it set.
func fillRandom(r *rand.Rand, v reflect.Value, depth int) int {
	if depth > 6 {
		return 0
	}
	if v.Type() == reflect.TypeFor[time.Time]() {
		if r.IntN(4) == 0 {
			v.Set(reflect.ValueOf(time.Time{}))
		} else {
			v.Set(reflect.ValueOf(time.UnixMicro(r.Int64N(4e15)).UTC()))
		}
		return 1
	}
	switch v.Kind() {
	case reflect.Struct:
		n := 0
		for i := range v.NumField() {
			f := v.Field(i)
			sf := v.Type().Field(i)
			if !sf.IsExported() && !sf.Anonymous {
				continue
			}
			n += fillRandom(r, f, depth+1)
		}
		return n
	case reflect.String:
		v.SetString(randomString(r))
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(r.Uint64()) >> (64 - v.Type().Bits()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(r.Uint64() >> (64 - v.Type().Bits()))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(r.NormFloat64())
	case reflect.Pointer:
		if r.IntN(4) == 0 {
			return 0
		}
		p := reflect.New(v.Type().Elem())
		n := fillRandom(r, p.Elem(), depth+1)
		v.Set(p)
		return n
	case reflect.Slice:
		switch r.IntN(4) {
		case 0:
			return 0 // nil
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			return 1
		}
		s := reflect.MakeSlice(v.Type(), 1+r.IntN(3), 3)
		n := 1
		for i := range s.Len() {
			n += fillRandom(r, s.Index(i), depth+1)
		}
		v.Set(s)
		return n
	case reflect.Map:
		if r.IntN(4) == 0 {
			return 0
		}
		m := reflect.MakeMap(v.Type())
		n := 1
		for range r.IntN(3) {
			k := reflect.New(v.Type().Key()).Elem()
			e := reflect.New(v.Type().Elem()).Elem()
			n += fillRandom(r, k, depth+1) + fillRandom(r, e, depth+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
		return n
	default:
		panic(fmt.Sprintf("fillRandom: no rule for %s", v.Type()))
	}
	return 1
}

func randomString(r *rand.Rand) string {
	pieces := []string{"", "a", "312345678901234567", `"`, `\`, "\n", "\t", "\x00", "\x1f", "<", ">", "&", "é", "日本", "\u2028", "🔑", "\xff", "/", "u0041", " "}
	var s string
	for range r.IntN(6) {
		s += pieces[r.IntN(len(pieces))]
	}
	return s
}
