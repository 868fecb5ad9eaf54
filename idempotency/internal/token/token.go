// Package token makes the fencing tokens of idempotency claims, for
// idempotency.NewToken and for stores that build a token into a larger
// value without a separate string.
package token

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"sync/atomic"
)

// Len is the length of a token from New or Append: 128 bits in unpadded
// base64url.
const Len = 22

// Tokens are a random 96-bit prefix drawn once per process followed by a
// 32-bit counter: unique per claim, unpredictable across processes, and cheap.
var (
	prefix [12]byte
	seq    atomic.Uint32
)

func init() {
	_, _ = rand.Read(prefix[:]) // crypto/rand.Read never fails on supported platforms
	var b [4]byte
	_, _ = rand.Read(b[:])
	seq.Store(binary.BigEndian.Uint32(b[:]))
}

// New returns a new token. It is safe for concurrent use.
func New() string {
	var h [Len]byte
	return string(Append(h[:0]))
}

// Append appends a new token to b and returns the extended buffer. It is
// safe for concurrent use.
func Append(b []byte) []byte {
	var raw [16]byte
	copy(raw[:12], prefix[:])
	binary.BigEndian.PutUint32(raw[12:], seq.Add(1))
	return base64.RawURLEncoding.AppendEncode(b, raw[:])
}
