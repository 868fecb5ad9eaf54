package idempotency_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"

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
