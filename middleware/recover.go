package middleware

import (
	"context"
	"log/slog"

	"github.com/eventfn/eventfn/handler"
)

// RecoverOptions configure Recover. The zero value is ready to use.
type RecoverOptions struct {
	// Logger receives one error line per panic, with the message's ID and
	// the stack. Default: slog.Default(). See Quiet.
	Logger *slog.Logger
	// Quiet logs nothing: the panic is only returned as an error.
	Quiet bool
	// Permanent rejects a message whose handler panicked instead of having
	// it redelivered (the default: a fixed bug lets the message through).
	Permanent bool
}

// Recover returns a middleware that turns a panic in the handlers it wraps
// into a *handler.PanicError carrying the stack (handler.Safe), logs it, and
// returns it as the message's error, retryable unless Options.Permanent.
// handler.Process already recovers every message, so under Process
// Recover adds the log line and the choice of outcome; outside it (a
// handler called directly, idempotency.Do callers) it keeps a panic from
// crashing the process. Put it outermost so it also covers the other
// middleware. It is safe for concurrent use.
func Recover(opts *RecoverOptions) handler.Middleware {
	var o RecoverOptions
	if opts != nil {
		o = *opts
	}
	return func(h handler.Handler) handler.Handler {
		return handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
			err := handler.Safe(ctx, h, m)
			pe, ok := err.(*handler.PanicError)
			if !ok {
				return err
			}
			if !o.Quiet {
				l := o.Logger
				if l == nil {
					l = slog.Default()
				}
				l.LogAttrs(ctx, slog.LevelError, "middleware: handler panicked",
					slog.String("message_id", messageID(m)), slog.Any("panic", pe.Value), slog.String("stack", string(pe.Stack)))
			}
			if o.Permanent {
				return handler.Permanent(pe)
			}
			return pe
		})
	}
}

func messageID(m *handler.Message) string {
	if m == nil {
		return ""
	}
	return m.ID
}
