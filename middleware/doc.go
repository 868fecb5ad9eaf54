// Package middleware holds eventfn's cross-cutting handler middleware:
// in-process retry with backoff, a circuit breaker, a per-message timeout,
// panic recovery, structured logging with log/slog, OpenTelemetry tracing,
// and metrics through the OpenTelemetry metrics API or as CloudWatch
// Embedded Metric Format. Each is a handler.Middleware built from an
// options struct whose zero value is ready to use; one with nothing to do
// returns the handler unchanged. Defaults returns the recommended chain.
//
// The package links no cloud SDK: what only Lambda can provide (the
// request ID) lives in middleware/awslambda; the Google Cloud and Azure
// parts read environment variables and header formats only.
//
// # Which to use when
//
// handler.Process already recovers each message's panic into a
// *handler.PanicError and gives each handler a context that ends
// ProcessOptions.DeadlineMargin before the invocation's deadline. Recover
// adds a log line with the stack and a choice of outcome, and protects
// handlers called outside Process; Timeout bounds one message to less than
// what the invocation has left. Neither is needed for safety under Process.
//
// # Retries
//
// Retry's in-process attempts multiply with the platform's redeliveries:
// with RetryOptions.MaxAttempts 3 and an SQS maxReceiveCount of 5 a failing
// message runs up to 15 times before it is dead-lettered. In-process
// retries keep the batch and the invocation busy while they wait, so keep
// them few and short (2 or 3 attempts within a second or two, for blips),
// and leave long waits to the platform with handler.RetryAfter, which
// Retry honours only when the delay fits its budget.
package middleware
