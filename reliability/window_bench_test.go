package reliability_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/redisstore"
)

// completionClock wraps a store and records when each key's completion
// was acknowledged by the server.
type completionClock struct {
	*redisstore.Store
	mu sync.Mutex
	at map[string]time.Time
}

func (c *completionClock) mark(keys []string, errs []error) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, k := range keys {
		if i < len(errs) && errs[i] == nil {
			c.at[k] = now
		}
	}
}

func (c *completionClock) Complete(ctx context.Context, key, token string, result []byte, ttl time.Duration) error {
	err := c.Store.Complete(ctx, key, token, result, ttl)
	c.mark([]string{key}, []error{err})
	return err
}

func (c *completionClock) CompleteBatch(ctx context.Context, items []idempotency.Completion) []error {
	errs := c.Store.CompleteBatch(ctx, items)
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.Key
	}
	c.mark(keys, errs)
	return errs
}

// BenchmarkEffectToCompleted measures, for a 10-message batch on Redis in
// which one handler takes 200 ms and nine return at once, the time from a
// quick handler's effect to its record being COMPLETED: the window in which
// a crash makes the redelivery run the effect again. It reports the p50 and
// p99 over every quick message, next to the slow handler's run time, the
// window a batch that completes only at its end would leave.
func BenchmarkEffectToCompleted(b *testing.B) {
	srv := startRedis(b)
	rs, err := redisstore.Open(srv.url(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer rs.Close()
	clock := &completionClock{Store: rs, at: map[string]time.Time{}}
	const slow = 200 * time.Millisecond
	var mu sync.Mutex
	effects := map[string]time.Time{}
	scope := fmt.Sprint("window-", time.Now().UnixNano())
	h := idempotency.Middleware(clock, &idempotency.Options{Scope: scope, CacheSize: -1})(handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		if m.ID[len(m.ID)-2:] == "-0" {
			time.Sleep(slow)
		}
		mu.Lock()
		effects[m.ID] = time.Now()
		mu.Unlock()
		return nil
	}))
	var windows []time.Duration
	for i := 0; b.Loop(); i++ {
		msgs := make([]*handler.Message, 10)
		for j := range msgs {
			msgs[j] = &handler.Message{ID: fmt.Sprintf("b%d-%d", i, j), Body: []byte("x"), DeliveryAttempt: 1}
		}
		handler.Process(context.Background(), h, msgs, nil)
		for _, m := range msgs[1:] {
			mu.Lock()
			e := effects[m.ID]
			mu.Unlock()
			clock.mu.Lock()
			c, ok := clock.at[idempotency.HashKey(scope, m.ID)]
			clock.mu.Unlock()
			if !ok {
				b.Fatalf("message %s was not completed", m.ID)
			}
			windows = append(windows, c.Sub(e))
		}
	}
	slices.Sort(windows)
	pct := func(p float64) float64 {
		return float64(windows[min(int(p*float64(len(windows))), len(windows)-1)].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(slow.Milliseconds()), "slow-handler-ms")
}
