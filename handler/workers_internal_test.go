package handler

import (
	"bytes"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// goid returns the calling goroutine's number, from its stack trace.
func goid() uint64 {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	f := bytes.Fields(buf) // "goroutine N [running]:"
	n, _ := strconv.ParseUint(string(f[1]), 10, 64)
	return n
}

// A worker that has finished parks, and the next work handed out runs on
// it rather than on a new goroutine.
func TestGoWorkReusesAParkedWorker(t *testing.T) {
	seen := map[uint64]bool{}
	for range 20 {
		ran := make(chan uint64)
		goWork(func() { ran <- goid() })
		id := <-ran
		if seen[id] {
			return
		}
		seen[id] = true
		time.Sleep(10 * time.Millisecond) // let the worker park
	}
	t.Fatalf("20 pieces of work, one after another, ran on %d goroutines: no worker was reused", len(seen))
}
