package handler

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ProcessOptions configure Process. The zero value is ready to use.
type ProcessOptions struct {
	// Concurrency bounds how many messages run at once. Process starts
	// fewer workers when they would not pay: a batch that recent handlers
	// say will take under 50 µs in all runs on one worker, which starts
	// the others if the batch is still going 100 µs plus twice its usual
	// preparation (a BatchPreparer's store claims; at most 5 ms) after it
	// began.
	// Default: 10. Values below 1 mean the default.
	Concurrency int
	// DeadlineMargin is the time Process keeps in hand before the context's
	// deadline (the Lambda timeout, the ack deadline). Once less than the
	// margin is left, no new message starts; running handlers see their
	// context expire at deadline - margin and are abandoned at
	// deadline - margin/2, so Process always returns before the deadline.
	// Default: 500ms. Ignored when the context has no deadline.
	DeadlineMargin time.Duration
	// Unordered ignores Message.OrderingKey and runs every message
	// independently.
	Unordered bool
}

// DefaultConcurrency and DefaultDeadlineMargin are the ProcessOptions
// defaults.
const (
	DefaultConcurrency    = 10
	DefaultDeadlineMargin = 500 * time.Millisecond
)

// Result is the outcome of one message of a batch.
type Result struct {
	// Message is the message this result is for.
	Message *Message
	// Err is the handler's error, or one of ErrDeadline,
	// ErrOrderingKeyFailed, ErrNilMessage, or a *PanicError.
	Err error
	// Outcome is Classify(Err).
	Outcome Outcome
	// Ran reports whether the handler was called.
	Ran bool
}

const (
	slotPending int32 = iota
	slotDone
	slotAbandoned
)

