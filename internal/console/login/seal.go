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
// an expiry inside the sealed envelope. The first key seals; every key opens, so a new key can
// be put first while the old one still opens the sessions it sealed.
type sealer struct {
	aeads []cipher.AEAD
	now   func() time.Time
}

var (
	errTampered = errors.New("the cookie is not one this console sealed")
	errExpired  = errors.New("the session has expired")
)

func newSealer(keys [][]byte, now func() time.Time) (*sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("no session key")
	}
	s := &sealer{now: now}
	for i, key := range keys {
		aead, err := newAEAD(key)
		if err != nil {
			return nil, fmt.Errorf("session key %d: %w", i+1, err)
		}
		s.aeads = append(s.aeads, aead)
	}
	return s, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("it holds %d bytes, at least %d are needed", len(key), MinKeyBytes)
	}
	k, err := hkdf.Key(sha256.New, key, nil, "policy-herald console cookies v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
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
	aead := s.aeads[0]
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, []byte(name))), nil
}

// open reads a value seal made for the cookie name into v: errTampered when this key did not
// seal it for that name, errExpired when its time is over.
func (s *sealer) open(name, value string, v any) error {
	plain, ok := s.unseal(name, value)
	if !ok {
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

// unseal opens value with the first key that sealed it.
func (s *sealer) unseal(name, value string) ([]byte, bool) {
	b, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		return nil, false
	}
	for _, aead := range s.aeads {
		n := aead.NonceSize()
		if len(b) < n {
			return nil, false
		}
		if plain, err := aead.Open(nil, b[:n], b[n:], []byte(name)); err == nil {
			return plain, true
		}
	}
	return nil, false
}
