package middleware

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/eventfn/eventfn/handler"
)

// RetryOptions configure Retry. The zero value is ready to use.
type RetryOptions struct {
	// MaxAttempts is how many times a message is tried in process, the
	// first try included. Default: 3. 1 turns retrying off.
	MaxAttempts int
	// InitialInterval is the backoff before the second attempt; each later
	// one doubles it, up to MaxInterval. The actual wait is drawn uniformly
	// from zero to that backoff (full jitter). Default: 100ms.
	InitialInterval time.Duration
	// MaxInterval caps the backoff, and a handler.RetryAfter delay longer
	// than it is left to the platform. Default: 2s.
	MaxInterval time.Duration
	// MaxElapsed bounds the time from the first failure to the start of
	// the last attempt. Default: 5s.
	MaxElapsed time.Duration
	// Retryable reports whether an error is worth another attempt in
	// process. It is never asked about errors marked handler.Permanent,
	// which are never retried. Default: every other error.
	Retryable func(err error) bool
	// OnRetry, if set, is called before each wait with the attempt that
	// failed (1-based), its error and the wait. It must be fast.
	OnRetry func(ctx context.Context, m *handler.Message, attempt int, err error, wait time.Duration)
}

// Defaults of RetryOptions.
const (
	DefaultRetryAttempts   = 3
	DefaultRetryInitial    = 100 * time.Millisecond
	DefaultRetryMaxBackoff = 2 * time.Second
	DefaultRetryMaxElapsed = 5 * time.Second
)

type attemptKey struct{}

// Attempt returns the in-process attempt ctx belongs to: 1 for the first
// try (and outside Retry), 2 for the first retry, and so on. The
// platform's count is Message.DeliveryAttempt; together they say how many
// times a message has run. It is safe for concurrent use.
func Attempt(ctx context.Context) int {
	if n, ok := ctx.Value(attemptKey{}).(int); ok {
		return n
	}
	return 1
}

// Retry returns a middleware that retries a failed message in process with
// exponential backoff and full jitter, within MaxAttempts and MaxElapsed,
// and never past the context's deadline: an attempt is not started unless
// the wait, plus as long as the previous retry took, still ends before it
// (under handler.Process, that is the invocation's deadline minus its
// margin). Permanent errors and those Retryable refuses are returned at
// once. A handler.RetryAfter delay replaces the backoff when it fits that
// budget and MaxInterval; otherwise the error is returned, so the platform
// waits instead of the invocation. The last attempt's error is returned.
// Each retry is logged at Debug to the message's logger (LoggerFrom). A
// message that succeeds at once reads no clock. With MaxAttempts 1 the
// middleware returns the handler unchanged. It is safe for concurrent use.
func Retry(opts *RetryOptions) handler.Middleware {
	var o RetryOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultRetryAttempts
	}
	if o.InitialInterval <= 0 {
		o.InitialInterval = DefaultRetryInitial
	}
	if o.MaxInterval <= 0 {
		o.MaxInterval = DefaultRetryMaxBackoff
	}
	if o.MaxInterval < o.InitialInterval {
		o.MaxInterval = o.InitialInterval
	}
	if o.MaxElapsed <= 0 {
		o.MaxElapsed = DefaultRetryMaxElapsed
	}
	return func(h handler.Handler) handler.Handler {
		if o.MaxAttempts == 1 {
			return h
		}
		return handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error { return o.run(ctx, h, m) })
	}
}

func (o *RetryOptions) run(ctx context.Context, h handler.Handler, m *handler.Message) error {
	err := h.Handle(ctx, m)
	if err == nil {
		return nil // the common case reads no clock
	}
	// The budget runs from the first failure: the first attempt is not
	// timed, so a message that succeeds at once costs no clock reads.
	start := time.Now()
	var took time.Duration // the previous attempt's duration; unknown for the first
	for attempt := 1; ; attempt++ {
		if attempt >= o.MaxAttempts || handler.IsPermanent(err) || ctx.Err() != nil {
			return err
		}
		if o.Retryable != nil && !o.Retryable(err) {
			return err
		}
		wait := o.backoff(attempt)
		if d, ok := handler.RetryDelay(err); ok {
			if d > o.MaxInterval {
				return err // the platform holds the message back; the invocation does not
			}
			wait = d
		}
		now := time.Now()
		if now.Add(wait).Sub(start) > o.MaxElapsed {
			return err
		}
		if dl, ok := ctx.Deadline(); ok && !now.Add(wait+took).Before(dl) {
			return err // the next attempt would likely run past the deadline
		}
		if o.OnRetry != nil {
			o.OnRetry(ctx, m, attempt, err, wait)
		}
		if l := LoggerFrom(ctx); l.Enabled(ctx, slog.LevelDebug) {
			l.LogAttrs(ctx, slog.LevelDebug, "message attempt failed; retrying in process",
				slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.String(LogError, err.Error()))
		}
		if !sleep(ctx, wait) || ctx.Err() != nil {
			return err
		}
		t0 := time.Now()
		if dl, ok := ctx.Deadline(); ok && !t0.Before(dl) {
			return err // the timer fired late
		}
		err = h.Handle(context.WithValue(ctx, attemptKey{}, attempt+1), m)
		if err == nil {
			return nil
		}
		took = time.Since(t0)
	}
}

// backoff returns the full-jitter wait after the attempt-th failure:
// uniform in [0, min(MaxInterval, InitialInterval·2^(attempt-1))].
func (o *RetryOptions) backoff(attempt int) time.Duration {
	b := o.InitialInterval
	for i := 1; i < attempt && b < o.MaxInterval; i++ {
		b *= 2
	}
	b = min(b, o.MaxInterval)
	return time.Duration(rand.Int64N(int64(b) + 1))
}

// sleep waits d or until ctx ends, and reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
