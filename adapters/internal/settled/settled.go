// Package settled holds what every adapter does once a message is settled:
// the default log line for a message that was not acknowledged, the result
// hook call, and the dead-letter attributes of handler/report.go.
package settled

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/internal/textutil"
)

// Done reports one settled message: unless it was acknowledged it is logged
// with its ID, source, queue, attempt, settlement and reason (so nothing
// fails silently even without logging middleware), then hook, when set, is
// called with r. A panicking hook is logged, never propagated: it cannot
// change a settlement that already happened. prefix is the adapter's
// package name.
func Done(ctx context.Context, log *slog.Logger, hook handler.ResultHook, prefix string, r handler.Report) {
	if r.Settlement != handler.SettledAck {
		level, msg := slog.LevelWarn, prefix+": message not acknowledged; it will be redelivered"
		switch {
		case r.Settlement == handler.SettledDeadLetter:
			level, msg = slog.LevelError, prefix+": message dead-lettered"
		case r.Result.Outcome == handler.Reject:
			level = slog.LevelError
		}
		log.LogAttrs(ctx, level, msg, attrs(r)...)
	}
	if hook != nil {
		call(ctx, log, hook, prefix, r)
	}
}

func call(ctx context.Context, log *slog.Logger, hook handler.ResultHook, prefix string, r handler.Report) {
	defer func() {
		if v := recover(); v != nil {
			log.LogAttrs(ctx, slog.LevelError, prefix+": result hook panicked",
				append(attrs(r), slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))...)
		}
	}()
	hook(ctx, r)
}

func attrs(r handler.Report) []slog.Attr {
	a := make([]slog.Attr, 0, 8)
	if m := r.Result.Message; m != nil {
		a = append(a,
			slog.String("message_id", m.ID),
			slog.String("source", m.Source),
			slog.String("queue", m.Queue),
			slog.Int("attempt", m.DeliveryAttempt))
		if m.OrderingKey != "" {
			a = append(a, slog.String("ordering_key", m.OrderingKey))
		}
	}
	a = append(a,
		slog.String("settlement", r.Settlement.String()),
		slog.String("outcome", r.Result.Outcome.String()),
		slog.Any("error", r.Err))
	return a
}

// DeadLetterAttributes returns the handler.Attr* attributes for a copy of m
// dead-lettered because of cause, whose outcome was outcome. Empty values
// are left out.
func DeadLetterAttributes(m *handler.Message, outcome handler.Outcome, cause error) map[string]string {
	a := make(map[string]string, 5)
	if cause != nil {
		a[handler.AttrError] = textutil.Truncate(cause.Error(), handler.MaxAttrError)
	}
	a[handler.AttrOutcome] = outcome.String()
	if m != nil {
		for k, v := range map[string]string{handler.AttrMessageID: m.ID, handler.AttrSource: m.Source, handler.AttrQueue: m.Queue} {
			if v != "" {
				a[k] = v
			}
		}
	}
	return a
}

// Call runs fn, a user's dead-letter function, and turns a panic into an
// error wrapping a *handler.PanicError, so a bug in it keeps the message
// (reported failed) instead of taking down the process and every message
// in flight with it.
func Call(what string, fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%s: %w", what, &handler.PanicError{Value: v, Stack: debug.Stack()})
		}
	}()
	return fn()
}
