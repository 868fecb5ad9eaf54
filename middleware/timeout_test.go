package middleware_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/middleware"
)

func TestTimeoutEndsTheMessagesContext(t *testing.T) {
	h := middleware.Timeout(20 * time.Millisecond)(handler.HandlerFunc(func(ctx context.Context, _ *handler.Message) error {
		<-ctx.Done()
		if !errors.Is(context.Cause(ctx), middleware.ErrTimeout) {
			t.Errorf("cause = %v, want ErrTimeout", context.Cause(ctx))
		}
		return ctx.Err()
	}))
	start := time.Now()
	err := h.Handle(context.Background(), msg("m1"))
	if !errors.Is(err, context.DeadlineExceeded) || handler.Classify(err) != handler.Retry {
		t.Errorf("Handle = %v, want a retryable deadline error", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v", took)
	}
}

func TestTimeoutKeepsAnEarlierDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	want, _ := ctx.Deadline()
	h := middleware.Timeout(time.Hour)(handler.HandlerFunc(func(ctx context.Context, _ *handler.Message) error {
		if got, _ := ctx.Deadline(); !got.Equal(want) {
			t.Errorf("deadline = %v, want the caller's %v", got, want)
		}
		return nil
	}))
	_ = h.Handle(ctx, msg("m1"))
}

func TestTimeoutZeroReturnsTheHandler(t *testing.T) {
	h := handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil })
	if _, ok := middleware.Timeout(0)(h).(handler.HandlerFunc); !ok {
		t.Error("Timeout(0) wrapped the handler")
	}
}
