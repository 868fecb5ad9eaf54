package idempotency_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/memstore"
)

// extendStore is a memstore whose Extend can be made to fail.
type extendStore struct {
	*memstore.Store
	extends atomic.Int32
	fail    atomic.Pointer[error]
}

func (s *extendStore) Extend(ctx context.Context, key, token string, lease time.Duration) error {
	s.extends.Add(1)
	if err := s.fail.Load(); err != nil {
		return *err
	}
	return s.Store.Extend(ctx, key, token, lease)
}

func shortLease(d time.Duration, ev *events) *idempotency.Options {
	o := &idempotency.Options{MinLease: d, MaxLease: d, DefaultLease: d, CacheSize: -1}
	if ev != nil {
		o.OnEvent = ev.hook
	}
	return o
}

func TestHeartbeatKeepsALongHandlerExclusive(t *testing.T) {
	s := &extendStore{Store: memstore.New(nil)}
	var runs atomic.Int32
	h := idempotency.Middleware(s, shortLease(300*time.Millisecond, nil))(handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		runs.Add(1)
		select {
		case <-time.After(time.Second):
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}))
	first := make(chan error, 1)
	go func() { first <- h.Handle(context.Background(), msg("m", "a")) }()
	time.Sleep(700 * time.Millisecond) // past two leases of the first claim
	m := msg("m", "a")
	m.DeliveryAttempt = 2
	if err := h.Handle(context.Background(), m); !errors.Is(err, idempotency.ErrInProgress) {
		t.Fatalf("copy during the long run: %v, want ErrInProgress", err)
	}
	if err := <-first; err != nil {
		t.Fatalf("long run: %v", err)
	}
	if runs.Load() != 1 || s.extends.Load() < 2 {
		t.Fatalf("runs %d, extends %d; want one run, kept by at least two extensions", runs.Load(), s.extends.Load())
	}
}

func TestQuickHandlersNeedNoHeartbeat(t *testing.T) {
	s := &extendStore{Store: memstore.New(nil)}
	h := idempotency.Middleware(s, shortLease(300*time.Millisecond, nil))(handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }))
	for _, r := range handler.Process(context.Background(), h, []*handler.Message{msg("a", "1"), msg("b", "2")}, nil) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	time.Sleep(150 * time.Millisecond)
	if n := s.extends.Load(); n != 0 {
		t.Fatalf("%d extensions for handlers that return at once", n)
	}
}

func TestHeartbeatCancelsTheHandlerWhenTheLeaseIsLost(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"taken over", idempotency.ErrLeaseLost},
		{"store down until the lease ends", errors.Join(idempotency.ErrStore, errDown)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &extendStore{Store: memstore.New(nil)}
			s.fail.Store(&tc.err)
			var ev events
			var cause error
			h := idempotency.Middleware(s, shortLease(300*time.Millisecond, &ev))(handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
				select {
				case <-time.After(3 * time.Second):
					return nil
				case <-ctx.Done():
					cause = context.Cause(ctx)
					return cause
				}
			}))
			start := time.Now()
			err := h.Handle(context.Background(), msg("m", "a"))
			if !errors.Is(cause, idempotency.ErrLeaseLost) {
				t.Fatalf("handler's context cause %v, want ErrLeaseLost", cause)
			}
			if handler.Classify(err) != handler.Retry {
				t.Fatalf("a handler that stopped on a lost lease: %v, want a retry (nothing acked without its effect)", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("handler told after %v", d)
			}
			if ev.get(idempotency.EventLeaseLost) != 1 {
				t.Errorf("EventLeaseLost reported %d times", ev.get(idempotency.EventLeaseLost))
			}
		})
	}
}
