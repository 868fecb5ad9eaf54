package pull_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	gpubsub "cloud.google.com/go/pubsub/v2"

	"github.com/eventfn/eventfn/adapters/pubsub/pull"
	"github.com/eventfn/eventfn/handler"
)

// BenchmarkReceive measures end-to-end pull throughput against pstest:
// publish b.N messages, Receive until every one is acked.
func BenchmarkReceive(b *testing.B) {
	c := newClient(b)
	topic := newTopic(b, c)
	sub := newSub(b, c, topic, nil)
	p := c.Publisher(topic)
	defer p.Stop()
	var acked atomic.Int64
	h := handler.HandlerFunc(func(context.Context, *handler.Message) error { acked.Add(1); return nil })
	publish(b, p, benchMessages(b.N)...)
	b.ResetTimer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- pull.Receive(ctx, c, sub, h, &pull.ReceiveOptions{Process: &handler.ProcessOptions{Concurrency: 50}, Logger: quiet})
	}()
	for acked.Load() < int64(b.N) {
		select {
		case err := <-done:
			b.Fatalf("Receive returned early: %v", err)
		default:
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkReceiveRawClient is BenchmarkReceive with the client's own
// Receive and no adapter: pstest's delivery rate, the baseline.
func BenchmarkReceiveRawClient(b *testing.B) {
	c := newClient(b)
	topic := newTopic(b, c)
	sub := newSub(b, c, topic, nil)
	p := c.Publisher(topic)
	defer p.Stop()
	publish(b, p, benchMessages(b.N)...)
	b.ResetTimer()
	var acked atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	s := c.Subscriber(sub)
	s.ReceiveSettings.MaxOutstandingMessages = 50
	done := make(chan error, 1)
	go func() {
		done <- s.Receive(ctx, func(_ context.Context, m *gpubsub.Message) { acked.Add(1); m.Ack() })
	}()
	for acked.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	<-done
}

// benchMessages returns n small order messages to publish.
func benchMessages(n int) []*gpubsub.Message {
	msgs := make([]*gpubsub.Message, n)
	for i := range msgs {
		msgs[i] = &gpubsub.Message{Data: []byte(`{"id":"o"}`)}
	}
	return msgs
}
