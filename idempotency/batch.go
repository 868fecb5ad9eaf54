package idempotency

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/eventfn/eventfn/handler"
)

// batchState is one middleware's view of one handler.Batch: every key of the
// batch claimed in one BatchStore call, and finished in one more.
type batchState struct {
	once sync.Once
	// entries are the batch's messages' entries by position in the batch;
	// kr is nil for a message without one (no key, or known completed).
	entries []batchEntry
	// byMsg indexes entries by message in batches of more than
	// smallBatch messages; smaller ones are searched.
	byMsg map[*handler.Message]int
	runs  []*keyRun

	// Prompt completion: successful runs wait in done for at most
	// completeLinger, then complete together while slower handlers of the
	// batch still run; the flush takes whatever is left.
	mu       sync.Mutex
	done     []*keyRun
	timer    *time.Timer
	closed   bool          // flushed: later runs complete themselves
	inflight int           // prompt completions under way
	idle     chan struct{} // made by a flush that must wait for them; closed when none is left
}

// completeLinger is how long a finished run of a batch waits before its
// record is completed without the rest of the batch: long enough that a
// batch of quick handlers finishes first and completes in one call, short
// next to a slow handler, which no finished message waits for.
const completeLinger = 2 * time.Millisecond

// smallBatch is the largest batch whose messages and keys are found by
// searching rather than through maps: ten pointer or key comparisons cost
// less than hashing, and the maps' memory is garbage a busy client pays for.
const smallBatch = 16

type batchEntry struct {
	kr *keyRun
	fp string
}

func (g *guard) batchState(ctx context.Context, b *handler.Batch) *batchState {
	st := b.Value(g, func() any { return &batchState{} }).(*batchState)
	st.once.Do(func() { g.claimBatch(ctx, b, st) })
	return st
}

// entry returns the entry of m, a message of the batch msgs.
func (st *batchState) entry(msgs []*handler.Message, m *handler.Message) (batchEntry, bool) {
	if st.byMsg != nil {
		i, ok := st.byMsg[m]
		return st.entries[i], ok
	}
	for i, bm := range msgs {
		if bm == m {
			e := st.entries[i]
			return e, e.kr != nil
		}
	}
	return batchEntry{}, false
}

// claimBatch claims the keys of every message in b that has a key and is
// not known to be completed, once per distinct key.
func (g *guard) claimBatch(ctx context.Context, b *handler.Batch, st *batchState) {
	msgs := b.Messages()
	st.entries = make([]batchEntry, len(msgs))
	var byKey map[string]*keyRun
	if len(msgs) > smallBatch {
		st.byMsg = make(map[*handler.Message]int, len(msgs))
		byKey = make(map[string]*keyRun, len(msgs))
	}
	rbuf := claimReqs.get(len(msgs))
	defer claimReqs.put(rbuf)
	reqs := *rbuf
	slab := make([]keyRun, 0, len(msgs)) // every keyRun of the batch in one allocation; never grows
	st.runs = make([]*keyRun, 0, len(msgs))
	lease := g.lease(ctx)
	now := time.Now()
	found := func(key string) *keyRun {
		if byKey != nil {
			return byKey[key]
		}
		for i := range slab {
			if slab[i].key == key {
				return &slab[i]
			}
		}
		return nil
	}
	set := func(i int, m *handler.Message, e batchEntry) {
		st.entries[i] = e
		if st.byMsg != nil {
			st.byMsg[m] = i
		}
	}
	for i, m := range msgs {
		if m == nil {
			continue
		}
		key, err := g.keyOf(m)
		if err != nil {
			continue
		}
		fp := g.o.Fingerprint(m)
		if kr := found(key); kr != nil {
			set(i, m, batchEntry{kr, fp})
			continue
		}
		if _, ok := g.cache.get(key, now); ok {
			continue
		}
		slab = slab[:len(slab)+1]
		kr := &slab[len(slab)-1]
		kr.key, kr.fp, kr.msg, kr.batch = key, fp, m, st
		kr.lease, kr.leaseEnd = lease, now.Add(lease)
		if byKey != nil {
			byKey[key] = kr
		}
		set(i, m, batchEntry{kr, fp})
		st.runs = append(st.runs, kr)
		reqs = append(reqs, ClaimRequest{Key: key, Fingerprint: kr.fp, Lease: lease})
	}
	if len(reqs) == 0 {
		return
	}
	claims, errs := g.batch.ClaimBatch(ctx, reqs)
	for i, kr := range st.runs {
		switch {
		case i < len(errs) && errs[i] != nil:
			kr.claimErr = errs[i]
		case i < len(claims):
			kr.claim = &claims[i]
		default:
			kr.claimErr = fmt.Errorf("%w: batch claim returned %d answers for %d keys", ErrStore, len(claims), len(reqs))
		}
	}
	b.OnFinish(func(ctx context.Context) { g.flush(ctx, st) })
}

