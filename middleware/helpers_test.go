package middleware_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/eventfn/eventfn/handler"
)

// newTracing returns a real SDK tracer provider recording ended spans in
// memory.
func newTracing(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec
}

// recorder is a slog.Handler that keeps every record with the attributes
// of its logger.
type recorder struct {
	mu      *sync.Mutex
	records *[]logged
	attrs   []slog.Attr
	level   slog.Level
}

type logged struct {
	Level slog.Level
	Msg   string
	Attrs map[string]slog.Value
}

func newRecorder(level slog.Level) *recorder {
	return &recorder{mu: new(sync.Mutex), records: new([]logged), level: level}
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= r.level }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	l := logged{Level: rec.Level, Msg: rec.Message, Attrs: map[string]slog.Value{}}
	for _, a := range r.attrs {
		l.Attrs[a.Key] = a.Value
	}
	rec.Attrs(func(a slog.Attr) bool { l.Attrs[a.Key] = a.Value; return true })
	r.mu.Lock()
	*r.records = append(*r.records, l)
	r.mu.Unlock()
	return nil
}

func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *r
	c.attrs = append(append([]slog.Attr{}, r.attrs...), as...)
	return &c
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

func (r *recorder) all() []logged {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]logged(nil), *r.records...)
}

func msg(id string) *handler.Message {
	return &handler.Message{ID: id, Body: []byte(`{"id":"` + id + `"}`), Source: handler.SourceSQS, Queue: "arn:aws:sqs:us-east-1:000000000000:orders", DeliveryAttempt: 1}
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }
