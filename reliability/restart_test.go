package reliability_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/redisstore"
)

// effects counts each message's effect, in memory: the consumers share it.
type effects struct {
	mu sync.Mutex
	n  map[string]int
}

func (e *effects) handler() handler.Handler {
	return handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.n == nil {
			e.n = map[string]int{}
		}
		e.n[m.ID]++
		return nil
	})
}

func (e *effects) doubled() (doubled, done int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, n := range e.n {
		if n > 1 {
			doubled++
		}
		done++
	}
	return doubled, done
}

// queue is an at-least-once queue in memory: a message that fails comes
// back later.
type queue struct {
	mu   sync.Mutex
	msgs []*handler.Message
}

func (q *queue) push(ms ...*handler.Message) {
	q.mu.Lock()
	q.msgs = append(q.msgs, ms...)
	q.mu.Unlock()
}

func (q *queue) pop(n int) []*handler.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.msgs))
	out := q.msgs[:n:n]
	q.msgs = q.msgs[n:]
	return out
}

// drain runs h over the queue in batches until it is empty, putting back
// what failed, until ctx ends.
func (q *queue) drain(ctx context.Context, h handler.Handler) {
	for ctx.Err() == nil {
		batch := q.pop(10)
		if len(batch) == 0 {
			return
		}
		for _, r := range handler.Process(ctx, h, batch, nil) {
			if r.Outcome != handler.Ack {
				m := *r.Message
				m.DeliveryAttempt++
				q.push(&m)
			}
		}
		if len(q.msgs) > 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// killingStore kills the server when the at-th batch completion starts.
type killingStore struct {
	*redisstore.Store
	at   int32
	n    atomic.Int32
	kill func()
}

func (s *killingStore) CompleteBatch(ctx context.Context, items []idempotency.Completion) []error {
	if s.n.Add(1) == s.at {
		s.kill()
	}
	return s.Store.CompleteBatch(ctx, items)
}

// A Redis that is down for 5 s (with AOF, so it keeps what it acknowledged)
// must not turn completions that failed during the outage into second
// effects: they are retried until the store is back, within their lease,
// and a duplicate delivered to another instance afterwards is skipped.
func TestCompletionsSurviveARedisRestart(t *testing.T) {
	srv := startRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	const lease = 10 * time.Second
	var retried, failed atomic.Int32
	onEvent := func(_ context.Context, e idempotency.Event, _ *handler.Message) {
		switch e {
		case idempotency.EventCompleteRetried:
			retried.Add(1)
		case idempotency.EventCompleteFailed:
			failed.Add(1)
		}
	}
	outage := make(chan struct{})
	instance := func(killAt int32) *idempotency.Guard {
		rs, err := redisstore.Open(srv.url()+"?dial_timeout=200ms&read_timeout=500ms&write_timeout=500ms", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rs.Close() })
		var store idempotency.Store = rs
		if killAt > 0 {
			store = &killingStore{Store: rs, at: killAt, kill: func() {
				srv.kill()
				go func() {
					defer close(outage)
					time.Sleep(5 * time.Second)
					srv.restart()
				}()
			}}
		}
		g, err := idempotency.New(store, &idempotency.Options{Scope: "restart", MinLease: lease, MaxLease: lease, ShareScope: true, OnEvent: onEvent})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	var eff effects
	// The server dies as instance A sends its fifth batch completion, after
	// those effects happened; batches in flight then fail their claims
	// (redelivered later) or their completions (retried in the background).
	a := instance(5)
	ha := a.Wrap(handler.Chain(eff.handler(), func(next handler.Handler) handler.Handler {
		return handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
			time.Sleep(3 * time.Millisecond)
			return next.Handle(ctx, m)
		})
	}))

	var q queue
	const n = 400
	for i := range n {
		q.push(&handler.Message{ID: fmt.Sprintf("m-%d", i), Body: []byte("x"), DeliveryAttempt: 1})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	q.drain(ctx, ha) // returns once everything is acknowledged, after the restart
	<-outage
	q.drain(ctx, ha)
	flushCtx, stop := context.WithTimeout(ctx, lease)
	defer stop()
	if err := a.Flush(flushCtx); err != nil {
		t.Fatalf("A's completions after the restart: %v", err)
	}

	// Every message is delivered once more, to instance B, after A's leases
	// would have run out: only completed records keep B from running them.
	time.Sleep(lease)
	b := instance(0)
	hb := b.Wrap(eff.handler())
	eff.mu.Lock()
	for id := range eff.n {
		q.push(&handler.Message{ID: id, Body: []byte("x"), DeliveryAttempt: 2})
	}
	eff.mu.Unlock()
	q.drain(ctx, hb)

	doubled, done := eff.doubled()
	t.Logf("%d messages done, %d doubled; %d completions landed from the background retry, %d given up", done, doubled, retried.Load(), failed.Load())
	if retried.Load() == 0 {
		t.Error("no completion landed from the background retry")
	}
	if done < n {
		t.Errorf("only %d of %d messages done: messages lost", done, n)
	}
	if doubled != 0 {
		t.Errorf("%d effects doubled across a 5 s Redis restart, want 0", doubled)
	}
}
