package handler

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// ProcessOptions configure Process. The zero value is ready to use.
type ProcessOptions struct {
	// Concurrency bounds how many messages run at once. Workers start one
	// another while messages remain, so quick handlers may finish a batch
	// on fewer.
	// Default: 10. Values below 1 mean the default.
	Concurrency int
	// DeadlineMargin is the time Process keeps in hand before the context's
	// deadline (the Lambda timeout, the ack deadline). Once less than the
	// margin is left, no new message starts; running handlers see their
	// context expire at deadline - margin and are abandoned at
	// deadline - margin/2; the batch's finishers (Batch.OnFinish) see
	// theirs expire at deadline - 3*margin/8, and Process returns by then
	// even if one is still running. The rest of the margin is the caller's,
	// to settle the batch with the platform (before deadline - margin/4)
	// and return its response.
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
//   - a panic is recovered into a *PanicError for that message alone;
//   - the Batch's finishers (Batch.OnFinish) run before Process returns,
//     within the bounds DeadlineMargin documents.
//
// Handlers receive a context carrying the Batch (see BatchFrom). Process is
// safe for concurrent use.
func Process(ctx context.Context, h Handler, msgs []*Message, opts *ProcessOptions) []Result {
	if len(msgs) == 0 {
		return nil
	}
	b := newBatch(ctx, h, msgs, opts)
	if b.cancel != nil {
		defer b.cancel()
	}
	b.start()
	b.wait()
	return b.collect()
}

// batch is one call of Process: its messages grouped into units of work,
// their results, and the bookkeeping of the workers that run them
// (workers.go, all of the scheduling) and of the deadline.
type batch struct {
	h    Handler
	msgs []*Message
	opts ProcessOptions
	ctx  context.Context // the caller's
	// runCtx is the handlers' context: it carries shared and ends at stopAt.
	runCtx context.Context
	cancel context.CancelFunc
	shared Batch

	hasDeadline bool
	deadline    time.Time // the caller's context's deadline
	stopAt      time.Time // no message starts from then on: deadline - margin

	// A worker writes res[i], then marks state[i] done. A message still
	// pending when Process returns is marked abandoned instead, and its
	// worker's late write must not reach the caller: res is then copied.
	res   []Result
	state []atomic.Int32
	// groups lists the units of work; nil means each message is one.
	groups  [][]int32
	ngroups int

	sched scheduler // workers.go
	// watch: the caller waits on its own goroutine, free to give up on
	// stuck handlers, because the context can end (a deadline or a
	// cancellation). Otherwise the first worker runs on the caller's.
	watch bool
	// finishing is set by whoever runs the finishers: the worker that ends
	// the last group, or the caller once it gives up waiting for handlers.
	finishing atomic.Bool
	// finished is closed when the finishers have run.
	finished chan struct{}
	// abandoned: the caller gave up on a handler still running.
	abandoned bool
}

const (
	slotPending int32 = iota
	slotDone
	slotAbandoned
)

// newBatch sets up the batch: the options with their defaults, the
// handlers' context, the results, and the units of work (grouping).
func newBatch(ctx context.Context, h Handler, msgs []*Message, opts *ProcessOptions) *batch {
	b := &batch{h: h, msgs: msgs, ctx: ctx}
	if opts != nil {
		b.opts = *opts
	}
	if b.opts.Concurrency < 1 {
		b.opts.Concurrency = DefaultConcurrency
	}
	if b.opts.DeadlineMargin <= 0 {
		b.opts.DeadlineMargin = DefaultDeadlineMargin
	}
	b.deadline, b.hasDeadline = ctx.Deadline()
	b.shared = Batch{msgs: msgs, deadline: b.deadline}
	b.runCtx = context.WithValue(ctx, batchKey{}, &b.shared)
	if b.hasDeadline {
		b.stopAt = b.deadline.Add(-b.opts.DeadlineMargin)
		b.runCtx, b.cancel = context.WithDeadline(b.runCtx, b.stopAt)
	}
	b.watch = b.hasDeadline || ctx.Done() != nil
	b.res = make([]Result, len(msgs))
	b.state = make([]atomic.Int32, len(msgs))
	for i := range b.res {
		b.res[i].Message = msgs[i]
	}
	b.groups = groupMessages(msgs, b.opts.Unordered)
	b.ngroups = len(msgs)
	if b.groups != nil {
		b.ngroups = len(b.groups)
	}
	b.finished = make(chan struct{})
	return b
}

// runUnit runs the unit of work gi: one message, or a group in order.
func (b *batch) runUnit(gi int) {
	if b.groups == nil {
		b.runOne(gi)
		return
	}
	g := b.groups[gi]
	for k, i := range g {
		if err := b.runOne(int(i)); err != nil && len(g) > 1 {
			for _, j := range g[k+1:] {
				b.skip(int(j), ErrOrderingKeyFailed)
			}
			return
		}
	}
}

// runOne runs message i, unless the batch may start no more messages, and
// records its result.
func (b *batch) runOne(i int) error {
	m := b.msgs[i]
	var err error
	ran := false
	switch {
	case m == nil:
		err = ErrNilMessage
	case b.runCtx.Err() != nil:
		err = fmt.Errorf("%w: %w", ErrDeadline, context.Cause(b.runCtx))
	case b.hasDeadline && !time.Now().Before(b.stopAt):
		err = ErrDeadline
	default:
		ran = true
		err = Safe(b.runCtx, b.h, m)
	}
	r := &b.res[i]
	r.Err, r.Outcome, r.Ran = err, safeClassify(err), ran
	b.state[i].CompareAndSwap(slotPending, slotDone)
	return err
}

// skip records err for message i without running it.
func (b *batch) skip(i int, err error) {
	r := &b.res[i]
	r.Err, r.Outcome = err, Classify(err)
	b.state[i].CompareAndSwap(slotPending, slotDone)
}

// unitsDone is called by the worker that finished the last unit of work:
// it runs the finishers unless the caller already gave up on the handlers
// and started them. Running them there, not on the caller's goroutine,
// costs no extra wake-up and leaves the caller free to stop waiting.
func (b *batch) unitsDone() {
	if b.finishing.CompareAndSwap(false, true) {
		b.runFinishers()
	}
}

// runFinishers runs the Batch's finishers, then closes finished.
func (b *batch) runFinishers() {
	ctx := b.ctx
	if b.hasDeadline {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, b.finishBy())
		defer cancel()
	}
	b.shared.finish(ctx)
	close(b.finished)
}

