package pubsub

import (
	"errors"
	"fmt"
	"net/http"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/eventfn/eventfn/handler"
)

// Sentinel errors. Each is matched with errors.Is through the typed errors
// that wrap it.
var (
	// ErrMalformed matches every *MalformedError: a delivery that cannot be
	// turned into a handler.Message.
	ErrMalformed = errors.New("pubsub: malformed delivery")
	// ErrWrongEventType: a CloudEvent whose type is not EventTypeMessagePublished.
	ErrWrongEventType = errors.New("pubsub: CloudEvent is not a Pub/Sub messagePublished event")
	// ErrTooLarge: a request body or CloudEvent data over the configured limit.
	ErrTooLarge = errors.New("pubsub: delivery too large")
	// ErrUnauthenticated: a push request without a valid OIDC token (HTTP 401).
	ErrUnauthenticated = errors.New("pubsub: push request not authenticated")
	// ErrForbidden: a push request whose valid token names a caller that is
	// not allowed (HTTP 403).
	ErrForbidden = errors.New("pubsub: push request forbidden")
)

// MalformedError reports why a push request or CloudEvent could not be
// decoded into a Message: which field was wrong and how. It matches
// ErrMalformed and is always returned wrapped with handler.Permanent: the
// same bytes will never decode.
type MalformedError struct {
	// Field is the JSON path of the offending field ("message.data"), or ""
	// when the document as a whole is wrong.
	Field string
	Err   error
}

func (e *MalformedError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%v: %v", ErrMalformed, e.Err)
	}
	return fmt.Sprintf("%v: field %q: %v", ErrMalformed, e.Field, e.Err)
}

// Unwrap returns the underlying error.
func (e *MalformedError) Unwrap() error { return e.Err }

// Is reports whether target is ErrMalformed.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

func malformed(field string, err error) error {
	return handler.Permanent(&MalformedError{Field: field, Err: err})
}

// DeliveryError is the error the CloudEvent function returns, and the push
// handler describes in its response, for a delivery that is not
// acknowledged. StatusCode is the HTTP status the platform sees: any status
// outside 2xx makes Pub/Sub (or Eventarc) redeliver the message or, after the
// subscription's maximum delivery attempts, dead-letter it.
//
//	400 malformed delivery or wrong CloudEvent type (ErrMalformed, ErrWrongEventType)
//	401 / 403 push token rejected (ErrUnauthenticated, ErrForbidden)
//	413 body over the size limit (ErrTooLarge)
//	422 the handler failed permanently and no dead-letter publisher is set
//	500 the handler failed transiently, or the dead-letter publish failed
//	503 the handler asked for handler.RetryAfter (push adds a Retry-After header)
//
// With the Functions Framework the CloudEvents SDK writes StatusCode as the
// response status (DeliveryError converts itself with errors.As into the
// SDK's *http.Result).
type DeliveryError struct {
	// StatusCode is the HTTP status of the response.
	StatusCode int
	// MessageID is the Pub/Sub message ID, when it could be read.
	MessageID string
	// Outcome is handler.Retry or handler.Reject.
	Outcome handler.Outcome
	// Err is the cause.
	Err error
}

func (e *DeliveryError) Error() string {
	if e.MessageID == "" {
		return fmt.Sprintf("pubsub: delivery failed (%s, HTTP %d): %v", e.Outcome, e.StatusCode, e.Err)
	}
	return fmt.Sprintf("pubsub: message %s failed (%s, HTTP %d): %v", e.MessageID, e.Outcome, e.StatusCode, e.Err)
}

// Unwrap returns the cause.
func (e *DeliveryError) Unwrap() error { return e.Err }

// As lets the CloudEvents SDK used by the Functions Framework find the HTTP
// status: it fills a **cehttp.Result target.
func (e *DeliveryError) As(target any) bool {
	if r, ok := target.(**cehttp.Result); ok {
		*r = &cehttp.Result{StatusCode: e.StatusCode, Format: "%s", Args: []any{e.Error()}}
		return true
	}
	return false
}

// statusFor maps an error from decoding or authentication to an HTTP status.
func statusFor(err error) int {
	switch {
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrWrongEventType):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}
