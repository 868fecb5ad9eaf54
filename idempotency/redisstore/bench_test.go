package redisstore_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
)

// BenchmarkMiddleware measures records through the idempotency middleware
// on the real Redis with a no-op handler; scripts/bench-redis.sh compares
// the same scenarios with redis-benchmark.
var popts *handler.ProcessOptions

func BenchmarkMiddleware(b *testing.B) {
	s := newStore(b)
	for _, size := range []int{1, 10, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			h := idempotency.Middleware(s, &idempotency.Options{Scope: fmt.Sprint(b.Name(), time.Now().UnixNano())})(
				handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }))
			var seq atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				msgs := make([]*handler.Message, size)
				for j := range msgs {
					msgs[j] = &handler.Message{ID: strconv.FormatInt(seq.Add(1), 10), Body: []byte(`{"a":1}`)}
				}
				for _, r := range handler.Process(context.Background(), h, msgs, popts) {
					if r.Err != nil {
						b.Fatal(r.Err)
					}
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func BenchmarkMiddlewareParallel(b *testing.B) {
	s := newStore(b)
	h := idempotency.Middleware(s, &idempotency.Options{Scope: fmt.Sprint(b.Name(), time.Now().UnixNano())})(
		handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }))
	var seq atomic.Int64
	b.SetParallelism(5) // 10 streams on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			msgs := make([]*handler.Message, 10)
			for j := range msgs {
				msgs[j] = &handler.Message{ID: strconv.FormatInt(seq.Add(1), 10), Body: []byte(`{"a":1}`)}
			}
			handler.Process(context.Background(), h, msgs, nil)
		}
	})
	b.ReportMetric(float64(b.N*10)/b.Elapsed().Seconds(), "records/s")
}
