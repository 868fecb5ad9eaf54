package middleware

import (
	"context"
	"time"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// TraceStore wraps an idempotency store so that each of its calls runs in
// a client span: "idempotency claim", "idempotency complete",
// "idempotency release" and "idempotency get", with
// eventfn.idempotency.keys for batch calls and the error recorded. A
// BatchStore stays a BatchStore. Spans come from the store, not from
// idempotency.Options.OnEvent, because an event marks a decision, not the
// round trip a span measures, and because a batch's claim happens before
// any of its messages' spans exist (its span is then a child of the
// batch's context). Stores and the idempotency package stay free of
// OpenTelemetry. tp nil means otel.GetTracerProvider(). The returned store
// is safe for concurrent use if s is.
func TraceStore(s idempotency.Store, tp trace.TracerProvider) idempotency.Store {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	ts := tracedStore{s: s, t: tp.Tracer(ScopeName)}
	if bs, ok := s.(idempotency.BatchStore); ok {
		return &tracedBatchStore{tracedStore: ts, bs: bs}
	}
	return &ts
}

type tracedStore struct {
	s idempotency.Store
	t trace.Tracer
}

var _ idempotency.BatchStore = (*tracedBatchStore)(nil)

func (t *tracedStore) start(ctx context.Context, name string, keys int) (context.Context, trace.Span) {
	return t.t.Start(ctx, "idempotency "+name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.Int("eventfn.idempotency.keys", keys)))
}

// endSpan records the first of errs, if any, and ends span.
func endSpan(span trace.Span, errs ...error) {
	failed := 0
	var first error
	for _, err := range errs {
		if err != nil {
			if first == nil {
				first = err
			}
			failed++
		}
	}
	if first != nil {
		span.RecordError(first)
		span.SetStatus(codes.Error, first.Error())
		span.SetAttributes(attribute.Int("eventfn.idempotency.failed", failed))
	}
	span.End()
}

// Claim implements idempotency.Store.
func (t *tracedStore) Claim(ctx context.Context, req idempotency.ClaimRequest) (idempotency.Claim, error) {
	ctx, span := t.start(ctx, "claim", 1)
	c, err := t.s.Claim(ctx, req)
	if err == nil {
		span.SetAttributes(attribute.Bool("eventfn.idempotency.acquired", c.Acquired))
	}
	endSpan(span, err)
	return c, err
}

// Complete implements idempotency.Store.
func (t *tracedStore) Complete(ctx context.Context, key, token string, result []byte, ttl time.Duration) error {
	ctx, span := t.start(ctx, "complete", 1)
	err := t.s.Complete(ctx, key, token, result, ttl)
	endSpan(span, err)
	return err
}

// Release implements idempotency.Store.
func (t *tracedStore) Release(ctx context.Context, key, token string) error {
	ctx, span := t.start(ctx, "release", 1)
	err := t.s.Release(ctx, key, token)
	endSpan(span, err)
	return err
}

// Extend implements idempotency.Store: a span per heartbeat extension.
func (t *tracedStore) Extend(ctx context.Context, key, token string, lease time.Duration) error {
	ctx, span := t.start(ctx, "extend", 1)
	err := t.s.Extend(ctx, key, token, lease)
	endSpan(span, err)
	return err
}

// Get implements idempotency.Store.
func (t *tracedStore) Get(ctx context.Context, key string) (idempotency.Record, error) {
	ctx, span := t.start(ctx, "get", 1)
	r, err := t.s.Get(ctx, key)
	endSpan(span, err)
	return r, err
}

type tracedBatchStore struct {
	tracedStore
	bs idempotency.BatchStore
}

// ClaimBatch implements idempotency.BatchStore.
func (t *tracedBatchStore) ClaimBatch(ctx context.Context, reqs []idempotency.ClaimRequest) ([]idempotency.Claim, []error) {
	ctx, span := t.start(ctx, "claim", len(reqs))
	claims, errs := t.bs.ClaimBatch(ctx, reqs)
	acquired := 0
	for _, c := range claims {
		if c.Acquired {
			acquired++
		}
	}
	span.SetAttributes(attribute.Int("eventfn.idempotency.acquired_keys", acquired))
	endSpan(span, errs...)
	return claims, errs
}

// CompleteBatch implements idempotency.BatchStore.
func (t *tracedBatchStore) CompleteBatch(ctx context.Context, items []idempotency.Completion) []error {
	ctx, span := t.start(ctx, "complete", len(items))
	errs := t.bs.CompleteBatch(ctx, items)
	endSpan(span, errs...)
	return errs
}

// ReleaseBatch implements idempotency.BatchStore.
func (t *tracedBatchStore) ReleaseBatch(ctx context.Context, items []idempotency.Release) []error {
	ctx, span := t.start(ctx, "release", len(items))
	errs := t.bs.ReleaseBatch(ctx, items)
	endSpan(span, errs...)
	return errs
}

// TraceIdempotencyEvent adds the idempotency decision e as an event
// ("idempotency.duplicate", "idempotency.in_progress", ...) to the span in
// ctx, the message's consumer span under Tracing. Its signature fits
// idempotency.Options.OnEvent; combine it with Metrics.IdempotencyEvent
// through IdempotencyEvents. It is safe for concurrent use.
func TraceIdempotencyEvent(ctx context.Context, e idempotency.Event, m *handler.Message) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.AddEvent("idempotency." + e.String())
}

// IdempotencyEvents returns an idempotency.Options.OnEvent hook that calls
// each of fns in turn; nil entries are skipped. The hook is safe for
// concurrent use when every fn is.
func IdempotencyEvents(fns ...func(context.Context, idempotency.Event, *handler.Message)) func(context.Context, idempotency.Event, *handler.Message) {
	return func(ctx context.Context, e idempotency.Event, m *handler.Message) {
		for _, fn := range fns {
			if fn != nil {
				fn(ctx, e, m)
			}
		}
	}
}
