package sqs

import (
	"errors"
	"fmt"
)

// Errors reported by this package. Match them with errors.Is; the ones a
// record fails with are wrapped in a *RecordError.
var (
	// ErrUnknownEvent: the invocation payload is neither an SQS nor an SNS
	// event. The invocation fails, so Lambda retries the whole event (or sends
	// it to the function's on-failure destination).
	ErrUnknownEvent = errors.New("sqs: unknown event shape")
	// ErrMalformedEvent: the event could not be split into records that
	// carry a message ID, so no record can be reported on its own; the
	// invocation fails and Lambda redelivers the whole batch.
	ErrMalformedEvent = errors.New("sqs: malformed event")
	// ErrMalformedRecord: one record of the event has fields of the wrong
	// type or lacks required ones. The record fails alone; it is retryable,
	// so the queue's redrive policy dead-letters it.
	ErrMalformedRecord = errors.New("sqs: malformed record")
	// ErrBadEnvelope: the body has the shape of an SNS notification but its
	// fields do not decode. It is permanent.
	ErrBadEnvelope = errors.New("sqs: bad SNS envelope")
	// ErrBodyTooLarge: the body is larger than Options.MaxBodyBytes. It is
	// permanent.
	ErrBodyTooLarge = errors.New("sqs: body too large")
	// ErrSNSFailed: a direct SNS invocation had failed records; the
	// invocation returns it (wrapping each record's error) so Lambda's
	// asynchronous retries and on-failure destination apply.
	ErrSNSFailed = errors.New("sqs: SNS records failed")
)

// RecordError is the error of a record that could not be turned into a
// handler.Message, or (for direct SNS invocations) that failed. It says which
// record it is.
type RecordError struct {
	// MessageID is the record's SQS messageId (or SNS MessageId); empty when
	// the record did not say.
	MessageID string
	// Index is the record's position in the event.
	Index int
	// Err is the cause: it matches ErrMalformedRecord, ErrBadEnvelope,
	// ErrBodyTooLarge or, for SNS, the handler's error.
	Err error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("sqs: record %d (message %q): %v", e.Index, e.MessageID, e.Err)
}

// Unwrap returns the cause.
func (e *RecordError) Unwrap() error { return e.Err }
