package handler

import (
	"context"
	"sync"
	"time"
)

// Batch is the set of messages one Process call runs. Middleware reaches it
// with BatchFrom to act on the whole batch at once: the idempotency
// middleware claims every key of a batch in one store round trip and
// completes them together when the batch finishes. A Batch is safe for
// concurrent use.
type Batch struct {
	msgs     []*Message
	deadline time.Time

	mu sync.Mutex
	// values are few (one per batch-aware middleware): a slice searched
	// costs less than a map, in time and in garbage.
	values   []batchValue
	finishes []func(ctx context.Context)
}

type batchValue struct{ key, v any }

type batchKey struct{}

// BatchFrom returns the Batch that ctx is processing, or nil when the handler
// was called outside Process.
func BatchFrom(ctx context.Context) *Batch {
	b, _ := ctx.Value(batchKey{}).(*Batch)
	return b
}

// Messages returns the batch's messages in delivery order. The slice must not
// be modified.
func (b *Batch) Messages() []*Message { return b.msgs }

// Deadline returns the deadline of the context Process was called with:
// the end of the invocation, later than the deadline handlers see by the
// ProcessOptions.DeadlineMargin. ok is false when there is none. Leases
// that must outlive the batch's bookkeeping use it.
func (b *Batch) Deadline() (deadline time.Time, ok bool) {
	return b.deadline, !b.deadline.IsZero()
}

// Value returns the batch-scoped value stored under key, calling init to
// create it on first use. Keys follow the context.WithValue conventions.
func (b *Batch) Value(key any, init func() any) any {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, kv := range b.values {
		if kv.key == key {
			return kv.v
		}
	}
	v := init()
	b.values = append(b.values, batchValue{key, v})
	return v
}

// OnFinish registers fn to run once every message of the batch has finished
// or been abandoned at the deadline, before Process returns. Finishers run
// one after another in registration order with the caller's context; when
// that context has a deadline, theirs ends 3/8 of
// ProcessOptions.DeadlineMargin before it (later than the handlers'
// context, inside the margin), and Process returns by then: a finisher
// still running is left behind, with the finishers registered after it,
// and what it had not done is not done when Process returns. Without a
// deadline Process waits for every finisher. Finishers cannot change the
// batch's results; a finisher's panic is recovered.
func (b *Batch) OnFinish(fn func(ctx context.Context)) {
	b.mu.Lock()
	b.finishes = append(b.finishes, fn)
	b.mu.Unlock()
}

func (b *Batch) finish(ctx context.Context) {
	b.mu.Lock()
	fns := b.finishes
	b.finishes = nil
	b.mu.Unlock()
	for _, fn := range fns {
		func() {
			defer func() { _ = recover() }() // a finisher bug must not lose the batch's results
			fn(ctx)
		}()
	}
}
