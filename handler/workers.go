package handler

import (
	"sync/atomic"
	"time"
)

// scheduler is the part of a batch that starts and feeds its workers: the
// whole of Process's scheduling.
//
// The first worker runs alone at first. Another worker costs a wake-up on
// another thread, and the batch ends only when its slowest worker has
// finished its unit, so a batch of quick handlers ends sooner on one
// worker. If the batch is still running helperDelay after its first
// message started (a slow handler), a timer starts the others. From then
// on workers start one another: a worker that takes a unit of work while
// more remain starts the next worker, up to the limit, and only once the
// worker it started before has begun, so slow handlers bring the pool to
// the limit within a few scheduling rounds.
type scheduler struct {
	workers int           // at most this many, Concurrency or fewer
	prep    BatchPreparer // nil: nothing to prepare
	next    atomic.Int64  // the next unit of work to take
	started atomic.Int32  // workers started
	left    atomic.Int32  // units not finished yet
	pending atomic.Bool   // a started worker has not taken work yet
	helpers *time.Timer   // starts the other workers; nil with one worker
}

// helperDelay is how long the first worker runs alone: about what waking
// another worker costs, so that a batch done by then needed no other.
const helperDelay = 100 * time.Microsecond

// start starts the batch's first worker: on a goroutine of its own when
// the caller must stay free to give up on stuck handlers, else on the
// caller's.
func (b *batch) start() {
	s := &b.sched
	s.workers = min(b.opts.Concurrency, b.ngroups)
	if len(b.msgs) > 1 {
		s.prep, _ = b.h.(BatchPreparer)
	}
	s.left.Store(int32(b.ngroups))
	s.started.Store(1)
	if b.watch {
		goWork(b.firstWorker)
	} else {
		b.firstWorker()
	}
}

// firstWorker prepares the batch, before any of its messages starts, then
// works, alone until the helper timer fires.
func (b *batch) firstWorker() {
	s := &b.sched
	if s.prep != nil && b.runCtx.Err() == nil {
		prepare(b, s.prep)
	}
	if s.workers > 1 {
		s.helpers = time.AfterFunc(helperDelay, b.startHelpers)
	}
	b.work(true)
}

// startHelpers starts the chain of helpers, unless every unit was taken.
func (b *batch) startHelpers() {
	if int(b.sched.next.Load()) < b.ngroups {
		b.spawn()
	}
}

// prepare calls p.PrepareBatch; a panic there must not lose the batch:
// preparing is an optimisation, each message still runs on its own.
func prepare(b *batch, p BatchPreparer) {
	defer func() { _ = recover() }()
	p.PrepareBatch(b.runCtx)
}

// helper is a worker started by another.
func (b *batch) helper() {
	b.sched.pending.Store(false)
	b.work(false)
}

// work takes units of work until none is left, each helper starting the
// next while more remain; the worker that finishes the last unit ends the
// batch. A worker that starts after every unit was taken finds nothing and
// exits; nobody waits for it.
func (b *batch) work(first bool) {
	s := &b.sched
	for {
		gi := int(s.next.Add(1) - 1)
		if gi >= b.ngroups {
			if first {
				s.stopHelpers()
			}
			return
		}
		if gi+1 < b.ngroups && !first {
			b.spawn()
		}
		b.runUnit(gi)
		if s.left.Add(-1) == 0 {
			if first {
				s.stopHelpers()
			}
			b.unitsDone()
			return
		}
	}
}

// stopHelpers stops the helper timer once the first worker has found
// every unit taken: the batch needs no other worker.
func (s *scheduler) stopHelpers() {
	if s.helpers != nil {
		s.helpers.Stop()
	}
}

// spawn starts one more worker, up to the limit, unless the last one
// started has not begun yet: that one will start the next.
func (b *batch) spawn() {
	s := &b.sched
	if !s.pending.CompareAndSwap(false, true) {
		return
	}
	for {
		n := s.started.Load()
		if int(n) >= s.workers {
			s.pending.Store(false)
			return
		}
		if s.started.CompareAndSwap(n, n+1) {
			goWork(b.helper)
			return
		}
	}
}

// Workers run on pooled goroutines. A goroutine that has run a handler
// keeps the stack it grew (handlers that call a store or an SDK go deep),
// so the next batch does not pay to grow a fresh stack again, and handing
// work to a parked goroutine costs less than starting one. Idle workers
// exit after workerIdle.
const workerIdle = 10 * time.Second

// idleWorkers hands work to parked workers; a process-wide pool, like the
// runtime's own.
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