// Process runs h over msgs and returns one Result per message, in the same
// order. It never returns fewer results than messages, whatever the handler
// does:
//   - at most opts.Concurrency handlers run at once;
//   - messages that share a non-empty OrderingKey run one at a time, in
//     order; once one fails, the rest of its group is reported with
//     ErrOrderingKeyFailed without running;
//   - near the context's deadline no new message starts (ErrDeadline), and a
//     handler still running when Process must return is reported as failed
//     with ErrDeadline (its goroutine is left to finish on its own); when the
//     context is cancelled, no new message starts and running handlers get
//     half the DeadlineMargin to return before they are abandoned the same
//     way;
//   - a panic is recovered into a *PanicError for that message alone.
//
// Handlers receive a context carrying the Batch (see BatchFrom). Process is
// safe for concurrent use.
func Process(ctx context.Context, h Handler, msgs []*Message, opts *ProcessOptions) []Result {
	var o ProcessOptions
	if opts != nil {
		o = *opts
	}
	if o.Concurrency < 1 {
		o.Concurrency = DefaultConcurrency
	}
	if o.DeadlineMargin <= 0 {
		o.DeadlineMargin = DefaultDeadlineMargin
	}
	if len(msgs) == 0 {
		return nil
	}

	deadline, hasDeadline := ctx.Deadline()
	b := &Batch{msgs: msgs, deadline: deadline}
	runCtx := context.WithValue(ctx, batchKey{}, b)
	var stopAt time.Time // when no new message may start and handlers' contexts end
	if hasDeadline {
		stopAt = deadline.Add(-o.DeadlineMargin)
		var cancel context.CancelFunc
		runCtx, cancel = context.WithDeadline(runCtx, stopAt)
		defer cancel()
	}

	// A worker writes res[i], then marks state[i] done. A message still
	// pending when Process returns is marked abandoned instead, and its
	// worker's late write must not reach the caller: res is then copied.
	res := make([]Result, len(msgs))
	state := make([]atomic.Int32, len(msgs))
	for i := range res {
		res[i].Message = msgs[i]
	}
	groups := groupMessages(msgs, o.Unordered)
	ngroups := len(msgs) // nil groups: each message is a group of its own
	if groups != nil {
		ngroups = len(groups)
	}

	runOne := func(i int) error {
		r := &res[i]
		m := msgs[i]
		var err error
		ran := false
		switch {
		case m == nil:
			err = ErrNilMessage
		case runCtx.Err() != nil:
			err = fmt.Errorf("%w: %w", ErrDeadline, context.Cause(runCtx))
		case hasDeadline && !time.Now().Before(stopAt):
			err = ErrDeadline
		default:
			ran = true
			err = Safe(runCtx, h, m)
		}
		r.Err, r.Outcome, r.Ran = err, safeClassify(err), ran
		state[i].CompareAndSwap(slotPending, slotDone)
		return err
	}
	skip := func(i int, err error) {
		r := &res[i]
		r.Err, r.Outcome = err, Classify(err)
		state[i].CompareAndSwap(slotPending, slotDone)
	}
	runGroup := func(g []int32) {
		for k, i := range g {
			if err := runOne(int(i)); err != nil && len(g) > 1 {
				for _, j := range g[k+1:] {
					skip(int(j), ErrOrderingKeyFailed)
				}
				return
			}
		}
	}

	// Workers start one another: a worker that takes a group while more
	// remain starts the next worker (up to the limit), and only once the
	// worker it started before has begun. Fast handlers finish the batch
	// before many goroutines are woken; slow ones bring the pool to the limit
	// within a few scheduling rounds.
	//
	// When recent handlers were so fast that the whole batch should take
	// less than waking a second worker costs, the first worker runs alone,
	// and a timer starts the chain if the batch is still going after
	// lazyDelay (a slow handler among fast ones).
	//
	// That timer is armed when the batch begins, before PrepareBatch, not
	// when the first handler starts. Adding a timer wakes an idle thread of
	// the runtime to watch it, which costs the same wherever it happens;
	// woken before the claim, that thread waits in the network poller while
	// the claim is on the wire. On a virtual machine whose idle vCPUs halt
	// (Firecracker, as under Lambda) the round trip is then shorter
	// (measured with redisbench in three alternating pairs of runs: the
	// claim of a 10-record batch fell from 115-119 to 89-92 µs and the
	// whole batch from 220-224 to 196-205 µs; README, Performance). That
	// the waiting thread is the reason is our reading, not measured.
	//
	// Once every group is taken the timer is not stopped: it goes back to
	// a pool still armed, detached from the batch, and the next batch
	// re-arms it further out (see helperTimer).
	workers := min(o.Concurrency, ngroups)
	lazy := workers > 1 && quickBatch(len(msgs))
	prep, _ := h.(BatchPreparer)
	if len(msgs) < 2 {
		prep = nil
	}
	// The caller must stay free to abandon stuck handlers when the context
	// can end (a deadline or a cancellation); otherwise it works too.
	watch := hasDeadline || ctx.Done() != nil
	done := make(chan struct{})
	var next atomic.Int64
	var started atomic.Int32
	var left atomic.Int32 // groups not finished yet; the worker finishing the last closes done
	left.Store(int32(ngroups))
	var pending atomic.Bool // a started worker has not taken work yet
	var work func(first bool)
	spawn := func() {
		if !pending.CompareAndSwap(false, true) {
			return // the last worker started has not begun: let it bring the next
		}
		for {
			n := started.Load()
			if int(n) >= workers {
				pending.Store(false)
				return
			}
			if started.CompareAndSwap(n, n+1) {
				goWork(func() { work(false) })
				return
			}
		}
	}
	// The helper timer of a lazy batch may fire while the batch is being
	// prepared; no message may start before preparation ends, so the first
	// worker then starts the helpers itself once it has.
	var preparing, late atomic.Bool
	var timer *helperTimer
	spawnLate := func() {
		if int(next.Load()) >= ngroups {
			return // every group was taken: the batch needs no helper
		}
		if preparing.Load() {
			late.Store(true)
			if preparing.Load() {
				return // the first worker will see late when it is done
			}
		}
		spawn()
	}
	// A worker that starts after every group was taken finds nothing and
	// exits; nobody waits for it.
	work = func(first bool) {
		if !first {
			pending.Store(false)
		}
		if first {
			doPrep := prep != nil && runCtx.Err() == nil
			preparing.Store(doPrep) // before the timer can fire
			if lazy {
				timer = armHelper(lazyDelay(), spawnLate)
			}
			if doPrep {
				t0 := time.Now()
				prepare(runCtx, prep)
				observePrepare(time.Since(t0))
				preparing.Store(false)
				if late.Load() {
					spawn() // the timer fired while the batch was being prepared
				}
			}
		}
		var began time.Time
		ran := 0 // messages this worker ran, timed from began
		for {
			gi := int(next.Add(1) - 1)
			if gi >= ngroups {
				if first && timer != nil {
					timer.release() // every group is taken: no helper is needed
				}
				if ran > 0 {
					observeHandlers(time.Since(began), ran)
				}
				return
			}
			if ran == 0 {
				began = time.Now()
			}
			if gi+1 < ngroups && (!lazy || !first) {
				spawn()
			}
			if groups == nil {
				runOne(gi)
				ran++
			} else {
				runGroup(groups[gi])
				ran += len(groups[gi])
			}
			if left.Add(-1) == 0 {
				close(done)
			}
		}
	}
	started.Store(1)
	if watch {
		goWork(func() { work(true) })
	} else {
		work(true)
	}

	switch {
	case hasDeadline:
		abandonAt := deadline.Add(-o.DeadlineMargin / 2)
		t := time.NewTimer(time.Until(abandonAt))
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
	case watch:
		// Cancelled without a deadline (a consumer shutting down): handlers
		// get half the margin to return, then are abandoned.
		select {
		case <-done:
		case <-ctx.Done():
			t := time.NewTimer(o.DeadlineMargin / 2)
			select {
			case <-done:
			case <-t.C:
			}
			t.Stop()
		}
	default:
		<-done
	}

	abandoned := false
	for i := range state {
		abandoned = state[i].CompareAndSwap(slotPending, slotAbandoned) || abandoned
	}
	out := res
	if abandoned {
		out = make([]Result, len(msgs))
		for i := range out {
			if state[i].Load() == slotAbandoned {
				out[i] = Result{Message: msgs[i], Err: ErrDeadline, Outcome: Retry}
				continue
			}
			out[i] = res[i]
		}
	}
	b.finish(ctx)
	return out
}

