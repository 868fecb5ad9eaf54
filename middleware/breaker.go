package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/sony/gobreaker/v2"
)

// ErrBreakerOpen matches, with errors.Is, the error a Breaker returns
// instead of running the handler while it is open (or half-open with
// every probe taken). It also matches gobreaker.ErrOpenState or
// gobreaker.ErrTooManyRequests.
var ErrBreakerOpen = errors.New("middleware: circuit breaker open")

// BreakerOptions configure a Breaker. The zero value is ready to use.
type BreakerOptions struct {
	// Name identifies the breaker in logs and metrics: the dependency it
	// guards. Default: "handler".
	Name string
	// CoolDown is how long the breaker stays open before it lets probes
	// through (half-open). Default: 30s.
	CoolDown time.Duration
	// Probes is how many calls may run at once while half-open; that many
	// successes in a row close the breaker, one failure opens it again.
	// Default: 1.
	Probes uint32
	// Interval is how often the closed breaker forgets its counts.
	// Default: 60s.
	Interval time.Duration
	// ReadyToTrip decides, after a failure, whether the closed breaker
	// opens. Default: 5 consecutive failures.
	ReadyToTrip func(c gobreaker.Counts) bool
	// IsFailure reports whether an error counts against the dependency.
	// Default: every error except those marked handler.Permanent (a bad
	// payload says nothing about the dependency's health), context
	// cancellation and idempotency.ErrInProgress (a duplicate in flight).
	IsFailure func(err error) bool
	// Logger receives a line per state change: Warn when it opens, Info
	// otherwise. Default: slog.Default().
	Logger *slog.Logger
	// OnStateChange, if set, is called after each state change, for
	// metrics (see Metrics.BreakerStateChange). It must be fast.
	OnStateChange func(name string, from, to gobreaker.State)
}

// Defaults of BreakerOptions.
const (
	DefaultBreakerName     = "handler"
	DefaultBreakerCoolDown = 30 * time.Second
	DefaultBreakerInterval = 60 * time.Second
	DefaultBreakerTrip     = 5
)

// CircuitBreaker guards a handler or a dependency with a
// github.com/sony/gobreaker/v2 circuit breaker. While it is open it fails
// fast with handler.RetryAfter(the rest of the cool-down), so the platform
// holds messages back instead of hammering the dependency; then it lets
// probes through, and closes again when they succeed. A CircuitBreaker is
// safe for concurrent use; share one across every message that uses the
// same dependency.
type CircuitBreaker struct {
	cb       *gobreaker.CircuitBreaker[struct{}]
	coolDown time.Duration
	openedAt atomic.Int64 // unix nanoseconds of the last transition to open
}

// NewBreaker returns a CircuitBreaker configured by opts.
func NewBreaker(opts *BreakerOptions) *CircuitBreaker {
	var o BreakerOptions
	if opts != nil {
		o = *opts
	}
	if o.Name == "" {
		o.Name = DefaultBreakerName
	}
	if o.CoolDown <= 0 {
		o.CoolDown = DefaultBreakerCoolDown
	}
	if o.Interval <= 0 {
		o.Interval = DefaultBreakerInterval
	}
	if o.Probes == 0 {
		o.Probes = 1
	}
	if o.ReadyToTrip == nil {
		o.ReadyToTrip = func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= DefaultBreakerTrip }
	}
	isFailure := o.IsFailure
	if isFailure == nil {
		isFailure = func(err error) bool {
			return !handler.IsPermanent(err) && !errors.Is(err, context.Canceled) && !errors.Is(err, idempotency.ErrInProgress)
		}
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	b := &CircuitBreaker{coolDown: o.CoolDown}
	b.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         o.Name,
		MaxRequests:  o.Probes,
		Interval:     o.Interval,
		Timeout:      o.CoolDown,
		ReadyToTrip:  o.ReadyToTrip,
		IsSuccessful: func(err error) bool { return err == nil || !isFailure(err) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			level := slog.LevelInfo
			if to == gobreaker.StateOpen {
				b.openedAt.Store(time.Now().UnixNano())
				level = slog.LevelWarn
			}
			logger.LogAttrs(context.Background(), level, "middleware: circuit breaker "+to.String(),
				slog.String("breaker", name), slog.String("from", from.String()), slog.String("to", to.String()))
			if o.OnStateChange != nil {
				o.OnStateChange(name, from, to)
			}
		},
	})
	return b
}

// Name returns the breaker's name.
func (b *CircuitBreaker) Name() string { return b.cb.Name() }

// State returns the breaker's current state.
func (b *CircuitBreaker) State() gobreaker.State { return b.cb.State() }

// Do runs fn through the breaker: while the breaker is open it returns an
// error matching ErrBreakerOpen, wrapped with handler.RetryAfter for the
// rest of the cool-down, without calling fn; otherwise it returns fn's
// error.
func (b *CircuitBreaker) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	_, err := b.cb.Execute(func() (struct{}, error) { return struct{}{}, fn(ctx) })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return handler.RetryAfter(b.remaining(), &openError{name: b.cb.Name(), err: err})
	}
	return err
}

// Middleware returns a middleware that runs each message through b.
func (b *CircuitBreaker) Middleware() handler.Middleware {
	return func(h handler.Handler) handler.Handler {
		return handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
			return b.Do(ctx, func(ctx context.Context) error { return h.Handle(ctx, m) })
		})
	}
}

// remaining is the rest of the cool-down, at least a second (the finest
// delay the platforms honour); a second when half-open, where a probe
// decides soon.
func (b *CircuitBreaker) remaining() time.Duration {
	d := time.Second
	if at := b.openedAt.Load(); at != 0 && b.cb.State() == gobreaker.StateOpen {
		d = b.coolDown - time.Since(time.Unix(0, at))
	}
	return max(d, time.Second)
}

// Breaker returns a middleware that runs every message through a new
// CircuitBreaker configured by opts, shared by every handler it wraps. Use
// NewBreaker to share a breaker or to guard one dependency inside a
// handler. It is safe for concurrent use.
func Breaker(opts *BreakerOptions) handler.Middleware { return NewBreaker(opts).Middleware() }

type openError struct {
	name string
	err  error
}

func (e *openError) Error() string {
	return fmt.Sprintf("middleware: circuit breaker %q: %v", e.name, e.err)
}

func (e *openError) Unwrap() error { return e.err }

func (e *openError) Is(target error) bool { return target == ErrBreakerOpen }
