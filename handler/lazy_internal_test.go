package handler

import (
	"testing"
	"time"
)

// A store that was slow once (a claim that timed out) raises the average
// preparation time, but lazy batches still start their helpers within
// helperDelay + maxPrepareWait.
func TestLazyDelayIsBounded(t *testing.T) {
	old := prepareNanos.Load()
	defer prepareNanos.Store(old)
	prepareNanos.Store(0)
	observePrepare(30 * time.Second)
	if d := lazyDelay(); d != helperDelay+maxPrepareWait {
		t.Fatalf("lazyDelay after a 30s preparation = %v, want %v", d, helperDelay+maxPrepareWait)
	}
	prepareNanos.Store(int64(100 * time.Microsecond))
	if d := lazyDelay(); d != helperDelay+200*time.Microsecond {
		t.Fatalf("lazyDelay with 100µs preparations = %v, want %v", d, helperDelay+200*time.Microsecond)
	}
}
