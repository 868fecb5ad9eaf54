package middleware_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/middleware"
)

func newMeter(t *testing.T) (*sdkmetric.MeterProvider, *sdkmetric.ManualReader) {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return mp, r
}

func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

// sum adds the points of a counter whose attributes include want.
func sum(t *testing.T, data metricdata.Aggregation, want ...attribute.KeyValue) int64 {
	t.Helper()
	s, ok := data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("aggregation %T is not an int64 sum", data)
	}
	var n int64
	for _, p := range s.DataPoints {
		if hasAll(p.Attributes, want) {
			n += p.Value
		}
	}
	return n
}

func hasAll(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}

func histCount(t *testing.T, data metricdata.Aggregation) (uint64, float64) {
	t.Helper()
	h, ok := data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("aggregation %T is not a histogram", data)
	}
	var n uint64
	var s float64
	for _, p := range h.DataPoints {
		n += p.Count
		s += p.Sum
	}
	return n, s
}

func outcomeHandler() handler.Handler {
	return handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		switch m.ID[0] {
		case 'r':
			return errBlip
		case 'x':
			return handler.Permanent(errBlip)
		}
		return nil
	})
}

func TestMetricsCountOutcomesDurationsAndBatchSize(t *testing.T) {
	mp, r := newMeter(t)
	m := middleware.NewMetrics(&middleware.MetricsOptions{MeterProvider: mp, DisableEMF: true})
	h := m.Middleware()(outcomeHandler())
	msgs := []*handler.Message{msg("a1"), msg("a2"), msg("a3"), msg("r1"), msg("x1")}
	handler.Process(context.Background(), h, msgs, nil)
	got := collect(t, r)
	dest := attribute.String("messaging.destination.name", "orders")
	sys := attribute.String("messaging.system", "aws_sqs")
	for _, tc := range []struct {
		metric, outcome string
		want            int64
	}{
		{middleware.MetricProcessed, "ack", 3}, {middleware.MetricProcessed, "retry", 1}, {middleware.MetricProcessed, "reject", 1},
		{middleware.MetricFailed, "retry", 1}, {middleware.MetricFailed, "reject", 1}, {middleware.MetricFailed, "ack", 0},
	} {
		if n := sum(t, got[tc.metric], dest, sys, attribute.String("eventfn.outcome", tc.outcome)); n != tc.want {
			t.Errorf("%s{outcome=%s} = %d, want %d", tc.metric, tc.outcome, n, tc.want)
		}
	}
	if n, _ := histCount(t, got[middleware.MetricDuration]); n != 5 {
		t.Errorf("duration count = %d, want 5", n)
	}
	if n, s := histCount(t, got[middleware.MetricBatchSize]); n != 1 || s != 5 {
		t.Errorf("batch size: %d records summing %v, want one of 5", n, s)
	}
}

func TestMetricsIdempotencyEventsResultHookAndBreaker(t *testing.T) {
	mp, r := newMeter(t)
	m := middleware.NewMetrics(&middleware.MetricsOptions{MeterProvider: mp, DisableEMF: true})
	ctx := context.Background()
	for _, e := range []idempotency.Event{idempotency.EventDuplicate, idempotency.EventDuplicate, idempotency.EventInProgress, idempotency.EventCompleteFailed, idempotency.Event(99)} {
		m.IdempotencyEvent(ctx, e, msg("a"))
	}
	hook := m.ResultHook()
	hook(ctx, handler.Report{Result: handler.Result{Message: msg("a")}, Settlement: handler.SettledAck})
	hook(ctx, handler.Report{Result: handler.Result{Message: msg("b")}, Settlement: handler.SettledDeadLetter, Err: errBlip})
	hook(ctx, handler.Report{Result: handler.Result{Message: msg("c")}, Settlement: handler.SettledDeadLetter, Err: errBlip})
	hook(ctx, handler.Report{Result: handler.Result{Message: msg("d")}, Settlement: handler.SettledRetry, Err: errBlip})
	m.BreakerStateChange("payments", gobreaker.StateClosed, gobreaker.StateOpen)
	got := collect(t, r)
	for ev, want := range map[string]int64{"duplicate": 2, "in_progress": 1, "complete_failed": 1, "unknown": 1} {
		if n := sum(t, got[middleware.MetricIdempotency], attribute.String("event", ev)); n != want {
			t.Errorf("idempotency{event=%s} = %d, want %d", ev, n, want)
		}
	}
	for st, want := range map[string]int64{"ack": 1, "dead_letter": 2, "retry": 1} {
		if n := sum(t, got[middleware.MetricSettled], attribute.String("settlement", st)); n != want {
			t.Errorf("settled{settlement=%s} = %d, want %d", st, n, want)
		}
	}
	if n := sum(t, got[middleware.MetricDeadLettered]); n != 2 {
		t.Errorf("dead_lettered = %d, want 2", n)
	}
	if n := sum(t, got[middleware.MetricBreakerTrans], attribute.String("breaker", "payments"), attribute.String("state", "open")); n != 1 {
		t.Errorf("breaker transitions to open = %d, want 1", n)
	}
	g, ok := got[middleware.MetricBreakerState].(metricdata.Gauge[int64])
	if !ok || len(g.DataPoints) != 1 || g.DataPoints[0].Value != int64(gobreaker.StateOpen) {
		t.Errorf("breaker state gauge = %+v, want open (2)", got[middleware.MetricBreakerState])
	}
}

// blockingMetricExporter blocks every export until its test ends.
type blockingMetricExporter struct {
	sdkmetric.Exporter
	release chan struct{}
}

func (e blockingMetricExporter) Export(ctx context.Context, _ *metricdata.ResourceMetrics) error {
	select {
	case <-e.release:
	case <-ctx.Done():
	}
	return ctx.Err()
}

func TestMetricsExporterThatBlocksNeverDelaysTheMessage(t *testing.T) {
	exp := blockingMetricExporter{Exporter: discardExporter{}, release: make(chan struct{})}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Millisecond))))
	defer func() {
		close(exp.release)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = mp.Shutdown(ctx)
	}()
	m := middleware.NewMetrics(&middleware.MetricsOptions{MeterProvider: mp, DisableEMF: true})
	h := m.Middleware()(outcomeHandler())
	start := time.Now()
	for range 50 {
		res := handler.Process(context.Background(), h, []*handler.Message{msg("a"), msg("b")}, nil)
		if res[0].Err != nil || res[1].Err != nil {
			t.Fatal(res)
		}
		time.Sleep(time.Millisecond)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("50 batches took %v with a blocked exporter", took)
	}
}

// failingWriter fails every write; blockingWriter blocks until released.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errBlip }

type blockingWriter struct{ release chan struct{} }

func (w blockingWriter) Write(p []byte) (int, error) { <-w.release; return len(p), nil }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
