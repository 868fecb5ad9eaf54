package pubsub

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/eventfn/eventfn/adapters/internal/settled"
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
	process    *handler.ProcessOptions
	deadLetter DeadLetterFunc
	log        *slog.Logger
	onResult   handler.ResultHook
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

// reject builds the verdict for a delivery that could not even be decoded or
// was refused before reaching the handler.
func reject(id string, err error) verdict {
	st := statusFor(err)
	return verdict{status: st, err: &DeliveryError{StatusCode: st, MessageID: id, Outcome: handler.Classify(err), Err: err}}
}

// rejected reports a delivery that failed before the handler: m describes
// what could be read of it.
func (d *deliverer) rejected(ctx context.Context, m *handler.Message, err error) verdict {
	v := reject(m.ID, err)
	settled.Done(ctx, d.log, d.onResult, "pubsub", handler.Report{
		Result:     handler.Result{Message: m, Err: err, Outcome: handler.Classify(err)},
		Settlement: handler.SettledRetry,
		Err:        err,
	})
	return v
}

func (d *deliverer) deliver(ctx context.Context, m *handler.Message) verdict {
	if d.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.timeout)
		defer cancel()
	}
	po := handler.ProcessOptions{Concurrency: 1}
	if d.process != nil {
		po.DeadlineMargin = d.process.DeadlineMargin
	}
	res := handler.Process(ctx, d.h, []*handler.Message{m}, &po)[0]
	v, rep := d.verdict(ctx, m, res)
	settled.Done(ctx, d.log, d.onResult, "pubsub", rep)
	return v
}

func (d *deliverer) verdict(ctx context.Context, m *handler.Message, res handler.Result) (verdict, handler.Report) {
	rep := handler.Report{Result: res, Settlement: handler.SettledRetry, Err: res.Err}
	switch res.Outcome {
	case handler.Ack:
		rep.Settlement, rep.Err = handler.SettledAck, nil
		return verdict{status: http.StatusNoContent}, rep
	case handler.Reject:
		if d.deadLetter == nil {
			return verdict{status: http.StatusUnprocessableEntity,
				err: &DeliveryError{StatusCode: http.StatusUnprocessableEntity, MessageID: m.ID, Outcome: handler.Reject, Err: res.Err}}, rep
		}
		if err := settled.Call("pubsub: dead-letter function", func() error { return d.deadLetter(ctx, m, res.Err) }); err != nil {
			rep.Err = fmt.Errorf("%w (rejected by the handler: %w)", err, res.Err)
			return verdict{status: http.StatusInternalServerError,
				err: &DeliveryError{StatusCode: http.StatusInternalServerError, MessageID: m.ID, Outcome: handler.Retry, Err: rep.Err}}, rep
		}
		rep.Settlement = handler.SettledDeadLetter
		return verdict{status: http.StatusNoContent}, rep
	default:
		st := http.StatusInternalServerError
		delay, ok := handler.RetryDelay(res.Err)
		if ok {
			st = http.StatusServiceUnavailable
		}
		return verdict{status: st, retryAfter: delay,
			err: &DeliveryError{StatusCode: st, MessageID: m.ID, Outcome: handler.Retry, Err: res.Err}}, rep
	}
}