// handleInBatch runs m under the batch's shared keyRun for its key: the
// first message of the key to arrive runs the handler, later ones with the
// same key follow its outcome without a redelivery round.
func (g *guard) handleInBatch(ctx context.Context, kr *keyRun, m *handler.Message, fp string) error {
	kr.mu.Lock()
	switch {
	case kr.flushed && !kr.started:
		// The batch already finished and released this claim; claim afresh.
		kr.mu.Unlock()
		fresh := &keyRun{key: kr.key, fp: fp, msg: m}
		fresh.claimAlone(ctx, g.store, ClaimRequest{Key: kr.key, Fingerprint: fp, Lease: g.lease(ctx)})
		return g.run(ctx, fresh, m, false)
	case mismatch(kr.fp, fp):
		// The batch claimed the key for another message's payload.
		other := kr.msg.ID
		kr.mu.Unlock()
		g.event(ctx, EventPayloadMismatch, m)
		return handler.Permanent(fmt.Errorf("%w: message %s has the key of message %s in this batch with another payload", ErrPayloadMismatch, m.ID, other))
	case !kr.started:
		kr.started = true
		kr.msg = m
		kr.mu.Unlock()
		return g.run(ctx, kr, m, true)
	}
	// Follow the run of the first message with this key. The channel is made
	// only when someone has to wait: most keys never need it.
	if !kr.finished {
		if kr.done == nil {
			kr.done = make(chan struct{})
		}
		done := kr.done
		kr.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("idempotency: message %s waited for message %s with the same key in this batch: %w", m.ID, kr.msg.ID, ctx.Err())
		}
		kr.mu.Lock()
	}
	first, ferr := kr.msg.ID, kr.err
	kr.mu.Unlock()
	if ferr != nil {
		return fmt.Errorf("idempotency: message %s has the key of message %s in this batch, which failed: %w", m.ID, first, ferr)
	}
	g.event(ctx, EventDuplicate, m)
	return nil
}

// ready hands a successful run to the batch's prompt completion.
func (st *batchState) ready(ctx context.Context, g *guard, kr *keyRun) {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		g.finish(ctx, []*keyRun{kr}) // the flush has passed: complete alone
		return
	}
	st.done = append(st.done, kr)
	if st.timer == nil {
		st.timer = time.AfterFunc(completeLinger, func() { st.round(ctx, g) })
	}
	st.mu.Unlock()
}

// round completes the runs that are ready, while the batch still runs.
func (st *batchState) round(ctx context.Context, g *guard) {
	st.mu.Lock()
	st.timer = nil
	runs := st.done
	st.done = nil
	if st.closed || len(runs) == 0 {
		st.mu.Unlock()
		return
	}
	st.inflight++
	st.mu.Unlock()
	defer func() {
		st.mu.Lock()
		st.inflight--
		if st.inflight == 0 && st.idle != nil {
			close(st.idle)
			st.idle = nil
		}
		st.mu.Unlock()
	}()
	g.finish(ctx, runs)
}

// flush finishes the batch's claims: completes the successful runs and
// releases failed ones and those that never ran. Runs still going (abandoned
// at the deadline) finish themselves when they end. It waits, within ctx,
// for prompt completions still in flight.
func (g *guard) flush(ctx context.Context, st *batchState) {
	st.mu.Lock()
	st.closed = true
	if st.timer != nil {
		st.timer.Stop()
		st.timer = nil
	}
	todo := append(make([]*keyRun, 0, len(st.runs)), st.done...)
	st.done = nil
	var idle chan struct{}
	if st.inflight > 0 {
		st.idle = make(chan struct{})
		idle = st.idle
	}
	st.mu.Unlock()
	for _, kr := range st.runs {
		kr.mu.Lock()
		already := kr.flushed
		kr.flushed = true
		if !already && !kr.queued && kr.acquired() && (!kr.started || kr.finished) {
			todo = append(todo, kr)
		}
		kr.mu.Unlock()
	}
	if len(todo) > 0 {
		g.finish(ctx, todo)
	}
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
		}
	}
}

// pooled recycles the request slices the middleware hands a BatchStore,
// which must not retain them, from one batch to the next: on a busy client
// garbage collection is a large part of a record's cost
// (docs/performance.md).
type pooled[T any] struct{ p sync.Pool }

var (
	claimReqs   pooled[ClaimRequest]
	completions pooled[Completion]
)

// maxPooled bounds the slices kept: a rare huge batch does not pin its
// slice for every later small one.
const maxPooled = 1 << 12

// get returns an empty slice with room for n items.
func (p *pooled[T]) get(n int) *[]T {
	buf, _ := p.p.Get().(*[]T)
	if buf == nil {
		buf = new([]T)
	}
	if cap(*buf) < n {
		*buf = make([]T, 0, n)
	}
	return buf
}

// put clears buf's items, so the pool keeps no keys alive, and returns it.
func (p *pooled[T]) put(buf *[]T) {
	if cap(*buf) > maxPooled {
		return
	}
	clear((*buf)[:cap(*buf)])
	*buf = (*buf)[:0]
	p.p.Put(buf)
}
