package storetest

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
)

// testCancelledContext: a call with a cancelled context returns an error
// promptly.
func testCancelledContext(t *testing.T, h Harness) {
	s := h.New(t)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.Claim(cctx, idempotency.ClaimRequest{Key: key(t), Fingerprint: "fp", Lease: long})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Claim with a cancelled context succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Claim with a cancelled context did not return")
	}
}

// testUnreachableIsAnError: a backend that cannot be reached fails every
// call with ErrStore, and the middleware retries every message without
// running the handler.
func testUnreachableIsAnError(t *testing.T, h Harness) {
	s := h.Unreachable(t)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, err := s.Claim(cctx, idempotency.ClaimRequest{Key: key(t), Fingerprint: "fp", Lease: long})
	if err == nil || c.Acquired {
		t.Fatalf("Claim = %+v, %v; want an error", c, err)
	}
	if !errors.Is(err, idempotency.ErrStore) {
		t.Errorf("Claim error %v does not match ErrStore", err)
	}
	if err := s.Complete(cctx, key(t), strings.Repeat("0", 32), nil, time.Hour); err == nil {
		t.Error("Complete on an unreachable store succeeded")
	}
	if err := s.Release(cctx, key(t), strings.Repeat("0", 32)); err == nil {
		t.Error("Release on an unreachable store succeeded")
	}
	if err := s.Extend(cctx, key(t), "P"+strings.Repeat("0", 40), long); !errors.Is(err, idempotency.ErrStore) {
		t.Errorf("Extend on an unreachable store: err = %v, want ErrStore", err)
	}
	if _, err := s.Get(cctx, key(t)); err == nil || errors.Is(err, idempotency.ErrNotFound) {
		t.Errorf("Get on an unreachable store: err = %v, want a store error", err)
	}
	var ran atomic.Bool
	wrapped := idempotency.Middleware(s, &idempotency.Options{Scope: key(t)})(handler.HandlerFunc(func(context.Context, *handler.Message) error {
		ran.Store(true)
		return nil
	}))
	res := handler.Process(cctx, wrapped, []*handler.Message{{ID: "1", Body: []byte("a")}, {ID: "2", Body: []byte("b")}}, nil)
	for i, r := range res {
		if r.Outcome != handler.Retry || !errors.Is(r.Err, idempotency.ErrStore) {
			t.Errorf("message %d: outcome %v (%v), want retry with ErrStore", i, r.Outcome, r.Err)
		}
	}
	if ran.Load() {
		t.Error("the handler ran without a claim")
	}
}
