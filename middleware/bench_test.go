package middleware_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/middleware"
)

type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

// BenchmarkDefaults runs a no-op handler bare and under the default stack
// in the same run, b.N messages each, and reports the stack's time per
// message (ns/op), the bare handler's (bare-ns/msg), the difference
// (overhead-ns/msg) and the ratio (x-bare). Logs go to a JSON handler on
// io.Discard at Info (successes are not written); metrics to the global
// (no-op) meter provider. Tracing on uses the SDK with a batch span
// processor and an exporter that discards, every span sampled, each
// message carrying a traceparent; it also reports what the SDK alone
// takes for one span of the same shape (sdk-span-ns/msg: as many
// attributes, the producer as remote parent and link) and the stack's own
// share, overhead minus that (own-ns/msg).
func BenchmarkDefaults(b *testing.B) {
	noop := handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil })
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardSpans{}), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	for _, bc := range []struct {
		name string
		opts middleware.Options
	}{
		{"tracing=off", middleware.Options{Logger: logger, DisableTracing: true}},
		{"tracing=on", middleware.Options{Logger: logger, Tracing: &middleware.TracingOptions{TracerProvider: tp}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			stack := handler.Chain(noop, middleware.Defaults(&bc.opts))
			m := &handler.Message{ID: "m-1", Body: []byte(`{"id":"o-1"}`), Source: handler.SourceSQS,
				Queue: "arn:aws:sqs:us-east-1:123456789012:orders", DeliveryAttempt: 1,
				Attributes: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
			ctx := context.Background()
			var h handler.Handler = noop
			t0 := time.Now()
			for range b.N {
				_ = h.Handle(ctx, m)
			}
			bare := time.Since(t0)
			sdk := time.Duration(-1)
			if bc.opts.Tracing != nil {
				tr := tp.Tracer("reference")
				attrs := []attribute.KeyValue{attribute.String("a", "1"), attribute.String("b", "2"), attribute.String("c", "3"),
					attribute.String("d", "4"), attribute.String("e", "5"), attribute.Int("f", 6)}
				pc := middleware.ProducerSpanContext(m)
				t1 := time.Now()
				for range b.N {
					_, s := tr.Start(trace.ContextWithRemoteSpanContext(ctx, pc), "process orders", trace.WithSpanKind(trace.SpanKindConsumer),
						trace.WithAttributes(attrs...), trace.WithLinks(trace.Link{SpanContext: pc}))
					s.End()
				}
				sdk = time.Since(t1)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := stack.Handle(ctx, m); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			elapsed := b.Elapsed()
			n := float64(b.N)
			b.ReportMetric(float64(bare.Nanoseconds())/n, "bare-ns/msg")
			b.ReportMetric(float64((elapsed-bare).Nanoseconds())/n, "overhead-ns/msg")
			b.ReportMetric(float64(elapsed)/float64(max(bare, 1)), "x-bare")
			if sdk >= 0 {
				b.ReportMetric(float64(sdk.Nanoseconds())/n, "sdk-span-ns/msg")
				b.ReportMetric(float64((elapsed-bare-sdk).Nanoseconds())/n, "own-ns/msg")
			}
		})
	}
}
