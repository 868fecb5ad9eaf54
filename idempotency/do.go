package idempotency

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/eventfn/eventfn/handler"
)

// DoOptions configure Do. The zero value is ready to use.
type DoOptions struct {
	// Scope separates keys of different operations. Default: "do".
	Scope string
	// Fingerprint identifies the call's input; a later call with the same key
	// and another fingerprint fails with ErrPayloadMismatch. Default: none.
	Fingerprint string
	// TTL is how long the result is kept. Default: 24h.
	TTL time.Duration
	// Lease bounds how long a call may run before a concurrent call may take
	// the key over. Default: the time left before ctx's deadline, else 5m.
	Lease time.Duration
	// WaitInProgress is how long a call waits for a concurrent call with the
	// same key before failing with ErrInProgress. Default: 0.
	WaitInProgress time.Duration
	// Logger receives the error when a result cannot be stored.
	// Default: slog.Default().
	Logger *slog.Logger
}

// Do runs fn at most once per key, even across processes, retries and
// crashes: the first call that claims key runs fn and stores its result as
// JSON; later calls return that stored result without running fn. If fn
// fails, the claim is released and a later call runs fn again. A concurrent
// call while fn is running gets ErrInProgress (retryable). Use Do for a side
// effect inside a handler, such as a payment call or an email.
//
// If fn succeeds but its result cannot be stored, Do still returns the
// result (the effect happened) and logs the error.
func Do[T any](ctx context.Context, store Store, key string, fn func(context.Context) (T, error), opts *DoOptions) (T, error) {
	var zero T
	var o DoOptions
	if opts != nil {
		o = *opts
	}
	if o.Scope == "" {
		o.Scope = "do"
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Lease <= 0 {
		o.Lease = leaseFor(ctx, DefaultLease, DefaultMinLease, DefaultMaxLease)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if key == "" {
		return zero, handler.Permanent(fmt.Errorf("%w: Do called with an empty key", ErrNoKey))
	}
	k := HashKey(o.Scope, key)
	req := ClaimRequest{Key: k, Fingerprint: o.Fingerprint, Lease: o.Lease}
	c, err := acquire(ctx, store, req, nil, o.WaitInProgress)
	if err != nil {
		return zero, fmt.Errorf("idempotency: Do %q: claim: %w", key, err)
	}
	if !c.Acquired {
		if err := blocked(c, o.Fingerprint, fmt.Sprintf("Do %q", key), 1, DefaultInProgressRetry); err != nil {
			return zero, err
		}
		var v T
		if len(c.Existing.Result) > 0 {
			if err := json.Unmarshal(c.Existing.Result, &v); err != nil {
				return zero, handler.Permanent(fmt.Errorf("idempotency: Do %q: stored result does not decode into %T: %w", key, v, err))
			}
		}
		return v, nil
	}
	v, err := callSafe(ctx, fn)
	fctx, cancel := detached(ctx)
	defer cancel()
	if err != nil {
		if rerr := store.Release(fctx, k, c.Token); rerr != nil && !errors.Is(rerr, ErrLeaseLost) {
			o.Logger.WarnContext(ctx, "idempotency: Do: could not release claim; the lease will free the key", "key", key, "error", rerr)
		}
		return zero, err
	}
	result, merr := json.Marshal(v)
	if merr != nil {
		// The effect happened but its result cannot be kept: store none, so
		// later calls get the zero value rather than running fn again.
		o.Logger.ErrorContext(ctx, "idempotency: Do: result does not encode as JSON; storing none", "key", key, "error", merr)
		result = nil
	}
	var cerr error
	for attempt := 1; attempt <= doCompleteAttempts; attempt++ {
		if cerr = store.Complete(fctx, k, c.Token, result, o.TTL); cerr == nil || errors.Is(cerr, ErrLeaseLost) {
			break
		}
		if !sleepCtx(fctx, time.Duration(attempt)*50*time.Millisecond) {
			break
		}
	}
	if cerr != nil {
		o.Logger.ErrorContext(ctx, "idempotency: Do: fn succeeded but its result could not be stored; a later call may run it again", "key", key, "error", cerr)
	}
	return v, nil
}

func callSafe[T any](ctx context.Context, fn func(context.Context) (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &handler.PanicError{Value: r}
		}
	}()
	return fn(ctx)
}

// doCompleteAttempts is how many times Do tries to store a result before it
// returns the result anyway: its caller is waiting for it.
const doCompleteAttempts = 3
