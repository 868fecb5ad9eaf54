package idempotency

import "github.com/eventfn/eventfn/idempotency/internal/token"

// NewToken returns a fencing token for Claim.Token: 22 characters of
// unpadded base64url (128 bits), unique within the process and, with
// overwhelming probability, across processes. Stores call it for each claim
// they grant. It is safe for concurrent use.
func NewToken() string { return token.New() }
