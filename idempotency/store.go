package idempotency

import (
	"context"
	"errors"
	"time"
)

// Status is the state of an idempotency record.
type Status int

const (
	// StatusInProgress: a handler holds the key under a lease.
	StatusInProgress Status = iota + 1
	// StatusCompleted: the effect happened; later deliveries are skipped.
	StatusCompleted
)

// String returns "IN_PROGRESS" or "COMPLETED".
func (s Status) String() string {
	switch s {
	case StatusInProgress:
		return "IN_PROGRESS"
	case StatusCompleted:
		return "COMPLETED"
	}
	return "UNKNOWN"
}

// Record is the stored state of one key.
type Record struct {
	Key    string
	Status Status
	// Token fences Complete and Release: only the claim that wrote it may
	// finish the record. Stores may return it empty for records they did not
	// create in this call.
	Token string
	// Fingerprint identifies the payload the key was claimed for; it
	// survives completion.
	Fingerprint string
	// LeaseExpiry is when an IN_PROGRESS claim may be taken over. Zero when
	// the store expires leases itself and does not report the time.
	LeaseExpiry time.Time
	// Expiry is when a COMPLETED record may be forgotten. Zero when the
	// store does not report it.
	Expiry time.Time
	// Result is the stored result of a completed function-level call (Do).
	Result []byte
}

// ClaimRequest asks to claim Key for a handler run.
type ClaimRequest struct {
	Key         string
	Fingerprint string
	// Lease is how long the claim holds before another delivery may take it
	// over. Must be positive.
	Lease time.Duration
}

// Claim is the answer to a ClaimRequest.
type Claim struct {
	// Acquired reports whether this call now holds the key.
	Acquired bool
	// Token fences Complete and Release; set when Acquired.
	Token string
	// Existing is the record that blocked the claim: set when !Acquired,
	// nil when Acquired. (A pointer: most claims are acquired, and a batch's
	// claims stay small.)
	Existing *Record
}

// Store persists idempotency records. A Store must make Claim atomic: of any
// number of concurrent claims for one absent (or lease-expired) key, exactly
// one is Acquired. Implementations must be safe for concurrent use and must
// pass idempotency/storetest.
//
// Errors: a stale or unknown token makes Complete, Release and Extend return
// an error matching ErrLeaseLost and change nothing; any failure to reach
// the store is returned wrapped with ErrStore (never a silent success).
type Store interface {
	// Claim claims req.Key if it is absent, or IN_PROGRESS with an expired
	// lease (or COMPLETED past its expiry); otherwise it returns the record
	// that holds it.
	Claim(ctx context.Context, req ClaimRequest) (Claim, error)
	// Complete marks key COMPLETED with result, to be kept for ttl, if token
	// still holds the claim. It keeps the claim's fingerprint.
	Complete(ctx context.Context, key, token string, result []byte, ttl time.Duration) error
	// Release deletes key if token still holds the claim, so a redelivery
	// can run the handler again.
	Release(ctx context.Context, key, token string) error
	// Extend renews the IN_PROGRESS claim that token holds on key so that
	// its lease ends lease from now (on the server's clock where the store
	// expires keys itself), keeping its token and fingerprint: a handler
	// that runs longer than its lease keeps the key. It returns an error
	// matching ErrLeaseLost and changes nothing when token does not hold
	// the claim: another claim's token, a lease already expired (even if no
	// other delivery took the key), no record, or a COMPLETED record.
	Extend(ctx context.Context, key, token string, lease time.Duration) error
	// Get returns the record for key, or an error matching ErrNotFound.
	Get(ctx context.Context, key string) (Record, error)
}

// Completion is one item of BatchStore.CompleteBatch.
type Completion struct {
	Key, Token string
	Result     []byte
	TTL        time.Duration
}

// Release is one item of BatchStore.ReleaseBatch.
type Release struct {
	Key, Token string
}

// BatchStore is implemented by stores that can act on many keys in about one
// round trip. The middleware uses it when a handler runs under
// handler.Process; each method returns one answer per item, in order.
// Implementations must not retain the slices they are given once they
// return: the middleware reuses them for later batches. The slices they
// return belong to the caller, which may keep pointers into them.
type BatchStore interface {
	Store
	ClaimBatch(ctx context.Context, reqs []ClaimRequest) ([]Claim, []error)
	CompleteBatch(ctx context.Context, items []Completion) []error
	ReleaseBatch(ctx context.Context, items []Release) []error
}

// Errors reported by stores and the middleware. Match them with errors.Is.
var (
	// ErrInProgress: another delivery holds the key under a live lease. It is
	// retryable: the platform redelivers later.
	ErrInProgress = errors.New("idempotency: in progress")
	// ErrPayloadMismatch: the key was claimed for a different payload. The
	// middleware returns it wrapped with handler.Permanent.
	ErrPayloadMismatch = errors.New("idempotency: payload mismatch for key")
	// ErrLeaseLost: the claim's token no longer holds the key (the lease
	// expired and another delivery took it, or the record is gone).
	ErrLeaseLost = errors.New("idempotency: lease lost")
	// ErrNotFound: no record for the key.
	ErrNotFound = errors.New("idempotency: record not found")
	// ErrNoKey: no idempotency key could be derived from the message.
	ErrNoKey = errors.New("idempotency: no key")
	// ErrStore wraps every failure to reach or use the store.
	ErrStore = errors.New("idempotency: store")
)
