package mfa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
)

// sealer encrypts secrets at rest with AES-256-GCM under the master key.
// A sealed value is "v1." + base64url(nonce || ciphertext). It also keys the
// digests of short-lived codes (see digest).
type sealer struct {
	aead   cipher.AEAD
	macKey []byte
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("mfa: master key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	// A separate key for digests, derived from the master key, so the
	// master key is never used for two purposes.
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("factorgate/code-digest/v1"))
	return &sealer{aead: aead, macKey: mac.Sum(nil)}, nil
}

const sealPrefix = "v1."

func (s *sealer) seal(plain []byte, context string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := s.aead.Seal(nonce, nonce, plain, []byte(context))
	return sealPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}

func (s *sealer) open(sealed, context string) ([]byte, error) {
	if len(sealed) < len(sealPrefix) || sealed[:len(sealPrefix)] != sealPrefix {
		return nil, errors.New("mfa: unknown sealed format")
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed[len(sealPrefix):])
	if err != nil {
		return nil, err
	}
	n := s.aead.NonceSize()
	if len(raw) < n {
		return nil, errors.New("mfa: sealed value too short")
	}
	return s.aead.Open(nil, raw[:n], raw[n:], []byte(context))
}

const digestPrefix = "h1."

// digest returns the stored form of a short code: "h1." +
// base64url(HMAC-SHA256(key, context || 0 || value)). Unlike a plain hash,
// it cannot be reversed by trying every code without the master key; the
// context binds it to one user and factor.
func (s *sealer) digest(value, context string) string {
	mac := hmac.New(sha256.New, s.macKey)
	mac.Write([]byte(context))
	mac.Write([]byte{0})
	mac.Write([]byte(value))
	return digestPrefix + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// digestMatches reports, in constant time, whether value has the stored
// digest.
func (s *sealer) digestMatches(stored, value, context string) bool {
	return subtle.ConstantTimeCompare([]byte(s.digest(value, context)), []byte(stored)) == 1
}
