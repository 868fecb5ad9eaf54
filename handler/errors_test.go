package handler_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/eventfn/eventfn/handler"
)

func TestClassify(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name string
		err  error
		want handler.Outcome
	}{
		{"nil is ack", nil, handler.Ack},
		{"a plain error is retried", base, handler.Retry},
		{"a permanent error is rejected", handler.Permanent(base), handler.Reject},
		{"a wrapped permanent error is still rejected", fmt.Errorf("outer: %w", handler.Permanent(base)), handler.Reject},
		{"a permanent error inside errors.Join is rejected", errors.Join(base, handler.Permanent(base)), handler.Reject},
		{"retry-after is retried", handler.RetryAfter(time.Second, base), handler.Retry},
		{"deadline is retried", handler.ErrDeadline, handler.Retry},
		{"a panic is retried", &handler.PanicError{Value: "x"}, handler.Retry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := handler.Classify(tt.err); got != tt.want {
				t.Fatalf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestPermanentKeepsTheCause(t *testing.T) {
	base := errors.New("boom")
	err := fmt.Errorf("ctx: %w", handler.Permanent(base))
	if !errors.Is(err, base) || !errors.Is(err, handler.ErrPermanent) || !handler.IsPermanent(err) {
		t.Fatalf("wrapping lost information: %v", err)
	}
	if handler.Permanent(nil) != nil {
		t.Fatal("Permanent(nil) != nil")
	}
}

func TestRetryDelaySurvivesWrapping(t *testing.T) {
	base := errors.New("throttled")
	err := fmt.Errorf("call: %w", handler.RetryAfter(3*time.Second, base))
	d, ok := handler.RetryDelay(err)
	if !ok || d != 3*time.Second || !errors.Is(err, base) {
		t.Fatalf("RetryDelay = %v, %v; errors.Is = %v", d, ok, errors.Is(err, base))
	}
	if _, ok := handler.RetryDelay(base); ok {
		t.Fatal("RetryDelay found a delay in a plain error")
	}
	if d, _ := handler.RetryDelay(handler.RetryAfter(-time.Second, nil)); d != 0 {
		t.Fatalf("negative delay not clamped: %v", d)
	}
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[handler.Outcome]string{handler.Ack: "ack", handler.Retry: "retry", handler.Reject: "reject", 9: "Outcome(9)"} {
		if o.String() != want {
			t.Errorf("%d.String() = %q", int(o), o.String())
		}
	}
}