// Handlers' recent speed, for the first worker's choice of starting
// helpers at once or only after lazyDelay.
const (
	// quickWork: a batch expected to take less than this runs on one
	// worker; waking another goroutine on another thread costs about as
	// much.
	quickWork = 50 * time.Microsecond
	// helperDelay: the least time such a batch runs on one worker before
	// helpers start (see lazyDelay).
	helperDelay = 100 * time.Microsecond
)

// helperTimer starts a lazy batch's helpers (Process). Its timers are
// pooled and never stopped. Stopping a batch's timer removed the earliest
// timer, so the next batch's timer became the earliest again and woke the
// runtime's poller thread once more, on the critical path of every batch.
// Instead a finished batch detaches its timer and returns it to the pool
// still armed; the next batch takes it and re-arms it further out, which
// wakes nobody (the poller waits for the earlier time, then finds the timer
// moved). A timer that expires while detached does nothing. Measured with
// a scratch program through the idempotency middleware on Redis, in
// alternating pairs of runs (README, Performance): leaving each batch's
// timer to expire instead of stopping it made one stream of 10-record
// batches 4-7% faster and ten streams 4-6%, with less CPU per record in the
// client and the server; pooling the timers, so that back-to-back batches
// no longer start a goroutine per expiry (time.AfterFunc), added 2.5-9.9%
// for one stream and about 2% (within the noise) for ten.
type helperTimer struct {
	t   *time.Timer
	run atomic.Pointer[func()]
}

