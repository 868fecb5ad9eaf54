package middleware_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/middleware"
)

var errBlip = errors.New("blip")

func fast(n int) *middleware.RetryOptions {
	return &middleware.RetryOptions{MaxAttempts: n, InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond, MaxElapsed: 5 * time.Second}
}

func TestRetryRunsUntilSuccessAndExposesTheAttempt(t *testing.T) {
	var seen []int
	h := middleware.Retry(fast(5))(handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		seen = append(seen, middleware.Attempt(ctx))
		if len(seen) < 3 {
			return errBlip
		}
		return nil
	}))
	if err := h.Handle(context.Background(), msg("m1")); err != nil {
		t.Fatalf("Handle = %v, want nil after the third attempt", err)
	}
	if len(seen) != 3 || seen[0] != 1 || seen[1] != 2 || seen[2] != 3 {
		t.Errorf("attempts seen = %v, want [1 2 3]", seen)
	}
}

func TestRetryStopsAtMaxAttemptsWithTheLastError(t *testing.T) {
	var n atomic.Int32
	h := middleware.Retry(fast(4))(handler.HandlerFunc(func(context.Context, *handler.Message) error {
		n.Add(1)
		return errBlip
	}))
	if err := h.Handle(context.Background(), msg("m1")); !errors.Is(err, errBlip) {
		t.Fatalf("Handle = %v, want errBlip", err)
	}
	if n.Load() != 4 {
		t.Errorf("attempts = %d, want 4", n.Load())
	}
}

func TestRetryNeverRetriesPermanentOrRefusedErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		opts *middleware.RetryOptions
	}{
		{"a permanent error", handler.Permanent(errBlip), fast(5)},
		{"an error the predicate refuses", errBlip, &middleware.RetryOptions{MaxAttempts: 5, InitialInterval: time.Millisecond, Retryable: func(err error) bool { return !errors.Is(err, errBlip) }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			h := middleware.Retry(tc.opts)(handler.HandlerFunc(func(context.Context, *handler.Message) error {
				n.Add(1)
				return tc.err
			}))
			_ = h.Handle(context.Background(), msg("m1"))
			if n.Load() != 1 {
				t.Errorf("attempts = %d, want 1", n.Load())
			}
		})
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	var times []time.Time
	h := middleware.Retry(&middleware.RetryOptions{MaxAttempts: 2, InitialInterval: time.Millisecond, MaxInterval: time.Second})(
		handler.HandlerFunc(func(context.Context, *handler.Message) error {
			times = append(times, time.Now())
			return handler.RetryAfter(80*time.Millisecond, errBlip)
		}))
	_ = h.Handle(context.Background(), msg("m1"))
	if len(times) != 2 {
		t.Fatalf("attempts = %d, want 2", len(times))
	}
	if gap := times[1].Sub(times[0]); gap < 80*time.Millisecond {
		t.Errorf("second attempt %v after the first, want at least the 80ms asked for", gap)
	}
}

func TestRetryLeavesALongRetryAfterToThePlatform(t *testing.T) {
	var n atomic.Int32
	h := middleware.Retry(fast(5))(handler.HandlerFunc(func(context.Context, *handler.Message) error {
		n.Add(1)
		return handler.RetryAfter(time.Minute, errBlip)
	}))
	err := h.Handle(context.Background(), msg("m1"))
	if d, ok := handler.RetryDelay(err); !ok || d != time.Minute || n.Load() != 1 {
		t.Errorf("Handle = %v after %d attempts, want the RetryAfter(1m) error after 1", err, n.Load())
	}
}

func TestRetryNeverRunsPastTheDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	dl, _ := ctx.Deadline()
	var ends []time.Time
	h := middleware.Retry(&middleware.RetryOptions{MaxAttempts: 100, InitialInterval: 20 * time.Millisecond, MaxInterval: 40 * time.Millisecond, MaxElapsed: time.Minute})(
		handler.HandlerFunc(func(context.Context, *handler.Message) error {
			time.Sleep(10 * time.Millisecond)
			ends = append(ends, time.Now())
			return errBlip
		}))
	_ = h.Handle(ctx, msg("m1"))
	returned := time.Now()
	if returned.After(dl) {
		t.Errorf("Retry returned %v after the deadline", returned.Sub(dl))
	}
	for i, e := range ends {
		if e.After(dl) {
			t.Errorf("attempt %d ended %v after the deadline", i+1, e.Sub(dl))
		}
	}
	if len(ends) < 2 {
		t.Errorf("attempts = %d, want retries within the 300ms", len(ends))
	}
}

