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

// Bounds of the background completion retries: the first retry follows
// soon after the failure, later ones back off so a store that is down is
// not hammered, and each call is bounded so a hanging store cannot stall
// the others.
const (
	retryFirst   = 100 * time.Millisecond
	retryMax     = 2 * time.Second
	retryTimeout = 2 * time.Second
)

// pendingCompletion is a successful run whose record could not be
// completed yet.
type pendingCompletion struct {
	key, token, fp string
	msg            *handler.Message
	leaseEnd       time.Time // retries stop here: the key may then be claimed again
	err            error     // the last failure
	attempts       int
}

// retrier completes records in the background after Complete failed on a
// store error, with capped backoff, until each claim's lease ends: past it,
// another delivery may have claimed the key, and the token no longer holds.
// It runs one goroutine while it has work, and logs each key once, when its
// completion lands or is given up.
type retrier struct {
	g *Guard

	mu      sync.Mutex
	pending []pendingCompletion
	running bool
	kick    chan struct{} // wakes the loop early (Flush)
	idle    chan struct{} // closed when pending empties; nil while idle
}

func newRetrier(g *Guard) *retrier {
	return &retrier{g: g, kick: make(chan struct{}, 1)}
}

// add queues p and starts the loop if it is not running.
func (r *retrier) add(p pendingCompletion) {
	p.attempts = 1
	r.mu.Lock()
	r.pending = append(r.pending, p)
	if r.idle == nil {
		r.idle = make(chan struct{})
	}
	start := !r.running
	r.running = true
	r.mu.Unlock()
	if start {
		go r.loop()
	}
}

func (r *retrier) loop() {
	delay := retryFirst
	for {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.kick:
			t.Stop()
		}
		if !r.round() {
			return
		}
		delay = min(delay*2, retryMax)
	}
}

// round tries every pending completion once and reports whether any remain.
func (r *retrier) round() bool {
	r.mu.Lock()
	todo := r.pending
	r.pending = nil
	r.mu.Unlock()

	now := time.Now()
	live := todo[:0:0]
	for _, p := range todo {
		if !now.Before(p.leaseEnd) {
			r.giveUp(p, fmt.Errorf("%w: the claim's lease ended while the store was unreachable: %w", ErrLeaseLost, p.err))
			continue
		}
		live = append(live, p)
	}
	if len(live) > 0 {
		items := make([]Completion, len(live))
		for i, p := range live {
			items[i] = Completion{Key: p.key, Token: p.token, TTL: r.g.o.TTL}
		}
		ctx, cancel := context.WithTimeout(context.Background(), retryTimeout)
		errs := completeAll(ctx, r.g.store, r.g.batch, items)
		cancel()
		var again []pendingCompletion
		for i, p := range live {
			err := fmt.Errorf("%w: batch completion returned %d answers for %d keys", ErrStore, len(errs), len(items))
			if i < len(errs) {
				err = errs[i]
			}
			p.attempts++
			switch {
			case err == nil:
				r.g.o.Logger.Info("idempotency: record completed by the background retry",
					slog.String("message_id", p.msg.ID), slog.String("key", p.key), slog.Int("attempts", p.attempts))
				r.g.event(context.Background(), EventCompleteRetried, p.msg)
			case errors.Is(err, ErrLeaseLost) && r.landed(p):
				r.g.o.Logger.Info("idempotency: record found completed by the background retry (an earlier attempt landed although it reported an error)",
					slog.String("message_id", p.msg.ID), slog.String("key", p.key), slog.Int("attempts", p.attempts))
				r.g.event(context.Background(), EventCompleteRetried, p.msg)
			case errors.Is(err, ErrLeaseLost):
				r.giveUp(p, err)
			default:
				p.err = err
				again = append(again, p)
			}
		}
		todo = again
	} else {
		todo = nil
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = append(r.pending, todo...)
	if len(r.pending) > 0 {
		return true
	}
	r.running = false
	if r.idle != nil {
		close(r.idle)
		r.idle = nil
	}
	return false
}

// landed reports whether p's record is COMPLETED for p's payload: a
// completion whose reply was lost (the store died after applying it) makes
// the retry find the token gone although the effect is recorded.
func (r *retrier) landed(p pendingCompletion) bool {
	ctx, cancel := context.WithTimeout(context.Background(), retryTimeout)
	defer cancel()
	rec, err := r.g.store.Get(ctx, p.key)
	return err == nil && rec.Status == StatusCompleted && !mismatch(p.fp, rec.Fingerprint)
}

// giveUp reports p as lost. Its key stays in the cache: the effect happened
// in this process, so a redelivery here is still acknowledged.
func (r *retrier) giveUp(p pendingCompletion, err error) {
	r.g.completeFailed(context.Background(), p.msg, p.key, p.attempts, err)
}

// flush retries at once and waits until nothing is pending or ctx ends.
func (r *retrier) flush(ctx context.Context) error {
	for {
		r.mu.Lock()
		idle, n := r.idle, len(r.pending)
		r.mu.Unlock()
		if idle == nil {
			return nil
		}
		select {
		case r.kick <- struct{}{}:
		default:
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return fmt.Errorf("idempotency: flush: %d completions still pending: %w", n, ctx.Err())
		}
	}
}