// abandonAt is when the caller stops waiting for handlers, with a
// deadline.
func (b *batch) abandonAt() time.Time { return b.deadline.Add(-b.opts.DeadlineMargin / 2) }

// finishBy is when the finishers' context ends and Process returns, with a
// deadline: halfway between abandoning handlers and the end of the
// margin's last quarter, which an adapter keeps to settle the batch with
// the platform and return (see sqs).
func (b *batch) finishBy() time.Time { return b.deadline.Add(-3 * b.opts.DeadlineMargin / 8) }

// wait returns once the finishers have run or, when the context can end,
// once the batch may wait no longer: handlers still running at abandonAt
// (or half the margin after a cancellation) are abandoned, the finishers
// start, and with a deadline they get until finishBy.
func (b *batch) wait() {
	if !b.watch {
		<-b.finished
		return
	}
	var t *time.Timer
	if b.hasDeadline {
		t = time.NewTimer(time.Until(b.abandonAt()))
	} else {
		// Cancelled without a deadline (a consumer shutting down): handlers
		// get half the margin to return, then are abandoned.
		select {
		case <-b.finished:
			return
		case <-b.ctx.Done():
		}
		t = time.NewTimer(b.opts.DeadlineMargin / 2)
	}
	defer t.Stop()
	select {
	case <-b.finished:
		return
	case <-t.C:
	}
	if b.finishing.CompareAndSwap(false, true) {
		b.abandoned = b.markAbandoned()
		go b.runFinishers()
	}
	if !b.hasDeadline {
		<-b.finished
		return
	}
	t.Reset(time.Until(b.finishBy()))
	select {
	case <-b.finished:
	case <-t.C: // a finisher ignores its context: leave it behind
	}
}

// markAbandoned marks every message still pending as abandoned, so that
// its worker's late result does not reach the caller; it reports whether
// there was any.
func (b *batch) markAbandoned() bool {
	abandoned := false
	for i := range b.state {
		abandoned = b.state[i].CompareAndSwap(slotPending, slotAbandoned) || abandoned
	}
	return abandoned
}

// collect returns the results, with ErrDeadline for every message
// abandoned.
func (b *batch) collect() []Result {
	if !b.markAbandoned() && !b.abandoned {
		return b.res
	}
	out := make([]Result, len(b.msgs))
	for i := range out {
		if b.state[i].Load() == slotAbandoned {
			out[i] = Result{Message: b.msgs[i], Err: ErrDeadline, Outcome: Retry}
			continue
		}
		out[i] = b.res[i]
	}
	return out
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
