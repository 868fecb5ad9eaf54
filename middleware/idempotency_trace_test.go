package middleware_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/memstore"
	"github.com/eventfn/eventfn/middleware"
)

func spanNames(spans []sdktrace.ReadOnlySpan) map[string]int {
	n := map[string]int{}
	for _, s := range spans {
		n[s.Name()]++
	}
	return n
}

func TestTraceStoreSpansClaimAndCompletion(t *testing.T) {
	tp, rec := newTracing(t)
	mp, reader := newMeter(t)
	metrics := middleware.NewMetrics(&middleware.MetricsOptions{MeterProvider: mp, DisableEMF: true})
	store := middleware.TraceStore(memstore.New(nil), tp)
	if _, ok := store.(idempotency.BatchStore); !ok {
		t.Fatal("TraceStore of a BatchStore is not a BatchStore")
	}
	var runs atomic.Int32
	h := handler.Chain(handler.HandlerFunc(func(context.Context, *handler.Message) error { runs.Add(1); return nil }),
		middleware.Defaults(&middleware.Options{
			Logger:  slog.New(slog.DiscardHandler),
			Tracing: &middleware.TracingOptions{TracerProvider: tp},
			Metrics: metrics,
			Idempotency: idempotency.Middleware(store, &idempotency.Options{
				Scope:   "trace-spans",
				Logger:  slog.New(slog.DiscardHandler),
				OnEvent: middleware.IdempotencyEvents(metrics.IdempotencyEvent, middleware.TraceIdempotencyEvent),
			}),
		}))
	ctx := context.Background()
	handler.Process(ctx, h, []*handler.Message{msg("k1"), msg("k2"), msg("k3")}, nil)
	// A redelivery of k2 is a duplicate: no run, an event on its span.
	res := handler.Process(ctx, h, []*handler.Message{msg("k2"), msg("k4")}, nil)
	if res[0].Err != nil || res[1].Err != nil || runs.Load() != 4 {
		t.Fatalf("results %v, %d runs; want both acked and 4 runs", res, runs.Load())
	}
	spans := rec.Ended()
	names := spanNames(spans)
	if names["process orders"] != 5 || names["idempotency claim"] < 2 || names["idempotency complete"] < 2 {
		t.Errorf("spans = %v, want 5 process spans and a claim and a completion per batch", names)
	}
	// Defaults keeps the idempotency middleware's batch preparation: the
	// first batch's three keys are claimed in one call.
	var batchClaim bool
	for _, s := range spans {
		if s.Name() == "idempotency claim" && attrMap(s.Attributes())["eventfn.idempotency.keys"].AsInt64() == 3 {
			batchClaim = true
		}
	}
	if !batchClaim {
		t.Error("no claim span for the first batch's 3 keys: the batch was not claimed in one call")
	}
	var dupEvent bool
	for _, s := range spans {
		if s.Name() == "process orders" && attrMap(s.Attributes())["messaging.message.id"].AsString() == "k2" {
			for _, e := range s.Events() {
				dupEvent = dupEvent || e.Name == "idempotency.duplicate"
			}
		}
	}
	if !dupEvent {
		t.Error("no idempotency.duplicate event on the redelivered message's span")
	}
	if n := sum(t, collect(t, reader)[middleware.MetricIdempotency], attribute.String("event", "duplicate")); n != 1 {
		t.Errorf("duplicates counted = %d, want 1", n)
	}
}

// downStore fails every call, as a store that is down does.
type downStore struct{ idempotency.Store }

var errDown = errors.New("store down")

func (downStore) Claim(context.Context, idempotency.ClaimRequest) (idempotency.Claim, error) {
	return idempotency.Claim{}, errDown
}

func TestTraceStoreRecordsAStoreFailure(t *testing.T) {
	tp, rec := newTracing(t)
	store := middleware.TraceStore(downStore{}, tp)
	if _, ok := store.(idempotency.BatchStore); ok {
		t.Fatal("TraceStore of a plain Store claims to be a BatchStore")
	}
	h := idempotency.Middleware(store, &idempotency.Options{Scope: "trace-test", Logger: slog.New(slog.DiscardHandler)})(handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Handle(ctx, msg("k1")); !errors.Is(err, errDown) || handler.Classify(err) != handler.Retry {
		t.Fatalf("Handle = %v, want the store's error, retryable", err)
	}
	s := rec.Ended()[0]
	if s.Name() != "idempotency claim" || s.Status().Code != codes.Error {
		t.Errorf("span %q status %v, want an errored claim span", s.Name(), s.Status())
	}
}
