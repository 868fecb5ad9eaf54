package middleware

import (
	"context"
	"errors"
	"time"

	"github.com/eventfn/eventfn/handler"
)

// ErrTimeout is the cause of the context Timeout gives a handler once its
// time is up (see context.Cause).
var ErrTimeout = errors.New("middleware: message timeout")

// Timeout returns a middleware that gives each message a context ending
// after d, or earlier when the caller's context does (under
// handler.Process, the invocation's deadline minus its margin). It is
// cooperative: the handler must watch its context. A handler that ignores
// it is abandoned by Process at the invocation's deadline instead. Use
// Timeout to keep one slow message from using the whole invocation; Process
// alone already keeps every message inside the invocation. With d <= 0 it
// returns the handler unchanged. It is safe for concurrent use.
func Timeout(d time.Duration) handler.Middleware {
	return func(h handler.Handler) handler.Handler {
		if d <= 0 {
			return h
		}
		return handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
			ctx, cancel := context.WithTimeoutCause(ctx, d, ErrTimeout)
			defer cancel()
			return h.Handle(ctx, m)
		})
	}
}