var helperTimers = sync.Pool{New: func() any {
	h := new(helperTimer)
	h.t = time.AfterFunc(time.Hour, h.fire) // re-armed by armHelper at once
	return h
}}

// armHelper returns a pooled timer that calls f after d. Should the timer's
// previous arming expire in between, f may run early: starting helpers
// early is harmless.
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

// release detaches h from its batch and returns it to the pool, armed.
func (h *helperTimer) release() {
	h.run.Store(nil)
	helperTimers.Put(h)
}

// prepareNanos is a moving average of the time BatchPreparer.PrepareBatch
// takes (a store round trip, typically), like handlerNanos.
var prepareNanos atomic.Int64

// lazyDelay is how long after it began a batch expected to be quick runs
// on one worker before helpers start: helperDelay past twice its usual
// preparation, which counts for at most maxPrepareWait, so that a store
// that was slow for a while (a claim that timed out) cannot hold back the
// helpers of slow handlers for seconds.
func lazyDelay() time.Duration {
	return helperDelay + min(2*time.Duration(prepareNanos.Load()), maxPrepareWait)
}

// maxPrepareWait bounds the preparation's share of lazyDelay.
const maxPrepareWait = 5 * time.Millisecond

// observePrepare adds one PrepareBatch call, which took d, to the average.
func observePrepare(d time.Duration) { observe(&prepareNanos, int64(d)) }

// handlerNanos is a moving average of the time one message's handler
// takes, over every Process call in the process (a function process runs
// one handler). Zero means no measurement yet: helpers start at once.
var handlerNanos atomic.Int64

// quickBatch reports whether n messages should take less than quickWork,
// judging by recent handlers.
func quickBatch(n int) bool {
	per := handlerNanos.Load()
	return per > 0 && per*int64(n) < int64(quickWork)
}

// observeHandlers adds a worker's run of n messages, which took d, to the
// average.
// Concurrent updates may lose one another; the average only steers a
// heuristic.
func observeHandlers(d time.Duration, n int) {
	observe(&handlerNanos, int64(d)/int64(max(n, 1)))
}

// observe adds the sample v (ns) to the moving average avg.
func observe(avg *atomic.Int64, v int64) {
	v = max(v, 1)
	old := avg.Load()
	if old == 0 {
		avg.Store(v)
		return
	}
	avg.Store(old + (v-old)/8)
}

// safeClassify is Classify for errors from user code, whose Is or As
// methods could panic on a worker goroutine and take the process down: such
// an error is retried.
func safeClassify(err error) (o Outcome) {
	defer func() {
		if recover() != nil {
			o = Retry
		}
	}()
	return Classify(err)
}

// prepare calls p.PrepareBatch; a panic there must not lose the batch:
// preparing is an optimisation, each message still runs on its own.
func prepare(ctx context.Context, p BatchPreparer) {
	defer func() { _ = recover() }()
	p.PrepareBatch(ctx)
}

// groupMessages splits msgs into units of work: one per message without an
// ordering key, one per distinct ordering key (in first-seen order). It
// returns nil when every message is a unit of its own (no ordering keys, or
// unordered), the usual case, which then needs no lists.
func groupMessages(msgs []*Message, unordered bool) [][]int32 {
	if unordered || !slices.ContainsFunc(msgs, func(m *Message) bool { return m != nil && m.OrderingKey != "" }) {
		return nil
	}
	groups := make([][]int32, 0, len(msgs))
	flat := make([]int32, len(msgs)) // backing store for single-message groups
	var byKey map[string]int
	for i, m := range msgs {
		if m == nil || m.OrderingKey == "" {
			flat[i] = int32(i)
			groups = append(groups, flat[i:i+1:i+1])
			continue
		}
		if byKey == nil {
			byKey = make(map[string]int)
		}
		if gi, ok := byKey[m.OrderingKey]; ok {
			groups[gi] = append(groups[gi], int32(i))
			continue
		}
		byKey[m.OrderingKey] = len(groups)
		groups = append(groups, []int32{int32(i)})
	}
	return groups
}
