package onelogin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	oneloginv2 "github.com/factorgate/factorgate/gen/factorgate/onelogin/v2"
)

// marshaler writes OneLogin's JSON: the proto field names (snake_case) in
// declaration order, every field present (false, 0 and "" included) except
// unset optional ones, 64-bit integers as JSON numbers (OneLogin's ids are
// numbers, and factorgate's stay below 2^53). Lists that a v2 http rule
// names as response_body arrive as slices and become bare arrays. It reads
// request bodies with protojson, which takes snake_case and ignores
// unknown fields.
type marshaler struct{}

var _ runtime.Marshaler = marshaler{}

func (marshaler) ContentType(any) string { return "application/json" }

func (marshaler) Marshal(v any) ([]byte, error) {
	if _, ok := v.(*oneloginv2.RemoveFactorResponse); ok {
		return nil, nil // 204 No Content
	}
	var b bytes.Buffer
	if err := encodeValue(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (marshaler) Unmarshal(data []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return json.Unmarshal(data, v)
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, m)
}

// errRequestFailure is OneLogin's generic 400 text (its spec's example).
var errRequestFailure = errors.New("Request Failure")

func (m marshaler) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		data, err := io.ReadAll(io.LimitReader(r, 1<<20))
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(data)) == 0 {
			return io.EOF // no body: the gateway takes the zero request
		}
		if err := m.Unmarshal(data, v); err != nil {
			// The gateway answers InvalidArgument with this text; the
			// parser's own words are no part of OneLogin's contract.
			return errRequestFailure
		}
		return nil
	})
}

func (m marshaler) NewEncoder(w io.Writer) runtime.Encoder {
	return runtime.EncoderFunc(func(v any) error {
		data, err := m.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
}

func encodeValue(b *bytes.Buffer, v any) error {
	if m, ok := v.(proto.Message); ok {
		return encodeMessage(b, m.ProtoReflect())
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice {
		b.WriteByte('[')
		for i := 0; i < rv.Len(); i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := encodeValue(b, rv.Index(i).Interface()); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	}
	return errors.New("onelogin: cannot encode " + rv.Type().String())
}

func encodeMessage(b *bytes.Buffer, m protoreflect.Message) error {
	b.WriteByte('{')
	fields := m.Descriptor().Fields()
	n := 0
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.HasPresence() && !m.Has(fd) {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		writeString(b, fd.TextName())
		b.WriteByte(':')
		v := m.Get(fd)
		if fd.IsList() {
			l := v.List()
			b.WriteByte('[')
			for j := 0; j < l.Len(); j++ {
				if j > 0 {
					b.WriteByte(',')
				}
				if err := encodeScalar(b, fd, l.Get(j)); err != nil {
					return err
				}
			}
			b.WriteByte(']')
			continue
		}
		if err := encodeScalar(b, fd, v); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

func encodeScalar(b *bytes.Buffer, fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	switch fd.Kind() {
	case protoreflect.MessageKind:
		return encodeMessage(b, v.Message())
	case protoreflect.StringKind:
		writeString(b, v.String())
	case protoreflect.BoolKind:
		b.WriteString(strconv.FormatBool(v.Bool()))
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		b.WriteString(strconv.FormatInt(v.Int(), 10))
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind:
		b.WriteString(strconv.FormatUint(v.Uint(), 10))
	default:
		return fmt.Errorf("onelogin: cannot encode field %s of kind %s", fd.FullName(), fd.Kind())
	}
	return nil
}

func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	b.Truncate(b.Len() - 1) // Encode's newline
}
