package handler

import "time"

// Process runs its workers on pooled goroutines. A goroutine that has run a
// handler keeps the stack it grew (handlers that call a store or an SDK go
// deep), so the next batch does not pay to grow a fresh 8 KiB stack again.
// Idle workers exit after workerIdle.
const workerIdle = 10 * time.Second

var idleWorkers = make(chan func())

// goWork runs f on an idle pooled goroutine, or on a new one.
func goWork(f func()) {
	select {
	case idleWorkers <- f:
	default:
		go worker(f)
	}
}

func worker(f func()) {
	f()
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		select {
		case f = <-idleWorkers:
			f()
			t.Reset(workerIdle)
		case <-t.C:
			return
		}
	}
}
