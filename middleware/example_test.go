package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/sony/gobreaker/v2"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/memstore"
	"github.com/eventfn/eventfn/middleware"
)

var charge = handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
	middleware.LoggerFrom(ctx).InfoContext(ctx, "charging")
	return nil
})

// The recommended stack with idempotency, its metrics wired to the
// idempotency middleware (and, in a real function, metrics.ResultHook() to
// the adapter's options).
func ExampleDefaults() {
	metrics := middleware.NewMetrics(nil)
	store := middleware.TraceStore(memstore.New(nil), nil)
	h := handler.Chain(charge, middleware.Defaults(&middleware.Options{
		Logger:  slog.New(slog.DiscardHandler),
		Metrics: metrics,
		Timeout: 10 * time.Second,
		Idempotency: idempotency.Middleware(store, &idempotency.Options{
			Scope:   "orders",
			OnEvent: middleware.IdempotencyEvents(metrics.IdempotencyEvent, middleware.TraceIdempotencyEvent),
		}),
	}))
	res := handler.Process(context.Background(), h, []*handler.Message{{ID: "m-1", Body: []byte("{}")}}, nil)
	fmt.Println(res[0].Outcome)
	// Output: ack
}

// Retry a flaky call twice in process, quickly; longer waits are the
// platform's.
func ExampleRetry() {
	calls := 0
	h := middleware.Retry(&middleware.RetryOptions{MaxAttempts: 3, InitialInterval: time.Millisecond})(
		handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
			calls++
			fmt.Println("attempt", middleware.Attempt(ctx), "delivery", m.DeliveryAttempt)
			if calls < 2 {
				return errors.New("connection reset")
			}
			return nil
		}))
	fmt.Println(h.Handle(context.Background(), &handler.Message{ID: "m-1", DeliveryAttempt: 1}))
	// Output:
	// attempt 1 delivery 1
	// attempt 2 delivery 1
	// <nil>
}

// Guard one dependency inside a handler; an open breaker asks the
// platform to redeliver after the cool-down.
func ExampleNewBreaker() {
	geo := middleware.NewBreaker(&middleware.BreakerOptions{
		Name:        "geocoder",
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 1 },
		Logger:      slog.New(slog.DiscardHandler),
	})
	h := handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		return geo.Do(ctx, func(ctx context.Context) error { return errors.New("503") })
	})
	_ = h.Handle(context.Background(), &handler.Message{ID: "m-1"})
	err := h.Handle(context.Background(), &handler.Message{ID: "m-2"})
	d, _ := handler.RetryDelay(err)
	fmt.Println(errors.Is(err, middleware.ErrBreakerOpen), d.Round(time.Second))
	// Output: true 30s
}

func ExampleTimeout() {
	h := middleware.Timeout(10 * time.Millisecond)(handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		<-ctx.Done()
		return context.Cause(ctx)
	}))
	fmt.Println(h.Handle(context.Background(), &handler.Message{ID: "m-1"}))
	// Output: middleware: message timeout
}

func ExampleRecover() {
	h := middleware.Recover(&middleware.RecoverOptions{Quiet: true})(handler.HandlerFunc(func(context.Context, *handler.Message) error {
		panic("nil map")
	}))
	err := h.Handle(context.Background(), &handler.Message{ID: "m-1"})
	fmt.Println(err, handler.Classify(err))
	// Output: handler: panic: nil map retry
}

func ExampleLogging() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == middleware.LogDuration {
				return slog.Attr{}
			}
			return a
		},
	}))
	h := middleware.Logging(&middleware.LoggingOptions{Logger: logger})(handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		return handler.Permanent(errors.New("amount must be positive"))
	}))
	_ = h.Handle(context.Background(), &handler.Message{ID: "m-1", Source: handler.SourceSQS, Queue: "orders", DeliveryAttempt: 2,
		Attributes: map[string]string{"correlation_id": "c-42"}})
	// Output: level=ERROR msg="message rejected; it will be dead-lettered" message_id=m-1 source=aws:sqs queue=orders delivery_attempt=2 correlation_id=c-42 outcome=reject error_class=permanent error="permanent: amount must be positive"
}

func ExampleTracing() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	h := middleware.Tracing(&middleware.TracingOptions{TracerProvider: tp})(charge)
	_ = h.Handle(context.Background(), &handler.Message{ID: "m-1", Source: handler.SourcePubSub, Queue: "projects/p/subscriptions/orders",
		Attributes: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}})
	s := rec.Ended()[0]
	fmt.Println(s.Name(), s.SpanContext().TraceID(), s.Parent().SpanID())
	// Output: process orders 4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7
}

// A producer writes its span's context into the attributes it publishes.
func ExampleInject() {
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("producer").Start(context.Background(), "publish orders")
	defer span.End()
	attrs := middleware.Inject(ctx, map[string]string{"type": "order.created"})
	fmt.Println(len(attrs["traceparent"]), attrs["type"])
	// Output: 55 order.created
}

// Metrics through the global OpenTelemetry meter provider and, here to
// stdout, as CloudWatch EMF: one line per batch with Processed, Acked,
// Failed, Duration and BatchSize under the Service and Queue dimensions.
// On Lambda, EMF goes to stdout by default.
func ExampleNewMetrics() {
	m := middleware.NewMetrics(&middleware.MetricsOptions{EMF: os.Stdout, Service: "orders-fn"})
	h := handler.Chain(handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }), m.Middleware())
	msgs := []*handler.Message{
		{ID: "m-1", Source: handler.SourceSQS, Queue: "arn:aws:sqs:us-east-1:123456789012:orders"},
		{ID: "m-2", Source: handler.SourceSQS, Queue: "arn:aws:sqs:us-east-1:123456789012:orders"},
	}
	handler.Process(context.Background(), h, msgs, nil)
}
