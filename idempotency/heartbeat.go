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
// the handler runs with and the beat to stop when the handler returns (nil
// when none is needed). When an extension reports the lease lost, or the
// store stays unreachable until the lease ends, the handler's context is
// cancelled with a cause matching ErrLeaseLost: another copy may now run. A
// handler whose claim already lasts until its context's deadline needs no
// heartbeat.
func (g *guard) heartbeat(ctx context.Context, kr *keyRun, m *handler.Message) (context.Context, *beat) {
	kr.mu.Lock()
	lease, end, token := kr.lease, kr.leaseEnd, kr.claim.Token
	kr.mu.Unlock()
	if lease <= 0 {
		return ctx, nil
	}
	if dl, ok := ctx.Deadline(); ok && !dl.After(end) {
		return ctx, nil
	}
	hb := beats.Get().(*beat)
	hctx, cancel := context.WithCancelCause(ctx)
	hb.mu.Lock()
	hb.g, hb.kr, hb.m, hb.ctx, hb.token, hb.lease, hb.end, hb.cancel = g, kr, m, ctx, token, lease, end, cancel
	hb.stopped = false
	hb.t.Reset(lease / heartbeatEvery)
	hb.mu.Unlock()
	return hctx, hb
}

// beats recycles the heartbeat state and its timer: most handlers return
// long before their first extension, and a heartbeat then costs a timer
// reset and stop instead of a timer and its closures per message.
var beats sync.Pool

func init() { beats.New = newBeat } // fire puts beats back: no initialization cycle

func newBeat() any {
	hb := new(beat)
	hb.t = time.AfterFunc(time.Hour, hb.fire)
	hb.t.Stop()
	return hb
}

// beat is one handler run's heartbeat.
type beat struct {
	t *time.Timer

	mu      sync.Mutex
	g       *guard
	kr      *keyRun
	m       *handler.Message
	ctx     context.Context // the handler's parent context: for logs and the deadline
	token   string
	lease   time.Duration
	end     time.Time // when the lease ends, as last extended
	cancel  context.CancelCauseFunc
	stopped bool
	firing  bool // an extension is under way; fire returns the beat to the pool
}

// stop ends the heartbeat when the handler returns. A nil beat is a no-op.
func (hb *beat) stop() {
	if hb == nil {
		return
	}
	hb.mu.Lock()
	hb.stopped = true
	hb.t.Stop()
	cancel, firing := hb.cancel, hb.firing
	if !firing {
		hb.clear()
	}
	hb.mu.Unlock()
	cancel(nil)
	if !firing {
		beats.Put(hb)
	}
}

// clear drops the references of a finished beat. Callers hold hb.mu.
func (hb *beat) clear() {
	hb.g, hb.kr, hb.m, hb.ctx, hb.cancel, hb.token = nil, nil, nil, nil, nil, ""
}

func (hb *beat) fire() {
	hb.mu.Lock()
	if hb.stopped || hb.g == nil {
		hb.mu.Unlock()
		return
	}
	hb.firing = true
	g, kr, m, pctx, token := hb.g, hb.kr, hb.m, hb.ctx, hb.token
	lease := hb.lease
	hb.mu.Unlock()

	if dl, ok := pctx.Deadline(); ok {
		// Under a deadline the claim need not outlive the handler's context.
		lease = min(lease, max(time.Until(dl), g.o.MinLease))
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(pctx), max(hb.lease/heartbeatEvery, 100*time.Millisecond))
	err := g.store.Extend(ctx, kr.key, token, lease)
	cancel()
	now := time.Now()

	hb.mu.Lock()
	defer hb.mu.Unlock()
	hb.firing = false
	if hb.stopped {
		hb.clear()
		beats.Put(hb)
		return
	}
	switch {
	case err == nil:
		hb.end = now.Add(lease)
		kr.mu.Lock()
		kr.leaseEnd = hb.end
		kr.mu.Unlock()
	case errors.Is(err, ErrLeaseLost):
		hb.lost(fmt.Errorf("idempotency: message %s ran past its lease and the claim was taken over or is gone: %w", m.ID, err))
		return
	case !now.Add(hb.lease / heartbeatEvery).Before(hb.end):
		hb.lost(fmt.Errorf("%w: message %s: the store could not extend the claim before its lease ended; another copy may run: %w", ErrLeaseLost, m.ID, err))
		return
	default:
		g.o.Logger.WarnContext(pctx, "idempotency: could not extend the claim of a running handler; retrying",
			slog.String("message_id", m.ID), slog.Time("lease_end", hb.end), slog.Any("error", err))
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
