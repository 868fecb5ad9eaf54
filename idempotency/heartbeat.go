package idempotency

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/eventfn/eventfn/handler"
)

// heartbeatEvery is the fraction of the lease after which, and then every
// such interval, a running handler's claim is extended: two extensions may
// fail in a row (a store that blips) before the lease runs out.
const heartbeatEvery = 3

// heartbeat keeps kr's claim alive while its handler runs longer than a
// third of the lease, extending it with the fenced Store.Extend, the way the
// consumers extend a message's visibility or lock. It returns the context
// the handler runs with and a stop function to call when the handler
// returns. When an extension reports the lease lost, or the store stays
// unreachable until the lease ends, the handler's context is cancelled with
// a cause matching ErrLeaseLost: another copy may now run. A handler whose
// claim already lasts until its context's deadline needs no heartbeat.
func (g *guard) heartbeat(ctx context.Context, kr *keyRun, m *handler.Message) (context.Context, func()) {
	kr.mu.Lock()
	lease, end, token := kr.lease, kr.leaseEnd, kr.claim.Token
	kr.mu.Unlock()
	if lease <= 0 {
		return ctx, func() {}
	}
	if dl, ok := ctx.Deadline(); ok && !dl.After(end) {
		return ctx, func() {}
	}
	hctx, cancel := context.WithCancelCause(ctx)
	hb := &beat{g: g, kr: kr, m: m, token: token, lease: lease, end: end, cancel: cancel, ctx: ctx}
	hb.mu.Lock()
	hb.t = time.AfterFunc(lease/heartbeatEvery, hb.fire)
	hb.mu.Unlock()
	return hctx, func() {
		hb.mu.Lock()
		hb.stopped = true
		hb.t.Stop()
		hb.mu.Unlock()
		cancel(nil)
	}
}

// beat is one handler run's heartbeat.
type beat struct {
	g      *guard
	kr     *keyRun
	m      *handler.Message
	ctx    context.Context // the handler's parent context: for logs and the deadline
	token  string
	lease  time.Duration
	end    time.Time // when the lease ends, as last extended
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	t       *time.Timer
	stopped bool
}

func (hb *beat) fire() {
	lease := hb.lease
	if dl, ok := hb.ctx.Deadline(); ok {
		// Under a deadline the claim need not outlive the handler's context.
		lease = min(lease, max(time.Until(dl), hb.g.o.MinLease))
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(hb.ctx), max(hb.lease/heartbeatEvery, 100*time.Millisecond))
	err := hb.g.store.Extend(ctx, hb.kr.key, hb.token, lease)
	cancel()
	now := time.Now()

	hb.mu.Lock()
	defer hb.mu.Unlock()
	if hb.stopped {
		return
	}
	switch {
	case err == nil:
		hb.end = now.Add(lease)
		hb.kr.mu.Lock()
		hb.kr.leaseEnd = hb.end
		hb.kr.mu.Unlock()
	case errors.Is(err, ErrLeaseLost):
		hb.lost(fmt.Errorf("idempotency: message %s ran past its lease and the claim was taken over or is gone: %w", hb.m.ID, err))
		return
	case !now.Add(hb.lease / heartbeatEvery).Before(hb.end):
		hb.lost(fmt.Errorf("%w: message %s: the store could not extend the claim before its lease ended; another copy may run: %w", ErrLeaseLost, hb.m.ID, err))
		return
	default:
		hb.g.o.Logger.WarnContext(hb.ctx, "idempotency: could not extend the claim of a running handler; retrying",
			slog.String("message_id", hb.m.ID), slog.Time("lease_end", hb.end), slog.Any("error", err))
	}
	hb.t.Reset(hb.lease / heartbeatEvery)
}

// lost tells the handler its claim may be gone. Callers hold hb.mu.
func (hb *beat) lost(err error) {
	hb.g.o.Logger.ErrorContext(hb.ctx, "idempotency: lease lost while the handler runs; its context is cancelled",
		slog.String("message_id", hb.m.ID), slog.String("key", hb.kr.key), slog.Any("error", err))
	hb.g.event(hb.ctx, EventLeaseLost, hb.m)
	hb.cancel(err)
}
