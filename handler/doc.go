// Package handler is the portable core of eventfn: the Message type every
// platform adapter produces, the Handler interface user code implements, the
// error classes that decide what happens to a message, and Process, the batch
// engine that runs a batch with bounded concurrency, per-key ordering,
// deadline awareness and panic isolation.
//
// Package handler imports only the standard library. Platform adapters
// (adapters/sqs, adapters/pubsub, adapters/servicebus, adapters/gocloud)
// translate platform payloads into []*Message, call Process, and map each
// Result's Outcome back onto the platform's acknowledgement mechanism.
//
// # Message Delivery Semantics
//
// Every supported platform delivers at least once. A handler returns nil when
// the message is done (Ack), a plain error when it should be redelivered
// (Retry), or an error wrapped with Permanent when redelivery can never help
// (Reject: the platform's dead-letter path). RetryAfter asks for a redelivery
// no sooner than a given delay where the platform supports it. Use the
// idempotency package to turn at-least-once delivery into an exactly-once
// effect.
package handler
