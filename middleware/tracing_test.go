package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/middleware"
)

func attrMap(kvs []attribute.KeyValue) map[string]attribute.Value {
	m := map[string]attribute.Value{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value
	}
	return m
}

func TestTracingStartsAConsumerSpanContinuingTheProducer(t *testing.T) {
	tp, rec := newTracing(t)
	var inner trace.SpanContext
	h := middleware.Tracing(&middleware.TracingOptions{TracerProvider: tp})(handler.HandlerFunc(func(ctx context.Context, _ *handler.Message) error {
		inner = trace.SpanContextFromContext(ctx)
		return nil
	}))
	m := msg("m-1")
	m.Attributes = map[string]string{"traceparent": traceparent}
	if err := h.Handle(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	s := spans[0]
	if s.Name() != "process orders" || s.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("span %q kind %v, want \"process orders\" consumer", s.Name(), s.SpanKind())
	}
	a := attrMap(s.Attributes())
	for k, v := range map[string]string{
		"messaging.system": "aws_sqs", "messaging.operation.type": "process", "messaging.operation.name": "process",
		"messaging.destination.name": "orders", "messaging.message.id": "m-1",
	} {
		if a[k].Emit() != v {
			t.Errorf("%s = %q, want %q", k, a[k].Emit(), v)
		}
	}
	if a["messaging.message.body.size"].AsInt64() != int64(len(m.Body)) {
		t.Errorf("body size = %v", a["messaging.message.body.size"])
	}
	if _, ok := a["messaging.batch.message_count"]; ok {
		t.Error("batch count set outside a batch")
	}
	if s.Parent().TraceID().String() != traceID || s.Parent().SpanID().String() != "00f067aa0ba902b7" || !s.Parent().IsRemote() {
		t.Errorf("parent = %v, want the producer's span", s.Parent())
	}
	if len(s.Links()) != 1 || s.Links()[0].SpanContext.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("links = %v, want one to the producer", s.Links())
	}
	if _, ok := a["eventfn.outcome"]; s.Status().Code != codes.Unset || ok {
		t.Errorf("status = %v, outcome attribute %v; want unset and none for an ack", s.Status(), a["eventfn.outcome"])
	}
	if inner.SpanID() != s.SpanContext().SpanID() {
		t.Error("the handler's context does not hold the consumer span")
	}
}

func TestTracingUnderAnInvocationSpanLinksTheProducer(t *testing.T) {
	tp, rec := newTracing(t)
	ctx, inv := tp.Tracer("test").Start(context.Background(), "invocation")
	h := middleware.Tracing(&middleware.TracingOptions{TracerProvider: tp})(handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }))
	m := msg("m-1")
	m.Attributes = map[string]string{"AWSTraceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}
	_ = h.Handle(ctx, m)
	inv.End()
	s := rec.Ended()[0]
	if s.Parent().SpanID() != inv.SpanContext().SpanID() {
		t.Errorf("parent = %v, want the invocation span", s.Parent())
	}
	if len(s.Links()) != 1 || s.Links()[0].SpanContext.TraceID().String() != "5759e988bd862e3fe1be46a994272793" {
		t.Errorf("links = %v, want the X-Ray producer", s.Links())
	}
}

func TestTracingLinkOnly(t *testing.T) {
	tp, rec := newTracing(t)
	h := middleware.Tracing(&middleware.TracingOptions{TracerProvider: tp, LinkOnly: true})(handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }))
	m := msg("m-1")
	m.Attributes = map[string]string{"traceparent": traceparent}
	_ = h.Handle(context.Background(), m)
	s := rec.Ended()[0]
	if s.Parent().IsValid() || len(s.Links()) != 1 || s.SpanContext().TraceID().String() == traceID {
		t.Errorf("parent %v links %v: want a new root trace linked to the producer", s.Parent(), s.Links())
	}
}

func TestTracingSetsStatusFromTheOutcome(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fn        handler.HandlerFunc
		outcome   string
		errorType string
	}{
		{"a transient error", func(context.Context, *handler.Message) error { return errBlip }, "retry", "transient"},
		{"a permanent error", func(context.Context, *handler.Message) error { return handler.Permanent(errBlip) }, "reject", "permanent"},
		{"a panic", boom, "retry", "panic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp, rec := newTracing(t)
			h := middleware.Tracing(&middleware.TracingOptions{TracerProvider: tp})(tc.fn)
			res := handler.Process(context.Background(), h, []*handler.Message{msg("a"), msg("b")}, nil)
			if res[0].Outcome.String() != tc.outcome {
				t.Errorf("outcome = %v", res[0].Outcome)
			}
			spans := rec.Ended()
			if len(spans) != 2 {
				t.Fatalf("%d spans, want 2", len(spans))
			}
			for _, s := range spans {
				a := attrMap(s.Attributes())
				if s.Status().Code != codes.Error || a["eventfn.outcome"].AsString() != tc.outcome || a["error.type"].AsString() != tc.errorType {
					t.Errorf("status %v, outcome %v, error.type %v; want error, %s, %s", s.Status(), a["eventfn.outcome"], a["error.type"], tc.outcome, tc.errorType)
				}
				if a["messaging.batch.message_count"].AsInt64() != 2 {
					t.Errorf("batch count = %v, want 2", a["messaging.batch.message_count"])
				}
				if len(s.Events()) == 0 || s.Events()[0].Name != "exception" {
					t.Errorf("events = %v, want the error recorded", s.Events())
				}
			}
		})
	}
}

