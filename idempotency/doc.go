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
// COMPLETED for a TTL (default 24h). Claim is one atomic operation; Complete
// and Release are fenced by the claim's token, so a late first run can never
// overwrite a second run's claim. Under handler.Process, a BatchStore claims
// every key of a batch in about one round trip and completes them in one
// more when the batch finishes.
//
// # Keys
//
// Store keys are portable: the first 16 bytes of the SHA-256 of
//
//	"eventfn-idem-v2" 0x00 scope 0x00 raw-key
//
// in unpadded base64url (22 characters), where raw-key comes from the
// KeyFunc (the message ID by default). Any consumer, in any language, that
// hashes the same bytes shares the records. (v1 keys were the full SHA-256
// in hex; the shorter form cuts the store's work per record, see HashKey.)
//
// # The one gap
//
// If the handler succeeds but the record cannot be marked COMPLETED (the
// store is down, or the lease expired and another delivery took the key),
// the effect has happened: the message is acknowledged anyway, and the
// failure is logged at error level and reported as EventCompleteFailed.
// Choose a lease longer than the handler's run time (the default is the
// time left before the context deadline) to keep this window closed.
package idempotency
