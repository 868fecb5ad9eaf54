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
// are skipped. The returned handler also prepares batches (see
// BatchPreparer) for every layer that implements it, so middleware need not
// forward PrepareBatch themselves.
func Chain(h Handler, mws ...Middleware) Handler {
	var preps []BatchPreparer
	if p, ok := h.(BatchPreparer); ok {
		preps = append(preps, p)
	}
	for i := len(mws) - 1; i >= 0; i-- {
		if mws[i] == nil {
			continue
		}
		h = mws[i](h)
		if p, ok := h.(BatchPreparer); ok {
			preps = append(preps, p)
		}
	}
	if len(preps) == 0 {
		return h
	}
	if _, ok := h.(BatchPreparer); ok && len(preps) == 1 {
		return h // the outermost layer is the only one that prepares
	}
	return &chain{Handler: h, preps: preps}
}

// BatchPreparer is implemented by handlers, typically middleware, that work
// on a whole batch before its messages run: the idempotency middleware
// claims every key of a batch in one store round trip. Process calls
// PrepareBatch once per batch of more than one message, on a worker
// goroutine, with the batch's context (see BatchFrom), before any message of
// the batch starts. Preparing only saves work: a handler must behave the
// same when it is not prepared.
type BatchPreparer interface {
	PrepareBatch(ctx context.Context)
}

// chain is a handler chain with the layers that prepare batches.
type chain struct {
	Handler
	preps []BatchPreparer
}

// PrepareBatch prepares every layer that implements BatchPreparer,
// innermost first.
func (c *chain) PrepareBatch(ctx context.Context) {
	for _, p := range c.preps {
		p.PrepareBatch(ctx)
	}
}
