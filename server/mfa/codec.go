package mfa

import (
	fastjson "github.com/goccy/go-json"
)

// decodeDoc decodes a stored document (a user, organization, instance,
// token or notification) into v. Documents are written with encoding/json
// and read on every request; decoding them with encoding/json took about a
// tenth of a request's CPU (bench/HISTORY.md). github.com/goccy/go-json
// is a drop-in replacement for encoding/json that decodes a user document
// about four times faster. TestDocumentsDecodeAsEncodingJSONDoes holds it
// to encoding/json's result on every document type, malformed ones
// included (another fast decoder, segmentio/encoding, failed it: a null
// list in a map came back empty, not nil). Event payloads, read far less
// often, stay on encoding/json.
func decodeDoc(data []byte, v any) error {
	return fastjson.Unmarshal(data, v)
}

// encodeDoc encodes a document as the store keeps it. Every removal
// writes its person's document again; github.com/goccy/go-json encodes a
// person's document in about 60 % of encoding/json's time, and
// TestDocumentsEncodeAsEncodingJSONDoes holds it to encoding/json's bytes,
// byte for byte, on every document type (escapes, invalid UTF-8, nil and
// empty lists, times): a document written by an older build and one
// written now are the same bytes for the same state. Event payloads stay
// on encoding/json.
func encodeDoc(v any) ([]byte, error) {
	return fastjson.Marshal(v)
}
