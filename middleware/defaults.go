package middleware

import (
	"log/slog"
	"time"

	"github.com/eventfn/eventfn/handler"
)

// Options configure Defaults. The zero value is ready to use: every layer
// on with its own defaults, no per-message timeout, no idempotency.
type Options struct {
	// Logger is the logger of every layer. Default: PlatformLogger().
	Logger *slog.Logger
	// Logging configures the logging layer; its Logger defaults to Logger.
	Logging *LoggingOptions
	// Recover configures the recover layer. Default: Quiet, since the
	// logging layer logs panics with their stack.
	Recover *RecoverOptions
	// Tracing configures the tracing layer. See DisableTracing.
	Tracing *TracingOptions
	// DisableTracing leaves the tracing layer out.
	DisableTracing bool
	// Metrics records the metrics; create it with NewMetrics to pass its
	// ResultHook to the adapter and its IdempotencyEvent to the
	// idempotency middleware. Default: NewMetrics(nil). See DisableMetrics.
	Metrics *Metrics
	// DisableMetrics leaves the metrics layer out.
	DisableMetrics bool
	// Timeout bounds each message (see Timeout). Default: none beyond the
	// invocation's deadline.
	Timeout time.Duration
	// Breaker guards the handler. Default: NewBreaker with the
	// BreakerOptions defaults, its state changes logged to Logger and
	// counted by Metrics. See DisableBreaker.
	Breaker *CircuitBreaker
	// DisableBreaker leaves the breaker out.
	DisableBreaker bool
	// Retry configures in-process retries. Default: RetryOptions defaults.
	// See DisableRetry.
	Retry *RetryOptions
	// DisableRetry leaves in-process retries out.
	DisableRetry bool
	// Idempotency, typically idempotency.Middleware(store, opts), runs
	// just outside Retry (see Defaults). Default: none.
	Idempotency handler.Middleware
}

// Defaults returns eventfn's recommended middleware stack, outermost
// first:
//
//  1. Recover, outermost, so a panic anywhere below, in middleware too,
//     becomes that message's error.
//  2. Logging, so each message's logger is in the context of every layer
//     below, and the line it logs shows the outcome the platform is told,
//     breaker rejections and timeouts included.
//  3. Tracing, so the consumer span covers everything the message costs:
//     retries, breaker waits, idempotency round trips.
//  4. Metrics, inside the span, counting each message once with its final
//     outcome and its whole duration.
//  5. Timeout, bounding the message as a whole, retries included, so
//     retrying cannot stretch one message past its budget.
//  6. Breaker, outside idempotency and Retry, so a message counts once
//     against the dependency and an open breaker fails fast without a
//     store round trip or a retry.
//  7. Options.Idempotency, outside Retry: the key is claimed once and
//     held across the attempts, so no other delivery can take it between
//     them, a duplicate is skipped before any attempt, and the record is
//     completed once. (Inside Retry, a second attempt of a message in a
//     batch would only repeat the first attempt's failure: the middleware
//     follows the batch's earlier outcome for a key.)
//  8. Retry, innermost, re-running only the handler.
//
// The returned middleware is safe for concurrent use; handlers it wraps
// share one breaker and one Metrics.
func Defaults(opts *Options) handler.Middleware {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = PlatformLogger()
	}
	var mws []handler.Middleware
	rec := RecoverOptions{Quiet: true}
	if o.Recover != nil {
		rec = *o.Recover
	}
	if rec.Logger == nil {
		rec.Logger = o.Logger
	}
	mws = append(mws, Recover(&rec))
	lo := LoggingOptions{}
	if o.Logging != nil {
		lo = *o.Logging
	}
	if lo.Logger == nil {
		lo.Logger = o.Logger
	}
	mws = append(mws, Logging(&lo))
	if !o.DisableTracing {
		mws = append(mws, Tracing(o.Tracing))
	}
	m := o.Metrics
	if !o.DisableMetrics {
		if m == nil {
			m = NewMetrics(nil)
		}
		mws = append(mws, m.Middleware())
	}
	mws = append(mws, Timeout(o.Timeout))
	if !o.DisableBreaker {
		b := o.Breaker
		if b == nil {
			bo := BreakerOptions{Logger: o.Logger}
			if m != nil && !o.DisableMetrics {
				bo.OnStateChange = m.BreakerStateChange
			}
			b = NewBreaker(&bo)
		}
		mws = append(mws, b.Middleware())
	}
	mws = append(mws, o.Idempotency)
	if !o.DisableRetry {
		mws = append(mws, Retry(o.Retry))
	}
	return func(h handler.Handler) handler.Handler { return handler.Chain(h, mws...) }
}
