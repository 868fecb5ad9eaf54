package idempotency_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/memstore"
)

func TestDoRetriesAfterFailureAndReturnsStoredResult(t *testing.T) {
	s := memstore.New(nil)
	ctx := context.Background()
	var calls atomic.Int32
	fn := func(context.Context) (string, error) {
		if calls.Add(1) == 1 {
			return "", errors.New("gateway timeout")
		}
		return "charge-42", nil
	}
	if _, err := idempotency.Do(ctx, s, "pay-1", fn, nil); err == nil {
		t.Fatal("first call should fail")
	}
	for i := 0; i < 2; i++ {
		v, err := idempotency.Do(ctx, s, "pay-1", fn, nil)
		if err != nil || v != "charge-42" {
			t.Fatalf("call %d: %q, %v", i, v, err)
		}
	}
	if calls.Load() != 2 {
		t.Fatalf("fn ran %d times, want 2", calls.Load())
	}
}

func TestDoInProgressAndMismatch(t *testing.T) {
	s := memstore.New(nil)
	ctx := context.Background()
	inside := make(chan struct{})
	release := make(chan struct{})
	go func() {
		_, _ = idempotency.Do(ctx, s, "k", func(context.Context) (int, error) { close(inside); <-release; return 1, nil }, &idempotency.DoOptions{Fingerprint: "A"})
	}()
	<-inside
	if _, err := idempotency.Do(ctx, s, "k", func(context.Context) (int, error) { return 2, nil }, &idempotency.DoOptions{Fingerprint: "A"}); !errors.Is(err, idempotency.ErrInProgress) {
		t.Fatalf("concurrent Do: %v", err)
	}
	if _, err := idempotency.Do(ctx, s, "k", func(context.Context) (int, error) { return 2, nil }, &idempotency.DoOptions{Fingerprint: "B"}); !errors.Is(err, idempotency.ErrPayloadMismatch) || !handler.IsPermanent(err) {
		t.Fatalf("mismatched Do: %v", err)
	}
	close(release)
	if _, err := idempotency.Do(ctx, s, "", func(context.Context) (int, error) { return 0, nil }, nil); !errors.Is(err, idempotency.ErrNoKey) {
		t.Fatalf("empty key: %v", err)
	}
}

func TestDoPanicReleases(t *testing.T) {
	s := memstore.New(nil)
	_, err := idempotency.Do(context.Background(), s, "p", func(context.Context) (int, error) { panic("x") }, nil)
	var pe *handler.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v", err)
	}
	if v, err := idempotency.Do(context.Background(), s, "p", func(context.Context) (int, error) { return 7, nil }, nil); err != nil || v != 7 {
		t.Fatalf("after panic: %v, %v", v, err)
	}
}
