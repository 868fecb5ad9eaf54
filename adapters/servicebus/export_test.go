package servicebus

import (
	"time"

	"github.com/eventfn/eventfn/handler"
)

// Clock is the consumer's time source, for tests.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// NewConsumerWithClock is NewConsumer with a test clock driving lock
// renewal and the shutdown grace.
func NewConsumerWithClock(r Receiver, h handler.Handler, opts *ConsumerOptions, clk Clock) *Consumer {
	c := NewConsumer(r, h, opts)
	c.clock = clk
	return c
}
