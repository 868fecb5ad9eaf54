package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/eventfn/eventfn/handler"
)

// DefaultMaxBodyBytes is the default limit on a push request body and on a
// CloudEvent's data: a 10 MB Pub/Sub message, base64-encoded, with room for
// attributes and the envelope.
const DefaultMaxBodyBytes = 16 << 20

// deliverer runs one pushed message (push endpoint or CloudEvent) through
// handler.Process and turns the result into an HTTP status.
type deliverer struct {
	h          handler.Handler
	timeout    time.Duration
	margin     time.Duration
	deadLetter DeadLetterFunc
	log        *slog.Logger
}

// verdict is what the platform is told about one delivery.
type verdict struct {
	status     int           // HTTP status
	err        error         // nil when acknowledged; a *DeliveryError otherwise
	retryAfter time.Duration // >0: the handler asked for handler.RetryAfter
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}

func msgAttrs(m *handler.Message) []any {
	return []any{
		slog.String("message_id", m.ID),
		slog.String("source", m.Source),
		slog.String("queue", m.Queue),
		slog.Int("attempt", m.DeliveryAttempt),
	}
}

// reject builds the verdict for a delivery that could not even be decoded or
// was refused before reaching the handler.
func reject(id string, err error) verdict {
	st := statusFor(err)
	return verdict{status: st, err: &DeliveryError{StatusCode: st, MessageID: id, Outcome: handler.Classify(err), Err: err}}
}

func (d *deliverer) deliver(ctx context.Context, m *handler.Message) verdict {
	if d.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.timeout)
		defer cancel()
	}
	res := handler.Process(ctx, d.h, []*handler.Message{m}, &handler.ProcessOptions{
		Concurrency:    1,
		DeadlineMargin: d.margin,
	})[0]
	switch res.Outcome {
	case handler.Ack:
		return verdict{status: http.StatusNoContent}
	case handler.Reject:
		if d.deadLetter != nil {
			if err := callDeadLetter(ctx, d.deadLetter, m, res.Err); err != nil {
				d.log.ErrorContext(ctx, "pubsub: dead-letter publish failed; message will be redelivered",
					append(msgAttrs(m), slog.Any("error", err), slog.Any("cause", res.Err))...)
				err = fmt.Errorf("%w (rejected by the handler: %v)", err, res.Err)
				return verdict{status: http.StatusInternalServerError,
					err: &DeliveryError{StatusCode: http.StatusInternalServerError, MessageID: m.ID, Outcome: handler.Retry, Err: err}}
			}
			d.log.WarnContext(ctx, "pubsub: message rejected and dead-lettered",
				append(msgAttrs(m), slog.Any("error", res.Err))...)
			return verdict{status: http.StatusNoContent}
		}
		d.log.ErrorContext(ctx, "pubsub: message rejected; reported failed so the subscription's dead-letter policy applies",
			append(msgAttrs(m), slog.Any("error", res.Err))...)
		return verdict{status: http.StatusUnprocessableEntity,
			err: &DeliveryError{StatusCode: http.StatusUnprocessableEntity, MessageID: m.ID, Outcome: handler.Reject, Err: res.Err}}
	default:
		st := http.StatusInternalServerError
		delay, ok := handler.RetryDelay(res.Err)
		if ok {
			st = http.StatusServiceUnavailable
		}
		if errors.Is(res.Err, handler.ErrDeadline) {
			d.log.WarnContext(ctx, "pubsub: handler did not finish before the deadline", msgAttrs(m)...)
		}
		return verdict{status: st, retryAfter: delay,
			err: &DeliveryError{StatusCode: st, MessageID: m.ID, Outcome: handler.Retry, Err: res.Err}}
	}
}
