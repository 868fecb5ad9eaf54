// Package dlqtest holds what the dlq drivers' tests share: a consumer that
// counts effects behind the idempotency middleware.
package dlqtest

import (
	"context"
	"sync"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/memstore"
)

// Key is the default idempotency key, which recognises a redriven message:
// the original message ID in handler.AttrMessageID, else Message.ID.
var Key = idempotency.FromMessageID()

// Consumer counts, per idempotency key, how often its handler ran (Runs)
// and how often an effect got through the idempotency middleware
// (Effects). It is safe for concurrent use.
type Consumer struct {
	h       handler.Handler
	mu      sync.Mutex
	effects map[string]int
	handled int
}

// NewConsumer returns a Consumer on a fresh memstore.
func NewConsumer() *Consumer {
	c := &Consumer{effects: map[string]int{}}
	inner := handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		k, _ := Key(m)
		c.mu.Lock()
		c.effects[k]++
		c.mu.Unlock()
		return nil
	})
	c.h = idempotency.Middleware(memstore.New(nil), &idempotency.Options{Scope: "dlq-consumer"})(inner)
	return c
}

// Handle runs m through the middleware.
func (c *Consumer) Handle(ctx context.Context, m *handler.Message) error {
	c.mu.Lock()
	c.handled++
	c.mu.Unlock()
	return c.h.Handle(ctx, m)
}

// Effects returns the effects per key and the number of messages handled.
func (c *Consumer) Effects() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.effects))
	for k, v := range c.effects {
		out[k] = v
	}
	return out, c.handled
}
