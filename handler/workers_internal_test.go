package handler

import (
	"sync/atomic"
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

func TestHelperTimersDetachWhenReleasedAndRearm(t *testing.T) {
	var first atomic.Int32
	h := armHelper(5*time.Millisecond, func() { first.Add(1) })
	h.release()                       // still armed, back in the pool
	time.Sleep(30 * time.Millisecond) // it expires while detached
	if n := first.Load(); n != 0 {
		t.Errorf("a released timer ran its old batch's function %d times", n)
	}
	done := make(chan struct{})
	h2 := armHelper(time.Millisecond, func() { close(done) }) // most likely h again
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a re-armed pooled timer never ran its new batch's function")
	}
	h2.release()
}
