package idempotency

import (
	"context"
	"fmt"
	"time"

	"github.com/eventfn/eventfn/handler"
)

// finishTimeout bounds Complete and Release, which run on a context detached
// from the handler's cancellation: a handler that finished right at its
// deadline must still be able to record its outcome.
const finishTimeout = 5 * time.Second

// acquire returns a claim for req, polling for up to wait while another
// delivery holds the key under a live lease. first, when not nil, is a claim
// already made (by a batch claim). The returned claim is Acquired, or holds
// the blocking record: COMPLETED, or IN_PROGRESS once wait has run out, or
// one with a different fingerprint.
func acquire(ctx context.Context, store Store, req ClaimRequest, first *Claim, wait time.Duration) (Claim, error) {
	var c Claim
	var err error
	if first != nil {
		c = *first
	} else if c, err = store.Claim(ctx, req); err != nil {
		return c, err
	}
	until := time.Now().Add(wait)
	poll := 20 * time.Millisecond
	for {
		if !c.Acquired && c.Existing == nil {
			return c, fmt.Errorf("%w: the store answered a claim of %q neither acquired nor blocked by a record", ErrStore, req.Key)
		}
		if c.Acquired || c.Existing.Status == StatusCompleted || mismatch(req.Fingerprint, c.Existing.Fingerprint) {
			return c, nil
		}
		left := time.Until(until)
		if left <= 0 {
			return c, nil
		}
		t := time.NewTimer(min(poll, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return c, ctx.Err()
		case <-t.C:
		}
		poll = min(poll*2, 500*time.Millisecond)
		if c, err = store.Claim(ctx, req); err != nil {
			return c, err
		}
	}
}

func mismatch(want, have string) bool { return want != "" && have != "" && want != have }

// blocked turns a claim that was not acquired into the error a delivery
// returns: nil for a COMPLETED duplicate, a permanent ErrPayloadMismatch, or
// a retryable ErrInProgress that asks to come back after inProgressDelay.
func blocked(c Claim, fp, what string, attempt int, base time.Duration) error {
	ex := c.Existing
	if mismatch(fp, ex.Fingerprint) {
		return handler.Permanent(fmt.Errorf("%w: %s (stored fingerprint %.12s, this payload %.12s)", ErrPayloadMismatch, what, ex.Fingerprint, fp))
	}
	if ex.Status == StatusCompleted {
		return nil
	}
	return handler.RetryAfter(inProgressDelay(base, attempt, ex.LeaseExpiry), fmt.Errorf("%w: %s", ErrInProgress, what))
}

// inProgressDelay is how long a delivery that found its key in progress
// asks to wait: base on the first delivery, doubling with each attempt, and
// never past the holder's lease (when the store reports it). Short and
// growing, because the holder usually finishes soon and every redelivery
// spends one of the queue's receives toward its dead-letter limit.
func inProgressDelay(base time.Duration, attempt int, leaseEnd time.Time) time.Duration {
	d := base << min(max(attempt-1, 0), 16)
	if !leaseEnd.IsZero() {
		if left := time.Until(leaseEnd); left > 0 && left < d {
			d = left
		}
	}
	return max(d, time.Millisecond)
}

// detached returns a context for store calls that follow a handler run: it
// ignores cancellation (the run is over; its outcome must be recorded) but
// keeps a deadline that has not passed yet, so recording never makes an
// invocation overrun its timeout: under handler.Process, finishers get a
// context that ends inside the deadline margin. Past the deadline it allows
// finishTimeout (a run abandoned at the deadline records itself late).
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	limit := time.Now().Add(finishTimeout)
	dl, ok := ctx.Deadline()
	if ok && dl.After(time.Now()) && dl.Before(limit) {
		limit = dl
	}
	return context.WithDeadline(context.WithoutCancel(ctx), limit)
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
