package middleware_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/middleware"
)

func TestBreakerOpensFailsFastThenProbesAndCloses(t *testing.T) {
	rec := newRecorder(slog.LevelInfo)
	var mu sync.Mutex
	var changes []gobreaker.State
	b := middleware.NewBreaker(&middleware.BreakerOptions{
		Name: "payments", CoolDown: 150 * time.Millisecond,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 3 },
		Logger:      slog.New(rec),
		OnStateChange: func(_ string, _, to gobreaker.State) {
			mu.Lock()
			changes = append(changes, to)
			mu.Unlock()
		},
	})
	var calls atomic.Int32
	var healthy atomic.Bool
	h := b.Middleware()(handler.HandlerFunc(func(context.Context, *handler.Message) error {
		calls.Add(1)
		if healthy.Load() {
			return nil
		}
		return errBlip
	}))
	ctx := context.Background()
	for range 3 {
		if err := h.Handle(ctx, msg("m")); !errors.Is(err, errBlip) {
			t.Fatalf("closed breaker returned %v, want the handler's error", err)
		}
	}
	err := h.Handle(ctx, msg("m"))
	d, ok := handler.RetryDelay(err)
	if !errors.Is(err, middleware.ErrBreakerOpen) || !errors.Is(err, gobreaker.ErrOpenState) || !ok || d < time.Second {
		t.Fatalf("open breaker returned %v (delay %v), want RetryAfter(>=1s) matching ErrBreakerOpen", err, d)
	}
	if calls.Load() != 3 {
		t.Errorf("handler calls = %d, want 3: an open breaker must not call it", calls.Load())
	}
	if handler.Classify(err) != handler.Retry {
		t.Errorf("open breaker's error classifies as %v, want retry", handler.Classify(err))
	}
	time.Sleep(200 * time.Millisecond) // past the cool-down: half-open
	healthy.Store(true)
	if err := h.Handle(ctx, msg("m")); err != nil {
		t.Fatalf("half-open probe returned %v, want nil", err)
	}
	if b.State() != gobreaker.StateClosed {
		t.Errorf("state after a successful probe = %v, want closed", b.State())
	}
	mu.Lock()
	got := append([]gobreaker.State(nil), changes...)
	mu.Unlock()
	want := []gobreaker.State{gobreaker.StateOpen, gobreaker.StateHalfOpen, gobreaker.StateClosed}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("state changes = %v, want %v", got, want)
	}
	var levels []slog.Level
	for _, r := range rec.all() {
		if r.Attrs["breaker"].String() != "payments" {
			t.Errorf("state-change line %q lacks breaker=payments", r.Msg)
		}
		levels = append(levels, r.Level)
	}
	if len(levels) != 3 || levels[0] != slog.LevelWarn || levels[1] != slog.LevelInfo {
		t.Errorf("state-change log levels = %v, want [WARN INFO INFO]", levels)
	}
}

func TestBreakerIgnoresPermanentErrors(t *testing.T) {
	b := middleware.NewBreaker(&middleware.BreakerOptions{ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 1 }})
	h := b.Middleware()(handler.HandlerFunc(func(context.Context, *handler.Message) error { return handler.Permanent(errBlip) }))
	for range 5 {
		_ = h.Handle(context.Background(), msg("m"))
	}
	if b.State() != gobreaker.StateClosed {
		t.Errorf("state after permanent errors = %v, want closed: a bad payload says nothing about the dependency", b.State())
	}
}

func TestBreakerOpeningMidBatch(t *testing.T) {
	b := middleware.NewBreaker(&middleware.BreakerOptions{CoolDown: time.Minute})
	var ran atomic.Int32
	h := b.Middleware()(handler.HandlerFunc(func(context.Context, *handler.Message) error {
		ran.Add(1)
		return errBlip
	}))
	msgs := make([]*handler.Message, 20)
	for i := range msgs {
		msgs[i] = msg("m" + string(rune('a'+i)))
	}
	res := handler.Process(context.Background(), h, msgs, &handler.ProcessOptions{Concurrency: 1})
	open := 0
	for i, r := range res {
		if r.Outcome != handler.Retry {
			t.Errorf("message %d outcome = %v, want retry", i, r.Outcome)
		}
		if errors.Is(r.Err, middleware.ErrBreakerOpen) {
			open++
			if d, ok := handler.RetryDelay(r.Err); !ok || d < 59*time.Second {
				t.Errorf("message %d: delay %v, want the rest of the 1m cool-down", i, d)
			}
		}
	}
	if ran.Load() != middleware.DefaultBreakerTrip || open != 20-middleware.DefaultBreakerTrip {
		t.Errorf("handler ran %d times and %d messages failed fast; want %d and %d", ran.Load(), open, middleware.DefaultBreakerTrip, 20-middleware.DefaultBreakerTrip)
	}
}

func TestBreakerDoGuardsADependency(t *testing.T) {
	b := middleware.NewBreaker(&middleware.BreakerOptions{Name: "geo", ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 1 }})
	ctx := context.Background()
	_ = b.Do(ctx, func(context.Context) error { return errBlip })
	called := false
	err := b.Do(ctx, func(context.Context) error { called = true; return nil })
	if called || !errors.Is(err, middleware.ErrBreakerOpen) {
		t.Errorf("Do on an open breaker: called=%v err=%v", called, err)
	}
	if b.Name() != "geo" {
		t.Errorf("Name = %q", b.Name())
	}
}
