package middleware_test

import (
	"fmt"
	"testing"

	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/redisstore"
	"github.com/eventfn/eventfn/idempotency/storetest"
	"github.com/redis/go-redis/v9"

	"github.com/eventfn/eventfn/internal/testenv"
	"github.com/eventfn/eventfn/middleware"
)

// TestTraceStoreOnRedisPassesTheConformanceSuite runs the store
// conformance suite on a TraceStore wrapping a Redis store on a real
// redis-server: the wrapper must change nothing a store promises, batch
// operations included, while every call is traced.
func TestTraceStoreOnRedisPassesTheConformanceSuite(t *testing.T) {
	url := testenv.Redis(t)
	tp, rec := newTracing(t)
	open := func(t *testing.T, url string) idempotency.Store {
		o, err := redisstore.ParseURL(url) // connects on first use: Unreachable must open
		if err != nil {
			t.Fatal(err)
		}
		s := redisstore.New(redis.NewClient(o), nil)
		t.Cleanup(func() { s.Close() })
		return middleware.TraceStore(s, tp)
	}
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) idempotency.Store { return open(t, url) },
		Unreachable: func(t *testing.T) idempotency.Store {
			return open(t, fmt.Sprintf("redis://127.0.0.1:%d/0?dial_timeout=1s&max_retries=-1", testenv.FreePort(t)))
		},
	})
	names := spanNames(rec.Ended())
	for _, n := range []string{"idempotency claim", "idempotency complete", "idempotency release", "idempotency get"} {
		if names[n] == 0 {
			t.Errorf("no %q span after the suite; spans %v", n, names)
		}
	}
}
