package idempotency_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/memstore"
)

// BenchmarkMiddlewareOverhead measures the middleware's own cost per record
// (batch of 10 new records, in-memory store, no-op handler).
func BenchmarkMiddlewareOverhead(b *testing.B) {
	for _, conc := range []int{1, 10} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) { benchOverhead(b, conc) })
	}
}

func benchOverhead(b *testing.B, conc int) {
	s := memstore.New(nil)
	h := idempotency.Middleware(s, nil)(handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }))
	var seq atomic.Int64
	opts := &handler.ProcessOptions{Concurrency: conc}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if i%1000 == 999 {
			s = memstore.New(nil) // keep the map small: measure the middleware, not map growth
			h = idempotency.Middleware(s, nil)(handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }))
		}
		msgs := make([]*handler.Message, 10)
		for j := range msgs {
			msgs[j] = &handler.Message{ID: strconv.FormatInt(seq.Add(1), 10), Body: []byte(`{"a":1}`)}
		}
		handler.Process(context.Background(), h, msgs, opts)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10), "ns/record")
}

// nullStore acquires every claim and accepts every completion: with it the
// benchmark below measures handler.Process and the middleware alone, the
// client-side work a real store adds its own to.
type nullStore struct{}

func (nullStore) Claim(context.Context, idempotency.ClaimRequest) (idempotency.Claim, error) {
	return idempotency.Claim{Acquired: true, Token: "t"}, nil
}
func (nullStore) Complete(context.Context, string, string, []byte, time.Duration) error { return nil }
func (nullStore) Release(context.Context, string, string) error                         { return nil }
func (nullStore) Extend(context.Context, string, string, time.Duration) error           { return nil }
func (nullStore) Get(context.Context, string) (idempotency.Record, error) {
	return idempotency.Record{}, idempotency.ErrNotFound
}
func (nullStore) ClaimBatch(_ context.Context, reqs []idempotency.ClaimRequest) ([]idempotency.Claim, []error) {
	claims := make([]idempotency.Claim, len(reqs))
	for i := range claims {
		claims[i] = idempotency.Claim{Acquired: true, Token: "t"}
	}
	return claims, make([]error, len(reqs))
}
func (nullStore) CompleteBatch(_ context.Context, items []idempotency.Completion) []error {
	return make([]error, len(items))
}
func (nullStore) ReleaseBatch(_ context.Context, items []idempotency.Release) []error {
	return make([]error, len(items))
}

// BenchmarkMiddlewareNullStore is the middleware and Process on 10-record
// batches of new keys with a store that costs nothing.
func BenchmarkMiddlewareNullStore(b *testing.B) {
	// b.N rounds build it again on the one (zero-size) nullStore.
	h := idempotency.Middleware(nullStore{}, &idempotency.Options{ShareScope: true})(handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }))
	var seq atomic.Int64
	b.ReportAllocs()
	for b.Loop() {
		msgs := make([]*handler.Message, 10)
		for j := range msgs {
			msgs[j] = &handler.Message{ID: strconv.FormatInt(seq.Add(1), 10), Body: []byte(`{"a":1}`)}
		}
		handler.Process(context.Background(), h, msgs, nil)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10), "ns/record")
}
