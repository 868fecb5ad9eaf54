package orders_test

import (
	"testing"
	"time"

	"github.com/eventfn/eventfn/examples/orders"
)

func TestIdempotencyTTLFromTheEnvironment(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{{"", 0, true}, {"96h", 96 * time.Hour, true}, {"soon", 0, false}, {"-1h", 0, false}} {
		t.Setenv("EVENTFN_IDEMPOTENCY_TTL", tc.v)
		got, err := orders.IdempotencyTTL()
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("EVENTFN_IDEMPOTENCY_TTL=%q: %v, %v", tc.v, got, err)
		}
	}
}
