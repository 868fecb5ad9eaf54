package handler

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// Outcome is what an adapter tells the platform about a message.
type Outcome int

const (
	// Ack: the message is done; delete or acknowledge it.
	Ack Outcome = iota
	// Retry: the message failed transiently; let the platform redeliver it
	// (and dead-letter it after its configured number of attempts).
	Retry
	// Reject: the message can never succeed; dead-letter it.
	Reject
)

// String returns "ack", "retry" or "reject".
func (o Outcome) String() string {
	switch o {
	case Ack:
		return "ack"
	case Retry:
		return "retry"
	case Reject:
		return "reject"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Classify maps a handler's error to an Outcome: nil is Ack, an error marked
// with Permanent anywhere in its chain is Reject, anything else is Retry.
func Classify(err error) Outcome {
	switch {
	case err == nil:
		return Ack
	case IsPermanent(err):
		return Reject
	default:
		return Retry
	}
}

// ErrPermanent matches, with errors.Is, every error made by Permanent.
var ErrPermanent = errors.New("handler: permanent failure")

// Sentinels reported by Process for messages it did not (fully) run. All are
// retryable: the platform redelivers the message.
var (
	// ErrDeadline: the invocation's deadline was too close to start the
	// message, or the handler was still running when Process had to return.
	ErrDeadline = errors.New("handler: deadline too close, message not processed")
	// ErrOrderingKeyFailed: an earlier message with the same OrderingKey
	// failed in this batch, so this one was not run, to keep the order.
	ErrOrderingKeyFailed = errors.New("handler: earlier message with the same ordering key failed")
	// ErrNilMessage: the batch held a nil *Message.
	ErrNilMessage = errors.New("handler: nil message")
)

type permanentError struct{ err error }

// Error returns "permanent: " and the cause.
func (e *permanentError) Error() string {
	if e.err == nil {
		return ErrPermanent.Error()
	}
	return "permanent: " + e.err.Error()
}

// Unwrap returns the cause.
func (e *permanentError) Unwrap() error { return e.err }

// Is makes every permanent error match ErrPermanent.
func (e *permanentError) Is(target error) bool { return target == ErrPermanent }

// Permanent marks err as a failure that redelivery cannot fix (a payload that
// does not decode, a business rule that rejects it). The mark survives
// further wrapping with %w. Permanent(nil) returns nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err or any error it wraps was made by Permanent.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// RetryAfterError asks for a redelivery no sooner than Delay. Adapters apply
// it where the platform allows (SQS ChangeMessageVisibility, Pub/Sub ack
// deadline) and otherwise treat it as a plain retry.
type RetryAfterError struct {
	Delay time.Duration
	Err   error
}

// Error says the delay and the cause.
func (e *RetryAfterError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("retry after %s", e.Delay)
	}
	return fmt.Sprintf("retry after %s: %v", e.Delay, e.Err)
}

// Unwrap returns the underlying error.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter returns a retryable error that asks for redelivery no sooner
// than d. A nil err still yields a non-nil error: asking for a delay is a
// failure of this attempt.
func RetryAfter(d time.Duration, err error) error {
	if d < 0 {
		d = 0
	}
	return &RetryAfterError{Delay: d, Err: err}
}

// RetryDelay returns the delay requested with RetryAfter anywhere in err's
// chain.
func RetryDelay(err error) (time.Duration, bool) {
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return ra.Delay, true
	}
	return 0, false
}

// PanicError is the error Process reports for a message whose handler
// panicked. The panic is retryable by default: a bug fixed and redeployed
// lets the message through.
type PanicError struct {
	Value any
	Stack []byte
}

// Error says what the handler panicked with.
func (e *PanicError) Error() string { return fmt.Sprintf("handler: panic: %v", e.Value) }

// Unwrap returns the panic value when it is an error (including
// *runtime.PanicNilError for panic(nil)).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Safe calls h.Handle and turns a panic into a *PanicError, so one bad
// message cannot take down a batch.
func Safe(ctx context.Context, h Handler, m *Message) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return h.Handle(ctx, m)
}
