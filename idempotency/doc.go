// Package idempotency turns at-least-once delivery into an exactly-once
// effect. Middleware wraps a handler.Handler so that, for each message key:
//
//   - a duplicate delivery of a completed message is acknowledged without
//     running the handler again;
//   - two concurrent deliveries never both run: the second gets ErrInProgress
//     (retryable, the platform redelivers it later) or, with
//     Options.WaitInProgress, waits a bounded time for the first;
//   - a failed or crashed run never loses the message: a failure releases the
//     claim so the redelivery runs, and a crash leaves a claim whose lease
//     expires by itself;
//   - a key reused for a different payload is rejected (ErrPayloadMismatch,
//     permanent).
//
// # Records
//
// A Store keeps one record per key: IN_PROGRESS under a lease, then
// COMPLETED for a TTL (default 24h). Claim is one atomic operation;
// Complete, Release and Extend are fenced by the claim's token, so a late
// first run can never overwrite a second run's claim. Under
// handler.Process, a BatchStore claims every key of a batch in about one
// round trip; a run that succeeds is completed within a couple of
// milliseconds, with whatever else of the batch is ready, not after the
// batch's slowest handler, and a batch of quick handlers completes in one
// more round trip.
//
// # Scope
//
// Keys are hashed in a scope that separates the consumers of the same
// messages. It defaults to the platform's function or service name
// (PlatformScope); with none, and for a second Guard on the same store and
// scope in one process, New refuses with ErrScope rather than let two
// handlers share records.
//
// # Leases
//
// A claim's lease defaults to the time left before the context's deadline
// (the Lambda timeout; under Process, the invocation's end), else
// Options.DefaultLease, within MinLease and MaxLease. A handler that runs
// past a third of its lease has the claim extended (Store.Extend) every
// third of the lease while it runs; if the extension finds the lease lost,
// or the store stays unreachable until it ends, the handler's context is
// cancelled with a cause matching ErrLeaseLost. A delivery that finds its
// key in progress is retried after Options.InProgressRetry, doubling with
// each delivery attempt and never past the holder's lease.
//
// # Keys
//
// Store keys are portable: the first 16 bytes of the SHA-256 of
//
//	"eventfn-idem-v2" 0x00 scope 0x00 raw-key
//
// in unpadded base64url (22 characters), where raw-key comes from the
// KeyFunc (the message ID by default). Any consumer, in any language, that
// hashes the same bytes shares the records.
//
// # What remains
//
// If the handler succeeds but its record cannot be marked COMPLETED because
// the store fails, the message is acknowledged anyway (its effect has
// happened), the key is cached as completed in this process, and the
// completion is retried in the background until the claim's lease ends;
// Guard.Flush waits for those retries at shutdown. Two windows remain:
//
//   - a crash of the process between the effect and its completion, at
//     most one store round trip (plus the couple of milliseconds a batch
//     gathers completions) wide: the redelivery after the lease runs the
//     effect again. Only a store in the handler's own database that
//     completes in the effect's transaction closes it;
//   - a store that loses acknowledged writes (Redis without AOF, a
//     failover to a replica that lagged): the records it loses are runs a
//     duplicate may repeat.
//
// A completion given up (the lease ended first, or another delivery took
// the key) is logged at error level and reported as EventCompleteFailed.
package idempotency
