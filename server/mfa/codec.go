package mfa

import (
	fastjson "github.com/goccy/go-json"
)

// decodeDoc decodes a stored document (a user, organization, instance,
// token or notification) into v. Documents are written with encoding/json
// and read on every request; decoding them with encoding/json took about a
// tenth of a request's CPU (README, Performance). github.com/goccy/go-json
// is a drop-in replacement for encoding/json that decodes a user document
// about four times faster. TestDocumentsDecodeAsEncodingJSONDoes holds it
// to encoding/json's result on every document type, malformed ones
// included (another fast decoder, segmentio/encoding, failed it: a null
// list in a map came back empty, not nil). Event payloads, read far less
// often, stay on encoding/json, and so does every encoding.
func decodeDoc(data []byte, v any) error {
	return fastjson.Unmarshal(data, v)
}
