package servicebus

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels matched with errors.Is on the *RequestError the custom handler
// reports for a request it cannot turn into messages. The handler answers
// such a request with 400 Bad Request, so the invocation fails and the
// Functions host abandons the message: it is redelivered and, after the
// queue's MaxDeliveryCount, dead-lettered. Nothing is acknowledged unread.
var (
	// ErrMalformedRequest: the body is not the host's JSON invocation
	// request.
	ErrMalformedRequest = errors.New("servicebus: malformed invocation request")
	// ErrMissingData: the request has no "Data" object.
	ErrMissingData = errors.New("servicebus: request has no Data")
	// ErrMissingMetadata: the request has no "Metadata" object.
	ErrMissingMetadata = errors.New("servicebus: request has no Metadata")
	// ErrUnknownBinding: Data does not hold the configured trigger binding.
	ErrUnknownBinding = errors.New("servicebus: trigger binding not found in Data")
	// ErrBadMetadata: a metadata value has the wrong type (a DeliveryCount
	// that is not a number) or a batch's metadata arrays do not match its
	// messages.
	ErrBadMetadata = errors.New("servicebus: bad metadata")
	// ErrBadData: the trigger value cannot be decoded (not a string, bad
	// base64, not an array for a batch trigger).
	ErrBadData = errors.New("servicebus: bad trigger data")
	// ErrCardinality: the request is a batch but FunctionOptions.Many is
	// false, or the other way round; function.json and the options
	// disagree.
	ErrCardinality = errors.New("servicebus: trigger cardinality does not match FunctionOptions.Many")
)

// RequestError reports why a custom-handler request could not be decoded.
// Err wraps one of the sentinels above.
type RequestError struct {
	// Function is the function name, taken from the request path.
	Function string
	// Field names the Data or Metadata member at fault, when there is one.
	Field string
	Err   error
}

func (e *RequestError) Error() string {
	msg := "<nil>"
	if e.Err != nil {
		msg = strings.TrimPrefix(e.Err.Error(), "servicebus: ")
	}
	if e.Field != "" {
		return fmt.Sprintf("servicebus: function %q: %s: %s", e.Function, e.Field, msg)
	}
	return fmt.Sprintf("servicebus: function %q: %s", e.Function, msg)
}

// Unwrap returns the underlying error.
func (e *RequestError) Unwrap() error { return e.Err }

// ErrLockLost is matched, with errors.Is, by the SettleError of a settlement
// that failed because the message's (or session's) lock had expired: the
// message was not settled and Service Bus redelivers it.
var ErrLockLost = errors.New("servicebus: message lock lost")

// SettleError reports a settlement (complete, abandon or dead-letter) that
// failed. The message is not done: Service Bus makes it available again when
// its lock expires, and the idempotency middleware recognises the
// redelivery of a message whose effect already happened.
type SettleError struct {
	// Action is what was attempted.
	Action Action
	// MessageID is the message's Service Bus MessageId.
	MessageID string
	Err       error
}

func (e *SettleError) Error() string {
	return fmt.Sprintf("servicebus: %s message %q: %v", e.Action, e.MessageID, e.Err)
}

// Unwrap returns the SDK's error.
func (e *SettleError) Unwrap() error { return e.Err }

// Is reports ErrLockLost for a lock-lost failure.
func (e *SettleError) Is(target error) bool {
	return target == ErrLockLost && isLockLost(e.Err)
}
