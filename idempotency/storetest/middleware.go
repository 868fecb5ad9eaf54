package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
)

// testMiddlewareRunsEachKeyOnce: the middleware under handler.Process runs
// each key once across duplicates, failures, payload mismatches and
// redeliveries.
func testMiddlewareRunsEachKeyOnce(t *testing.T, h Harness) {
	s := h.New(t)
	scope := key(t)
	var runs sync.Map
	var calls atomic.Int32
	inner := handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		calls.Add(1)
		if string(m.Body) == "fail" && m.DeliveryAttempt == 1 {
			return errors.New("transient")
		}
		n, _ := runs.LoadOrStore(m.ID, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		return nil
	})
	wrapped := idempotency.Middleware(s, &idempotency.Options{Scope: scope, CacheSize: -1})(inner)
	batch := []*handler.Message{
		{ID: "a", Body: []byte("x"), DeliveryAttempt: 1},
		{ID: "b", Body: []byte("fail"), DeliveryAttempt: 1},
		{ID: "a", Body: []byte("x"), DeliveryAttempt: 1},
		{ID: "c", Body: []byte("y"), DeliveryAttempt: 1},
		{ID: "c", Body: []byte("other payload"), DeliveryAttempt: 1},
	}
	res := handler.Process(ctx, wrapped, batch, nil)
	want := []handler.Outcome{handler.Ack, handler.Retry, handler.Ack, handler.Ack, handler.Reject}
	for i, r := range res {
		if r.Outcome != want[i] {
			t.Errorf("first round message %d (%s): outcome %v (%v), want %v", i, batch[i].ID, r.Outcome, r.Err, want[i])
		}
	}
	if !errors.Is(res[4].Err, idempotency.ErrPayloadMismatch) {
		t.Errorf("mismatch error = %v", res[4].Err)
	}
	// Redelivery of everything, as a platform would.
	for _, m := range batch {
		m.DeliveryAttempt = 2
	}
	res = handler.Process(ctx, wrapped, batch[:4], nil)
	for i, r := range res {
		if r.Outcome != handler.Ack {
			t.Errorf("second round message %d: outcome %v (%v), want ack", i, r.Outcome, r.Err)
		}
	}
	for _, id := range []string{"a", "b", "c"} {
		n, ok := runs.Load(id)
		if !ok || n.(*atomic.Int32).Load() != 1 {
			t.Errorf("effect of %s ran %v times, want 1", id, n)
		}
	}
}

// testDoReturnsTheFirstResult: idempotency.Do runs its function once and
// returns the first call's stored result to later calls.
func testDoReturnsTheFirstResult(t *testing.T, h Harness) {
	s, k := h.New(t), key(t)
	var calls atomic.Int32
	fn := func(context.Context) (map[string]int, error) {
		return map[string]int{"n": int(calls.Add(1))}, nil
	}
	for i := 0; i < 3; i++ {
		v, err := idempotency.Do(ctx, s, k, fn, nil)
		if err != nil || v["n"] != 1 {
			t.Fatalf("call %d: %v, %v; want n=1", i, v, err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("fn ran %d times", calls.Load())
	}
}