func TestRetryWithTheDeadlineAlreadyNearRunsOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	var n atomic.Int32
	h := middleware.Retry(&middleware.RetryOptions{MaxAttempts: 5, InitialInterval: time.Second, MaxInterval: time.Second})(
		handler.HandlerFunc(func(context.Context, *handler.Message) error {
			n.Add(1)
			return handler.RetryAfter(500*time.Millisecond, errBlip)
		}))
	start := time.Now()
	err := h.Handle(ctx, msg("m1"))
	if n.Load() != 1 || !errors.Is(err, errBlip) {
		t.Errorf("attempts = %d, err = %v; want one attempt and its error", n.Load(), err)
	}
	if took := time.Since(start); took > 25*time.Millisecond {
		t.Errorf("Retry waited %v with no time to retry, want it to return at once", took)
	}
}

func TestRetryUnderProcessStaysInsideTheMargin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	dl, _ := ctx.Deadline()
	margin := 200 * time.Millisecond
	var last atomic.Int64
	h := middleware.Retry(&middleware.RetryOptions{MaxAttempts: 1000, InitialInterval: 5 * time.Millisecond, MaxInterval: 10 * time.Millisecond, MaxElapsed: time.Minute})(
		handler.HandlerFunc(func(context.Context, *handler.Message) error {
			last.Store(time.Now().UnixNano())
			return errBlip
		}))
	res := handler.Process(ctx, h, []*handler.Message{msg("m1")}, &handler.ProcessOptions{DeadlineMargin: margin})
	if !errors.Is(res[0].Err, errBlip) {
		t.Errorf("result = %v, want the handler's error (not abandoned)", res[0].Err)
	}
	// A few milliseconds of slack: a goroutine can be preempted between
	// the deadline check and the call.
	if at := time.Unix(0, last.Load()); at.After(dl.Add(-margin + 5*time.Millisecond)) {
		t.Errorf("last attempt started %v after deadline-margin", at.Sub(dl.Add(-margin)))
	}
}

func TestRetryWithOneAttemptReturnsTheHandler(t *testing.T) {
	h := handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil })
	got := middleware.Retry(&middleware.RetryOptions{MaxAttempts: 1})(h)
	if _, ok := got.(handler.HandlerFunc); !ok {
		t.Fatalf("Retry(MaxAttempts 1) = %T, want the handler itself", got)
	}
}

func TestAttemptOutsideRetryIsOne(t *testing.T) {
	if a := middleware.Attempt(context.Background()); a != 1 {
		t.Errorf("Attempt = %d, want 1", a)
	}
}

func TestRetryLogsEachRetryAtDebugToTheMessagesLogger(t *testing.T) {
	rec := newRecorder(slog.LevelDebug)
	var n atomic.Int32
	h := handler.Chain(handler.HandlerFunc(func(context.Context, *handler.Message) error {
		if n.Add(1) < 3 {
			return errBlip
		}
		return nil
	}), middleware.Logging(&middleware.LoggingOptions{Logger: slog.New(rec)}), middleware.Retry(fast(5)))
	if err := h.Handle(context.Background(), msg("m1")); err != nil {
		t.Fatal(err)
	}
	var retries []int64
	for _, l := range rec.all() {
		if l.Msg == "message attempt failed; retrying in process" {
			if l.Level != slog.LevelDebug || l.Attrs["message_id"].String() != "m1" || l.Attrs["error"].String() != "blip" {
				t.Errorf("retry line = %+v", l)
			}
			retries = append(retries, l.Attrs["attempt"].Int64())
		}
	}
	if len(retries) != 2 || retries[0] != 1 || retries[1] != 2 {
		t.Errorf("retry lines for attempts %v, want [1 2]", retries)
	}
}
