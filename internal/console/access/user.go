package access

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
	"maps"
	"slices"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
)

// User is the person a decision is for, as the API server authenticated them
// (authentication.k8s.io UserInfo): RBAC binds users and groups, and webhook authorizers may
// also look at the UID and extra attributes, so every field is part of the question.
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// UserFromInfo returns the User of a TokenReview's (or a SubjectAccessReview's) UserInfo.
func UserFromInfo(info authenticationv1.UserInfo) User {
	u := User{Name: info.Username, UID: info.UID, Groups: info.Groups}
	if len(info.Extra) > 0 {
		u.Extra = make(map[string][]string, len(info.Extra))
		for k, v := range info.Extra {
			u.Extra[k] = []string(v)
		}
	}
	return u
}

func (u User) validate() error {
	if u.Name == "" && len(u.Groups) == 0 {
		return errors.New("the user has neither a name nor groups")
	}
	return nil
}

// identity is the user's part of a cache key: a hash of every field, with groups, extra keys and
// extra values sorted, since the API server treats them as sets. Two users share decisions only
// when they are the same person with the same groups and attributes.
func (u User) identity() string {
	h := sha256.New()
	writeString(h, u.Name)
	writeString(h, u.UID)
	writeStrings(h, slices.Sorted(slices.Values(u.Groups)))
	keys := slices.Sorted(maps.Keys(u.Extra))
	writeLen(h, len(keys))
	for _, k := range keys {
		writeString(h, k)
		writeStrings(h, slices.Sorted(slices.Values(u.Extra[k])))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Lengths first, so that no two different users encode alike ("ab"+"c" vs "a"+"bc").
func writeLen(h hash.Hash, n int) { _ = binary.Write(h, binary.BigEndian, uint64(n)) }

func writeString(h hash.Hash, s string) {
	writeLen(h, len(s))
	h.Write([]byte(s))
}

func writeStrings(h hash.Hash, ss []string) {
	writeLen(h, len(ss))
	for _, s := range ss {
		writeString(h, s)
	}
}

// extra converts the user's attributes to a SubjectAccessReview's.
func (u User) extra() map[string]authorizationv1.ExtraValue {
	if len(u.Extra) == 0 {
		return nil
	}
	out := make(map[string]authorizationv1.ExtraValue, len(u.Extra))
	for k, v := range u.Extra {
		out[k] = authorizationv1.ExtraValue(v)
	}
	return out
}
