package idempotency

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"sync/atomic"
)

// Tokens are a random 96-bit prefix drawn once per process followed by a
// 32-bit counter: unique per claim, unpredictable across processes, and cheap.
var (
	tokenPrefix [12]byte
	tokenSeq    atomic.Uint32
)

func init() {
	_, _ = rand.Read(tokenPrefix[:]) // crypto/rand.Read never fails on supported platforms
	var b [4]byte
	_, _ = rand.Read(b[:])
	tokenSeq.Store(binary.BigEndian.Uint32(b[:]))
}

// NewToken returns a fencing token for Claim.Token: TokenLen characters of
// unpadded base64url, unique within the process and, with overwhelming
// probability, across processes. It is safe for concurrent use.
func NewToken() string {
	var h [TokenLen]byte
	return string(AppendToken(h[:0]))
}

// TokenLen is the length of a token from NewToken or AppendToken: 128 bits
// in unpadded base64url.
const TokenLen = 22

// AppendToken appends a new token, as NewToken returns, to b and returns
// the extended buffer. Stores that embed the token in a larger value build
// it without a separate string.
func AppendToken(b []byte) []byte {
	var raw [16]byte
	copy(raw[:12], tokenPrefix[:])
	binary.BigEndian.PutUint32(raw[12:], tokenSeq.Add(1))
	return base64.RawURLEncoding.AppendEncode(b, raw[:])
}
