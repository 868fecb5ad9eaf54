package orders

import (
	"fmt"
	"os"
	"time"
)

// IdempotencyTTL returns EVENTFN_IDEMPOTENCY_TTL, a Go duration the
// examples' infrastructure sets to the queue's message retention, so a copy
// that waited in the queue that long is still recognised; zero (the
// idempotency default) when unset.
func IdempotencyTTL() (time.Duration, error) {
	v := os.Getenv("EVENTFN_IDEMPOTENCY_TTL")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("orders: EVENTFN_IDEMPOTENCY_TTL=%q is not a positive Go duration", v)
	}
	return d, nil
}
