package login

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MinKeyBytes is the least key material a session key file must hold.
const MinKeyBytes = 32

// sealer seals cookie values: AES-256-GCM with a key derived from the shared key material, the
// cookie's name as additional data (so one cookie's value cannot be replayed as another's) and
// an expiry inside the sealed envelope.
type sealer struct {
	aead cipher.AEAD
	now  func() time.Time
}

var (
	errTampered = errors.New("the cookie is not one this console sealed")
	errExpired  = errors.New("the session has expired")
)

func newSealer(key []byte, now func() time.Time) (*sealer, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("the session key holds %d bytes, at least %d are needed", len(key), MinKeyBytes)
	}
	k, err := hkdf.Key(sha256.New, key, nil, "policy-herald console cookies v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead, now: now}, nil
}

// envelope is what is sealed: the value and when it stops being accepted.
type envelope struct {
	Exp int64           `json:"exp"`
	V   json.RawMessage `json:"v"`
}

// seal returns v sealed for the cookie name until exp.
func (s *sealer) seal(name string, exp time.Time, v any) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(envelope{Exp: exp.Unix(), V: raw})
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(name))), nil
}

// open reads a value seal made for the cookie name into v: errTampered when this key did not
// seal it for that name, errExpired when its time is over.
func (s *sealer) open(name, value string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(b) < s.aead.NonceSize() {
		return errTampered
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, b[:n], b[n:], []byte(name))
	if err != nil {
		return errTampered
	}
	var env envelope
	if err := json.Unmarshal(plain, &env); err != nil {
		return errTampered
	}
	if !s.now().Before(time.Unix(env.Exp, 0)) {
		return errExpired
	}
	if err := json.Unmarshal(env.V, v); err != nil {
		return errTampered
	}
	return nil
}
