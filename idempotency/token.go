package idempotency

import (
	"crypto/rand"
	"encoding/hex"
)

// NewToken returns a random 128-bit fencing token, hex encoded. Stores use
// it for Claim.Token.
func NewToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
