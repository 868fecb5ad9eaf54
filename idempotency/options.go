package idempotency

import (
	"context"
	"log/slog"
	"time"

	"github.com/eventfn/eventfn/handler"
)

// Options configure Middleware. The zero value is ready to use.
type Options struct {
	// Scope separates the keys of different consumers of the same messages.
	// Default: the platform's function or service name (see PlatformScope).
	// With neither, New refuses to build the middleware: a shared constant
	// would let one handler's records acknowledge another handler's work.
	Scope string
	// ShareScope allows more than one middleware in this process to use the
	// same Scope on the same Store, which New otherwise refuses. Set it only
	// when the handlers really are one consumer (the same handler wrapped for
	// two adapters, say).
	ShareScope bool
	// Key derives each message's raw key. Default: FromMessageID().
	Key KeyFunc
	// AllowMissingKey runs a message whose key cannot be derived without
	// idempotency (logging a warning) instead of failing it permanently with
	// ErrNoKey.
	AllowMissingKey bool
	// Fingerprint identifies a payload, so a key reused for a different
	// payload is caught. Default: BodyFingerprint. See DisableFingerprint.
	Fingerprint func(m *handler.Message) string
	// DisableFingerprint turns the payload check off.
	DisableFingerprint bool
	// TTL is how long a COMPLETED record is kept. Default: 24h.
	TTL time.Duration
	// DefaultLease is the claim's lease when the context has no deadline.
	// Default: 5m. With a deadline, the lease is the time left before it.
	DefaultLease time.Duration
	// MinLease and MaxLease bound the lease. Defaults: 1s and 15m.
	MinLease, MaxLease time.Duration
	// CacheSize is the number of COMPLETED keys remembered in process to
	// skip duplicates without a store call. Default: 4096; negative
	// disables the cache.
	CacheSize int
	// WaitInProgress is how long a delivery whose key is held by another
	// in-flight delivery waits for it to finish before failing with
	// ErrInProgress. Default: 0, fail at once (the platform redelivers).
	WaitInProgress time.Duration
	// InProgressRetry is the delay a delivery that found its key in progress
	// asks the platform to wait before redelivering it (handler.RetryAfter):
	// InProgressRetry on the first delivery, doubling with each
	// Message.DeliveryAttempt, never past the holder's lease. Each such
	// round uses one of the queue's receives toward its dead-letter limit
	// (SQS maxReceiveCount, Pub/Sub max delivery attempts, Service Bus
	// MaxDeliveryCount): the delays sum to InProgressRetry × (2^(n-1) - 1)
	// over n deliveries, which must exceed the handler's run time.
	// Default: 1s.
	InProgressRetry time.Duration
	// Logger receives warnings and errors. Default: slog.Default().
	Logger *slog.Logger
	// OnEvent, if set, is called for every idempotency decision; use it for
	// metrics. It must be safe for concurrent use and fast.
	OnEvent func(ctx context.Context, e Event, m *handler.Message)
}

// Event is an idempotency decision reported to Options.OnEvent.
type Event int

const (
	// EventClaimed: the key was new (or free again) and the handler ran.
	EventClaimed Event = iota + 1
	// EventDuplicate: the key was COMPLETED; the handler was skipped.
	EventDuplicate
	// EventInProgress: another delivery held the key.
	EventInProgress
	// EventPayloadMismatch: the key was used for another payload.
	EventPayloadMismatch
	// EventCompleteFailed: the handler succeeded but the record could not be
	// marked COMPLETED: the lease was lost, or the store stayed unreachable
	// until the claim's lease ended. The message was acknowledged anyway.
	EventCompleteFailed
	// EventReleaseFailed: a failed run's claim could not be released; its
	// lease frees the key.
	EventReleaseFailed
	// EventNoKey: no key could be derived.
	EventNoKey
	// EventLeaseLost: a heartbeat found the claim taken over or gone while
	// the handler ran; the handler's context was cancelled.
	EventLeaseLost
	// EventCompleteRetried: a completion that failed on a store error landed
	// later, from the background retry.
	EventCompleteRetried
)

var eventNames = [...]string{"", "claimed", "duplicate", "in_progress", "payload_mismatch", "complete_failed", "release_failed", "no_key", "lease_lost", "complete_retried"}

// String returns the event's snake_case name.
func (e Event) String() string {
	if int(e) < len(eventNames) && e > 0 {
		return eventNames[e]
	}
	return "unknown"
}

// Defaults of Options.
const (
	DefaultTTL             = 24 * time.Hour
	DefaultLease           = 5 * time.Minute
	DefaultMinLease        = time.Second
	DefaultMaxLease        = 15 * time.Minute
	DefaultCacheSize       = 4096
	DefaultInProgressRetry = time.Second
)

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Scope == "" {
		r.Scope = PlatformScope()
	}
	if r.Key == nil {
		r.Key = FromMessageID()
	}
	if r.Fingerprint == nil {
		r.Fingerprint = BodyFingerprint
	}
	if r.DisableFingerprint {
		r.Fingerprint = func(*handler.Message) string { return "" }
	}
	if r.TTL <= 0 {
		r.TTL = DefaultTTL
	}
	if r.DefaultLease <= 0 {
		r.DefaultLease = DefaultLease
	}
	if r.MinLease <= 0 {
		r.MinLease = DefaultMinLease
	}
	if r.MaxLease <= 0 {
		r.MaxLease = DefaultMaxLease
	}
	if r.MaxLease < r.MinLease {
		r.MaxLease = r.MinLease
	}
	if r.CacheSize == 0 {
		r.CacheSize = DefaultCacheSize
	}
	if r.InProgressRetry <= 0 {
		r.InProgressRetry = DefaultInProgressRetry
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	return r
}

// lease returns the lease for a claim made under ctx.
func leaseFor(ctx context.Context, def, lo, hi time.Duration) time.Duration {
	d := def
	if b := handler.BatchFrom(ctx); b != nil {
		// Under Process the handler's context ends a margin before the
		// invocation does; the claim must last until the batch is finished.
		if dl, ok := b.Deadline(); ok {
			return min(max(time.Until(dl), lo), hi)
		}
	}
	if dl, ok := ctx.Deadline(); ok {
		d = time.Until(dl)
	}
	return min(max(d, lo), hi)
}
