package handler

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// scheduler is the part of a batch that starts its workers.
type scheduler struct {
	workers int
	lazy    bool
	prep    BatchPreparer
	next    atomic.Int64 // the next unit of work to take
	started atomic.Int32 // workers started
	left    atomic.Int32 // units not finished yet
	pending atomic.Bool  // a started worker has not taken work yet
	// The helper timer of a lazy batch may fire while the batch is being
	// prepared; no message may start before preparation ends, so the first
	// worker then starts the helpers itself once it has.
	preparing, late atomic.Bool
	timer           *helperTimer
}

// start starts the batch's first worker: on a goroutine of its own when
// the caller must stay free to give up on stuck handlers, else on the
// caller's.
func (b *batch) start() {
	s := &b.sched
	s.workers = min(b.opts.Concurrency, b.ngroups)
	s.lazy = s.workers > 1 && quickBatch(len(b.msgs))
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

func (b *batch) firstWorker() {
	s := &b.sched
	doPrep := s.prep != nil && b.runCtx.Err() == nil
	s.preparing.Store(doPrep) // before the timer can fire
	if s.lazy {
		s.timer = armHelper(lazyDelay(), b.spawnLate)
	}
	if doPrep {
		t0 := time.Now()
		prepare(b.runCtx, s.prep)
		observePrepare(time.Since(t0))
		s.preparing.Store(false)
		if s.late.Load() {
			b.spawn() // the timer fired while the batch was being prepared
		}
	}
	b.work(true)
}

func (b *batch) helper() {
	b.sched.pending.Store(false)
	b.work(false)
}

// work takes units of work until none is left. A worker that starts after
// every unit was taken finds nothing and exits; nobody waits for it.
func (b *batch) work(first bool) {
	s := &b.sched
	var began time.Time
	ran := 0 // messages this worker ran, timed from began
	for {
		gi := int(s.next.Add(1) - 1)
		if gi >= b.ngroups {
			b.workerDone(first, began, ran)
			return
		}
		if ran == 0 {
			began = time.Now()
		}
		if gi+1 < b.ngroups && (!s.lazy || !first) {
			b.spawn()
		}
		b.runUnit(gi)
		ran += b.unitSize(gi)
		if s.left.Add(-1) == 0 {
			b.workerDone(first, began, ran)
			b.unitsDone()
			return
		}
	}
}

func (b *batch) workerDone(first bool, began time.Time, ran int) {
	if first && b.sched.timer != nil {
		b.sched.timer.release() // every group is taken: no helper is needed
		b.sched.timer = nil
	}
	if ran > 0 {
		observeHandlers(time.Since(began), ran)
	}
}

// spawn starts one more worker, up to the limit, unless the last one
// started has not begun: workers start one another, so fast handlers
// finish the batch before many goroutines are woken, and slow ones bring
// the pool to the limit within a few scheduling rounds.
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

func (b *batch) spawnLate() {
	s := &b.sched
	if int(s.next.Load()) >= b.ngroups {
		return // every group was taken: the batch needs no helper
	}
	if s.preparing.Load() {
		s.late.Store(true)
		if s.preparing.Load() {
			return // the first worker will see late when it is done
		}
	}
	b.spawn()
}

// Handlers' recent speed, for the first worker's choice of starting
// helpers at once or only after lazyDelay.
const (
	quickWork   = 50 * time.Microsecond
	helperDelay = 100 * time.Microsecond
)

type helperTimer struct {
	t   *time.Timer
	run atomic.Pointer[func()]
}

var helperTimers = sync.Pool{New: func() any {
	h := new(helperTimer)
	h.t = time.AfterFunc(time.Hour, h.fire) // re-armed by armHelper at once
	return h
}}

func armHelper(d time.Duration, f func()) *helperTimer {
	h := helperTimers.Get().(*helperTimer)
	h.run.Store(&f)
	h.t.Reset(d)
	return h
}

func (h *helperTimer) fire() {
	if f := h.run.Load(); f != nil {
		(*f)()
	}
}

func (h *helperTimer) release() {
	h.run.Store(nil)
	helperTimers.Put(h)
}

var prepareNanos atomic.Int64

func lazyDelay() time.Duration {
	return helperDelay + min(2*time.Duration(prepareNanos.Load()), maxPrepareWait)
}

const maxPrepareWait = 5 * time.Millisecond

func observePrepare(d time.Duration) { observe(&prepareNanos, int64(d)) }

var handlerNanos atomic.Int64

func quickBatch(n int) bool {
	per := handlerNanos.Load()
	return per > 0 && per*int64(n) < int64(quickWork)
}

func observeHandlers(d time.Duration, n int) {
	observe(&handlerNanos, int64(d)/int64(max(n, 1)))
}

func observe(avg *atomic.Int64, v int64) {
	v = max(v, 1)
	old := avg.Load()
	if old == 0 {
		avg.Store(v)
		return
	}
	avg.Store(old + (v-old)/8)
}

// prepare calls p.PrepareBatch; a panic there must not lose the batch:
// preparing is an optimisation, each message still runs on its own.
func prepare(ctx context.Context, p BatchPreparer) {
	defer func() { _ = recover() }()
	p.PrepareBatch(ctx)
}

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
