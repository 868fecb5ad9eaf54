package handler

import "context"

// Handler processes one message. Handle returns nil when the message is done,
// an error to have it redelivered, or an error wrapped with Permanent when it
// can never succeed. Implementations must be safe for concurrent use: Process
// calls Handle from several goroutines at once.
type Handler interface {
	Handle(ctx context.Context, m *Message) error
}

// HandlerFunc adapts an ordinary function to the Handler interface.
type HandlerFunc func(ctx context.Context, m *Message) error

// Handle calls f(ctx, m).
func (f HandlerFunc) Handle(ctx context.Context, m *Message) error { return f(ctx, m) }

// Middleware wraps a Handler with cross-cutting behaviour (idempotency,
// retries, logging). A middleware with nothing to do returns its argument.
type Middleware func(Handler) Handler

// Chain wraps h with the middleware in order: the first middleware is the
// outermost, so Chain(h, a, b) handles a message as a(b(h)). Nil middleware
// are skipped.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		if mws[i] != nil {
			h = mws[i](h)
		}
	}
	return h
}
