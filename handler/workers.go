package handler

import "sync/atomic"

// scheduler is the part of a batch that starts and feeds its workers: the
// whole of Process's scheduling.
//
// Workers start one another: a worker that takes a unit of work while more
// remain starts the next worker, up to the limit, and only once the worker
// it started before has begun. Quick handlers finish the batch before many
// goroutines are woken; slow ones bring the pool to the limit within a few
// scheduling rounds.
type scheduler struct {
	workers int           // at most this many, Concurrency or fewer
	prep    BatchPreparer // nil: nothing to prepare
	next    atomic.Int64  // the next unit of work to take
	started atomic.Int32  // workers started
	left    atomic.Int32  // units not finished yet
	pending atomic.Bool   // a started worker has not taken work yet
}

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
		go b.firstWorker()
	} else {
		b.firstWorker()
	}
}

// firstWorker prepares the batch, before any of its messages starts, then
// works.
func (b *batch) firstWorker() {
	if p := b.sched.prep; p != nil && b.runCtx.Err() == nil {
		prepare(b, p)
	}
	b.work()
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
	b.work()
}

// work takes units of work until none is left, starting the next worker
// while more remain; the worker that finishes the last unit ends the
// batch. A worker that starts after every unit was taken finds nothing and
// exits; nobody waits for it.
func (b *batch) work() {
	s := &b.sched
	for {
		gi := int(s.next.Add(1) - 1)
		if gi >= b.ngroups {
			return
		}
		if gi+1 < b.ngroups {
			b.spawn()
		}
		b.runUnit(gi)
		if s.left.Add(-1) == 0 {
			b.unitsDone()
			return
		}
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
			go b.helper()
			return
		}
	}
}
