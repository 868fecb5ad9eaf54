package handler

import (
	"context"
	"fmt"
)

// Settlement is what an adapter finally did with a message on its platform.
type Settlement int

const (
	// SettledAck: the message was acknowledged (deleted, completed, 2xx).
	SettledAck Settlement = iota + 1
	// SettledRetry: the message was handed back for redelivery (reported in
	// batchItemFailures, nacked, abandoned, non-2xx). After the platform's
	// delivery limit its native dead-letter queue receives it.
	SettledRetry
	// SettledDeadLetter: eventfn sent the message to a dead-letter
	// destination itself (a configured DLQ or topic, Service Bus
	// DeadLetter) and acknowledged the original.
	SettledDeadLetter
)

// String returns "ack", "retry" or "dead_letter".
func (s Settlement) String() string {
	switch s {
	case SettledAck:
		return "ack"
	case SettledRetry:
		return "retry"
	case SettledDeadLetter:
		return "dead_letter"
	}
	return fmt.Sprintf("Settlement(%d)", int(s))
}

// Report describes how one message ended: the handler's result and what the
// adapter told the platform.
type Report struct {
	// Result is the handler's result as Process returned it.
	Result Result
	// Settlement is what the adapter did with the message.
	Settlement Settlement
	// Err is why the message was not simply acknowledged: Result.Err, or the
	// adapter's own error (a dead-letter send that failed, an undecodable
	// record); nil for SettledAck.
	Err error
}

// ResultHook is called by every adapter once for each message it settles,
// after the platform was told. Metrics, logs and the CLI consume it. It must
// be safe for concurrent use and fast; it cannot change the settlement.
type ResultHook func(ctx context.Context, r Report)

// Dead-letter attributes. Every adapter writes them on a copy it sends to a
// dead-letter destination, next to the original attributes (as message
// attributes on SQS, attributes on Pub/Sub, application properties on
// Service Bus, metadata on gocloud); eventfn dlq reads them, and a redrive
// keeps AttrMessageID so idempotency recognises the redriven copy.
const (
	// AttrError is the error text, truncated UTF-8-safely to MaxAttrError
	// bytes.
	AttrError = "eventfn-error"
	// AttrOutcome is the Outcome's String ("retry" or "reject").
	AttrOutcome = "eventfn-outcome"
	// AttrMessageID is the original message ID (kept across redrives).
	AttrMessageID = "eventfn-message-id"
	// AttrSource is the original Message.Source, e.g. "aws:sqs".
	AttrSource = "eventfn-source"
	// AttrQueue is the original Message.Queue (queue ARN, subscription).
	AttrQueue = "eventfn-queue"
)

// MaxAttrError is the most bytes of error text AttrError holds (Pub/Sub's
// limit on an attribute value).
const MaxAttrError = 1024