func TestTracingWithAMalformedTraceparentStartsANewTrace(t *testing.T) {
	tp, rec := newTracing(t)
	h := middleware.Tracing(&middleware.TracingOptions{TracerProvider: tp})(handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }))
	m := msg("m-1")
	m.Attributes = map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-zz-01", "tracestate": "=,=,"}
	if err := h.Handle(context.Background(), m); err != nil {
		t.Fatalf("Handle = %v, want the message processed", err)
	}
	s := rec.Ended()[0]
	if s.Parent().IsValid() || len(s.Links()) != 0 || !s.SpanContext().IsValid() {
		t.Errorf("parent %v links %v, want a valid root span without links", s.Parent(), s.Links())
	}
}

func TestTracingWithANoopProviderReturnsTheHandler(t *testing.T) {
	h := handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil })
	if _, ok := middleware.Tracing(&middleware.TracingOptions{TracerProvider: noop.NewTracerProvider()})(h).(handler.HandlerFunc); !ok {
		t.Error("Tracing with a noop provider wrapped the handler")
	}
}

// blockingExporter blocks every export until released; failingExporter
// fails every export.
type blockingExporter struct{ release chan struct{} }

func (e blockingExporter) ExportSpans(ctx context.Context, _ []sdktrace.ReadOnlySpan) error {
	select {
	case <-e.release:
	case <-ctx.Done():
	}
	return nil
}
func (blockingExporter) Shutdown(context.Context) error { return nil }

type failingExporter struct{}

func (failingExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	return errors.New("collector down")
}
func (failingExporter) Shutdown(context.Context) error { return nil }

func TestTracingExporterThatBlocksOrFailsNeverTouchesTheMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		exp  sdktrace.SpanExporter
	}{
		{"blocking", blockingExporter{release: make(chan struct{})}},
		{"failing", failingExporter{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tc.exp, sdktrace.WithMaxQueueSize(8), sdktrace.WithMaxExportBatchSize(2), sdktrace.WithBatchTimeout(time.Millisecond)))
			defer func() {
				if b, ok := tc.exp.(blockingExporter); ok {
					close(b.release)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				_ = tp.Shutdown(ctx)
			}()
			h := middleware.Tracing(&middleware.TracingOptions{TracerProvider: tp})(handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }))
			msgs := make([]*handler.Message, 200)
			for i := range msgs {
				msgs[i] = msg("m")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			res := handler.Process(ctx, h, msgs, nil)
			for i, r := range res {
				if r.Err != nil {
					t.Fatalf("message %d: %v", i, r.Err)
				}
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("200 messages took %v with a %s exporter", took, tc.name)
			}
		})
	}
}

// The span-start buffers are pooled: each span must carry its own
// message's attributes and links, never those of a span started before it
// or beside it.
func TestTracingConcurrentSpansKeepTheirOwnAttributes(t *testing.T) {
	tp, rec := newTracing(t)
	h := middleware.Tracing(&middleware.TracingOptions{TracerProvider: tp})(handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }))
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				m := msg(fmt.Sprintf("m-%d-%d", w, i))
				if i%2 == 0 {
					m.Attributes = map[string]string{"traceparent": traceparent}
				}
				_ = h.Handle(context.Background(), m)
			}
		})
	}
	wg.Wait()
	spans := rec.Ended()
	if len(spans) != workers*each {
		t.Fatalf("%d spans, want %d", len(spans), workers*each)
	}
	for _, s := range spans {
		id := attrMap(s.Attributes())["messaging.message.id"].AsString()
		var w, i int
		if _, err := fmt.Sscanf(id, "m-%d-%d", &w, &i); err != nil {
			t.Fatalf("span with message id %q: %v", id, err)
		}
		if want := 1 - i%2; len(s.Links()) != want {
			t.Errorf("%s: %d links, want %d", id, len(s.Links()), want)
		}
		if len(s.Attributes()) != 6 {
			t.Errorf("%s: %d attributes, want 6: %v", id, len(s.Attributes()), s.Attributes())
		}
	}
}
