package middleware_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/memstore"
	"github.com/eventfn/eventfn/middleware"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestDefaultsRetriesWithIdempotencyInABatch(t *testing.T) {
	var runs atomic.Int32
	store := memstore.New(nil)
	h := handler.Chain(handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		if runs.Add(1) == 1 {
			return errBlip // the first attempt of the first message to run fails
		}
		return nil
	}), middleware.Defaults(&middleware.Options{
		Logger: quiet(), DisableTracing: true, DisableMetrics: true,
		Retry:       &middleware.RetryOptions{InitialInterval: time.Millisecond},
		Idempotency: idempotency.Middleware(store, &idempotency.Options{Scope: "defaults-test", Logger: quiet()}),
	}))
	res := handler.Process(context.Background(), h, []*handler.Message{msg("k1"), msg("k2")}, &handler.ProcessOptions{Concurrency: 1})
	for i, r := range res {
		if r.Err != nil {
			t.Errorf("message %d: %v, want acked after an in-process retry", i, r.Err)
		}
	}
	if runs.Load() != 3 {
		t.Errorf("handler ran %d times, want 3 (one retry)", runs.Load())
	}
	// Both keys are completed: redeliveries are skipped.
	res = handler.Process(context.Background(), h, []*handler.Message{msg("k1"), msg("k2")}, nil)
	if runs.Load() != 3 || res[0].Err != nil || res[1].Err != nil {
		t.Errorf("redelivery ran the handler (%d runs) or failed: %v", runs.Load(), res)
	}
}

func TestDefaultsLogsAPanicOnceAndReturnsIt(t *testing.T) {
	rec := newRecorder(slog.LevelInfo)
	var runs atomic.Int32
	h := handler.Chain(handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		runs.Add(1)
		panic("boom")
	}), middleware.Defaults(&middleware.Options{Logger: slog.New(rec)}))
	err := h.Handle(context.Background(), msg("m1")) // outside Process: Recover keeps the process alive
	var pe *handler.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("Handle = %v, want a *PanicError", err)
	}
	if runs.Load() != 1 {
		t.Errorf("a panic was retried: %d runs", runs.Load())
	}
	logs := rec.all()
	if len(logs) != 1 || logs[0].Level != slog.LevelError || logs[0].Attrs["message_id"].String() != "m1" || !strings.Contains(logs[0].Attrs["stack"].String(), "panic") {
		t.Errorf("logs = %+v, want one error line with the message ID and the stack", logs)
	}
}

func TestDefaultsBreakerRejectionsAreLoggedWithTheirClass(t *testing.T) {
	rec := newRecorder(slog.LevelWarn)
	h := handler.Chain(handler.HandlerFunc(func(context.Context, *handler.Message) error { return errBlip }),
		middleware.Defaults(&middleware.Options{Logger: slog.New(rec), DisableRetry: true, DisableTracing: true}))
	msgs := make([]*handler.Message, 8)
	for i := range msgs {
		msgs[i] = msg("m")
	}
	handler.Process(context.Background(), h, msgs, &handler.ProcessOptions{Concurrency: 1})
	classes := map[string]int{}
	for _, l := range rec.all() {
		if c := l.Attrs["error_class"].String(); c != "" {
			classes[c]++
		}
	}
	if classes["transient"] != middleware.DefaultBreakerTrip || classes["breaker_open"] != 8-middleware.DefaultBreakerTrip {
		t.Errorf("logged classes = %v, want %d transient and %d breaker_open", classes, middleware.DefaultBreakerTrip, 8-middleware.DefaultBreakerTrip)
	}
}

func TestDefaultsWithEveryOptionalLayerOff(t *testing.T) {
	h := handler.Chain(handler.HandlerFunc(func(context.Context, *handler.Message) error { return errBlip }),
		middleware.Defaults(&middleware.Options{Logger: quiet(), DisableTracing: true, DisableMetrics: true, DisableBreaker: true, DisableRetry: true}))
	if err := h.Handle(context.Background(), msg("m1")); !errors.Is(err, errBlip) {
		t.Errorf("Handle = %v", err)
	}
}
