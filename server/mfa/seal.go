package mfa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

// sealer encrypts secrets at rest with AES-256-GCM under the master key.
// A sealed value is "v1." + base64url(nonce || ciphertext).
type sealer struct{ aead cipher.AEAD }

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
	return &sealer{aead: aead}, nil
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
