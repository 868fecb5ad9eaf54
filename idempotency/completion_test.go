package idempotency_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
)

// events records idempotency events by kind.
type events struct {
	mu sync.Mutex
	n  map[idempotency.Event]int
}

func (e *events) hook(_ context.Context, ev idempotency.Event, _ *handler.Message) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == nil {
		e.n = map[idempotency.Event]int{}
	}
	e.n[ev]++
}

func (e *events) get(ev idempotency.Event) int { e.mu.Lock(); defer e.mu.Unlock(); return e.n[ev] }

// eventually polls cond for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("after %v: %s", d, what)
}

func status(s idempotency.Store, id string) idempotency.Status {
	r, err := s.Get(context.Background(), idempotency.HashKey(testScope, id))
	if err != nil {
		return 0
	}
	return r.Status
}

func TestCompletionOutlivesAStoreOutage(t *testing.T) {
	s := newSpy()
	s.failComplete.Store(true)
	var ev events
	var c counter
	g, err := idempotency.New(s, &idempotency.Options{OnEvent: ev.hook})
	if err != nil {
		t.Fatal(err)
	}
	h := g.Wrap(c.handler(nil))
	if err := h.Handle(context.Background(), msg("m", "a")); err != nil {
		t.Fatalf("a done effect became a failure: %v", err)
	}
	// The record could not be completed, but this process knows the effect
	// happened: a redelivery here is acknowledged without running.
	if err := h.Handle(context.Background(), msg("m", "a")); err != nil || c.get("m") != 1 {
		t.Fatalf("redelivery during the outage: %v, runs %d", err, c.get("m"))
	}
	time.Sleep(300 * time.Millisecond) // a few background attempts fail
	if status(s, "m") != idempotency.StatusInProgress || s.completes.Load() < 2 {
		t.Fatalf("during the outage: status %v after %d completes", status(s, "m"), s.completes.Load())
	}
	s.failComplete.Store(false) // the store is back
	eventually(t, 5*time.Second, "record not completed after the store came back", func() bool {
		return status(s, "m") == idempotency.StatusCompleted
	})
	if err := g.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ev.get(idempotency.EventCompleteRetried) != 1 || ev.get(idempotency.EventCompleteFailed) != 0 {
		t.Errorf("events %v, want one complete_retried", ev.n)
	}
}

func TestCompletionIsGivenUpWhenTheLeaseEnds(t *testing.T) {
	s := newSpy()
	s.failComplete.Store(true)
	var ev events
	var c counter
	g, err := idempotency.New(s, &idempotency.Options{OnEvent: ev.hook, MinLease: 400 * time.Millisecond, MaxLease: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Wrap(c.handler(nil)).Handle(context.Background(), msg("m", "a")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "EventCompleteFailed not reported after the lease ended", func() bool {
		return ev.get(idempotency.EventCompleteFailed) == 1
	})
	n := s.completes.Load()
	time.Sleep(300 * time.Millisecond)
	if s.completes.Load() != n {
		t.Error("completion still retried after it was given up")
	}
	if err := g.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestFlushWaitsForPendingCompletions(t *testing.T) {
	s := newSpy()
	s.failComplete.Store(true)
	var c counter
	g, err := idempotency.New(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := g.Wrap(c.handler(nil))
	for i := range 3 {
		if err := h.Handle(context.Background(), msg(fmt.Sprint(i), "a")); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := g.Flush(ctx); err == nil || !strings.Contains(err.Error(), "3 completions still pending") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush during the outage = %v", err)
	}
	s.failComplete.Store(false)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if status(s, fmt.Sprint(i)) != idempotency.StatusCompleted {
			t.Errorf("message %d not completed after Flush", i)
		}
	}
}

func TestBatchCompletesFinishedMessagesWithoutWaitingForTheSlowest(t *testing.T) {
	s := newSpy()
	release := make(chan struct{})
	h := idempotency.Middleware(s, &idempotency.Options{CacheSize: -1})(handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		if m.ID == "slow" {
			<-release
		}
		return nil
	}))
	batch := []*handler.Message{msg("slow", "s")}
	for i := range 9 {
		batch = append(batch, msg(fmt.Sprint(i), "q"))
	}
	done := make(chan []handler.Result)
	go func() { done <- handler.Process(context.Background(), h, batch, nil) }()
	eventually(t, 5*time.Second, "quick messages not completed while the slow one runs", func() bool {
		for i := range 9 {
			if status(s, fmt.Sprint(i)) != idempotency.StatusCompleted {
				return false
			}
		}
		return true
	})
	if status(s, "slow") != idempotency.StatusInProgress {
		t.Fatalf("slow message: %v, want IN_PROGRESS while it runs", status(s, "slow"))
	}
	close(release)
	for _, r := range <-done {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if status(s, "slow") != idempotency.StatusCompleted {
		t.Fatal("slow message not completed after the batch")
	}
}

func TestInProgressRetriesSoonAndLonger(t *testing.T) {
	s := newSpy()
	hold := make(chan struct{})
	started := make(chan struct{})
	h := idempotency.Middleware(s, &idempotency.Options{CacheSize: -1})(handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		if m.DeliveryAttempt == 1 {
			close(started)
			<-hold
		}
		return nil
	}))
	defer close(hold)
	go h.Handle(context.Background(), msg("m", "a")) // holds the key (lease: 5m by default)
	<-started
	for _, tc := range []struct {
		attempt int
		want    time.Duration
	}{{2, 2 * time.Second}, {3, 4 * time.Second}, {12, 2048 * time.Second}} {
		m := msg("m", "a")
		m.DeliveryAttempt = tc.attempt
		err := h.Handle(context.Background(), m)
		d, ok := handler.RetryDelay(err)
		if !errors.Is(err, idempotency.ErrInProgress) || !ok {
			t.Fatalf("attempt %d: %v, want RetryAfter(ErrInProgress)", tc.attempt, err)
		}
		want := min(tc.want, idempotency.DefaultLease)
		if d > want || d < want-10*time.Second {
			t.Errorf("attempt %d: retry after %v, want %v (never past the lease)", tc.attempt, d, want)
		}
	}
}

// ambiguousStore applies a completion but reports it failed, as when the
// server dies before its reply arrives.
type ambiguousStore struct {
	*spy
	once atomic.Bool
}

func (s *ambiguousStore) Complete(ctx context.Context, k, tok string, res []byte, ttl time.Duration) error {
	err := s.spy.Complete(ctx, k, tok, res, ttl)
	if s.once.CompareAndSwap(false, true) {
		return errors.Join(idempotency.ErrStore, errDown)
	}
	return err
}

func (s *ambiguousStore) CompleteBatch(ctx context.Context, items []idempotency.Completion) []error {
	e := make([]error, len(items))
	for i, it := range items {
		e[i] = s.Complete(ctx, it.Key, it.Token, it.Result, it.TTL)
	}
	return e
}

func TestACompletionWhoseReplyWasLostCountsAsLanded(t *testing.T) {
	s := &ambiguousStore{spy: newSpy()}
	var ev events
	g, err := idempotency.New(s, &idempotency.Options{OnEvent: ev.hook})
	if err != nil {
		t.Fatal(err)
	}
	var c counter
	if err := g.Wrap(c.handler(nil)).Handle(context.Background(), msg("m", "a")); err != nil {
		t.Fatal(err)
	}
	if err := g.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ev.get(idempotency.EventCompleteRetried) != 1 || ev.get(idempotency.EventCompleteFailed) != 0 {
		t.Fatalf("events %v: the retry found the record completed, want complete_retried and no complete_failed", ev.n)
	}
}
