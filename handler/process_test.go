package handler_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfn/eventfn/handler"
)

func msgs(n int) []*handler.Message {
	out := make([]*handler.Message, n)
	for i := range out {
		out[i] = &handler.Message{ID: fmt.Sprint(i), Body: []byte("{}")}
	}
	return out
}

func TestProcessReturnsOneResultPerMessageInOrder(t *testing.T) {
	batch := msgs(6)
	batch[2] = nil
	h := handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		switch m.ID {
		case "1":
			return errors.New("transient")
		case "3":
			return handler.Permanent(errors.New("bad"))
		case "4":
			panic("boom")
		case "5":
			panic(nil)
		}
		return nil
	})
	res := handler.Process(context.Background(), h, batch, nil)
	want := []handler.Outcome{handler.Ack, handler.Retry, handler.Retry, handler.Reject, handler.Retry, handler.Retry}
	if len(res) != len(batch) {
		t.Fatalf("%d results for %d messages", len(res), len(batch))
	}
	for i, r := range res {
		if r.Outcome != want[i] || r.Message != batch[i] {
			t.Errorf("result %d: outcome %v (%v), want %v", i, r.Outcome, r.Err, want[i])
		}
	}
	if !errors.Is(res[2].Err, handler.ErrNilMessage) || res[2].Ran {
		t.Errorf("nil message: %+v", res[2])
	}
	var pe *handler.PanicError
	if !errors.As(res[4].Err, &pe) || pe.Value != "boom" || len(pe.Stack) == 0 {
		t.Errorf("panic result: %v", res[4].Err)
	}
	if !errors.As(res[5].Err, &pe) {
		t.Errorf("panic(nil) result: %v", res[5].Err)
	}
	if handler.Process(context.Background(), h, nil, nil) != nil {
		t.Error("empty batch returned results")
	}
}

// slowHandler sleeps d per message and records the peak number of handlers
// running at once.
func slowHandler(d time.Duration) (handler.Handler, *atomic.Int32) {
	var cur, peak atomic.Int32
	return handler.HandlerFunc(func(context.Context, *handler.Message) error {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(d)
		cur.Add(-1)
		return nil
	}), &peak
}

func TestProcessBoundsConcurrency(t *testing.T) {
	for _, limit := range []int{1, 3, 10} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			h, peak := slowHandler(5 * time.Millisecond)
			handler.Process(context.Background(), h, msgs(40), &handler.ProcessOptions{Concurrency: limit})
			if p := peak.Load(); p > int32(limit) || p < 1 {
				t.Fatalf("peak concurrency %d, limit %d", p, limit)
			}
			// Slow handlers must actually run in parallel: the workers that
			// start one another reach well beyond one.
			if p := peak.Load(); limit > 1 && p < 2 {
				t.Fatalf("peak concurrency %d with limit %d: slow handlers ran one at a time", p, limit)
			}
		})
	}
}

func TestProcessOrderingKeys(t *testing.T) {
	batch := msgs(9)
	keys := []string{"a", "b", "a", "", "a", "b", "a", "b", ""}
	for i, k := range keys {
		batch[i].OrderingKey = k
	}
	var mu sync.Mutex
	var seen []string
	var running sync.Map
	h := handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		if m.OrderingKey != "" {
			if _, busy := running.LoadOrStore(m.OrderingKey, true); busy {
				t.Errorf("two messages of group %q ran at once", m.OrderingKey)
			}
			defer running.Delete(m.OrderingKey)
		}
		time.Sleep(time.Millisecond)
		mu.Lock()
		seen = append(seen, m.ID)
		mu.Unlock()
		if m.ID == "2" { // second message of group a fails
			return errors.New("fail")
		}
		return nil
	})
	res := handler.Process(context.Background(), h, batch, &handler.ProcessOptions{Concurrency: 4})
	for _, i := range []int{4, 6} {
		if !errors.Is(res[i].Err, handler.ErrOrderingKeyFailed) || res[i].Ran || res[i].Outcome != handler.Retry {
			t.Errorf("message %d after the failure in its group: %+v", i, res[i])
		}
	}
	for _, i := range []int{0, 1, 3, 5, 7, 8} {
		if res[i].Err != nil {
			t.Errorf("message %d: %v", i, res[i].Err)
		}
	}
	order := map[string]int{}
	for i, id := range seen {
		order[id] = i
	}
	if order["0"] > order["2"] || order["1"] > order["5"] || order["5"] > order["7"] {
		t.Errorf("group order broken: %v", seen)
	}
	if _, ok := order["4"]; ok {
		t.Errorf("message 4 ran after its group failed: %v", seen)
	}

	// Unordered ignores the keys.
	plain := handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		if m.ID == "2" {
			return errors.New("fail")
		}
		return nil
	})
	res = handler.Process(context.Background(), plain, batch, &handler.ProcessOptions{Unordered: true})
	if res[4].Err != nil {
		t.Errorf("unordered: message 4 = %v", res[4].Err)
	}
}

func TestProcessDeadlineMargin(t *testing.T) {
	const margin = time.Second
	deadline := time.Now().Add(2 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	release := make(chan struct{})
	defer close(release)
	var started atomic.Int32
	h := handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		started.Add(1)
		switch m.ID {
		case "0": // honours its context
			<-ctx.Done()
			return ctx.Err()
		case "1": // ignores it and blocks past the deadline
			<-release
		}
		return nil
	})
	res := handler.Process(ctx, h, msgs(6), &handler.ProcessOptions{Concurrency: 2, DeadlineMargin: margin})
	if time.Now().After(deadline) {
		t.Fatalf("Process returned after the deadline")
	}
	if started.Load() != 2 {
		t.Errorf("%d handlers started, want 2 (the rest had to wait past the margin)", started.Load())
	}
	if res[0].Outcome != handler.Retry || !res[0].Ran {
		t.Errorf("message 0: %+v", res[0])
	}
	if !errors.Is(res[1].Err, handler.ErrDeadline) {
		t.Errorf("blocked message 1: %v, want ErrDeadline", res[1].Err)
	}
	for _, r := range res[2:] {
		if !errors.Is(r.Err, handler.ErrDeadline) || r.Ran || r.Outcome != handler.Retry {
			t.Errorf("unstarted message %s: %+v", r.Message.ID, r)
		}
	}
}

func TestProcessCancelledContextStartsNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var ran atomic.Bool
	res := handler.Process(ctx, handler.HandlerFunc(func(context.Context, *handler.Message) error { ran.Store(true); return nil }), msgs(3), nil)
	for _, r := range res {
		if !errors.Is(r.Err, handler.ErrDeadline) || !errors.Is(r.Err, context.Canceled) {
			t.Errorf("%s: %v", r.Message.ID, r.Err)
		}
	}
	if ran.Load() {
		t.Error("a handler ran under a cancelled context")
	}
}

func TestProcessBatchIsVisibleAndFinishersRun(t *testing.T) {
	batch := msgs(5)
	var sizes sync.Map
	var finished atomic.Int32
	var once sync.Once
	h := handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		b := handler.BatchFrom(ctx)
		sizes.Store(m.ID, len(b.Messages()))
		v := b.Value("k", func() any { return new(atomic.Int32) }).(*atomic.Int32)
		v.Add(1)
		once.Do(func() { b.OnFinish(func(context.Context) { finished.Store(v.Load()) }) })
		return nil
	})
	handler.Process(context.Background(), h, batch, nil)
	sizes.Range(func(k, v any) bool {
		if v.(int) != 5 {
			t.Errorf("message %v saw a batch of %d", k, v)
		}
		return true
	})
	if finished.Load() != 5 {
		t.Errorf("finisher saw %d messages done, want 5", finished.Load())
	}
	if handler.BatchFrom(context.Background()) != nil {
		t.Error("BatchFrom outside Process is not nil")
	}
}

func BenchmarkProcess(b *testing.B) {
	noop := handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil })
	for _, n := range []int{1, 10, 100, 1000} {
		for _, withDeadline := range []bool{false, true} {
			b.Run(fmt.Sprintf("batch=%d/deadline=%v", n, withDeadline), func(b *testing.B) {
				batch := msgs(n)
				ctx := context.Background()
				if withDeadline {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, time.Hour)
					defer cancel()
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					handler.Process(ctx, noop, batch, nil)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msg")
			})
		}
	}
}

func TestProcessAbandonsHandlersThatIgnoreCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	returned := make(chan struct{})
	started := make(chan struct{}, 2)
	h := handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		started <- struct{}{}
		if m.ID == "0" {
			<-release // ignores its context
			defer close(returned)
		}
		return nil
	})
	go func() { <-started; <-started; cancel() }()
	res := handler.Process(ctx, h, msgs(2), &handler.ProcessOptions{Concurrency: 2, DeadlineMargin: 200 * time.Millisecond})
	if !errors.Is(res[0].Err, handler.ErrDeadline) || res[0].Outcome != handler.Retry {
		t.Errorf("stuck handler: %+v, want abandoned with ErrDeadline", res[0])
	}
	if res[1].Err != nil {
		t.Errorf("finished handler: %v", res[1].Err)
	}
	// The abandoned handler returns later; its result must not reach the
	// results already returned (the race detector also watches this).
	close(release)
	<-returned
	time.Sleep(50 * time.Millisecond) // its worker records the result just after
	if !errors.Is(res[0].Err, handler.ErrDeadline) || res[0].Ran {
		t.Errorf("the abandoned handler's late return changed its result: %+v", res[0])
	}
}

type preparer struct {
	handler.Handler
	prepared chan []*handler.Message
}

func (p *preparer) PrepareBatch(ctx context.Context) {
	p.prepared <- handler.BatchFrom(ctx).Messages()
}

func TestProcessPreparesBatchesBeforeAnyMessageRuns(t *testing.T) {
	var ran atomic.Int32
	var sawPrepared atomic.Bool
	p := &preparer{prepared: make(chan []*handler.Message, 4)}
	p.Handler = handler.HandlerFunc(func(context.Context, *handler.Message) error {
		ran.Add(1)
		if len(p.prepared) == 1 {
			sawPrepared.Store(true)
		}
		return nil
	})
	logging := func(next handler.Handler) handler.Handler {
		return handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error { return next.Handle(ctx, m) })
	}
	// The preparer sits inside a middleware that knows nothing of it: Chain
	// still prepares it.
	h := handler.Chain(p, logging)
	batch := msgs(5)
	handler.Process(context.Background(), h, batch, nil)
	if len(p.prepared) != 1 || ran.Load() != 5 || !sawPrepared.Load() {
		t.Fatalf("prepared %d times, ran %d, prepared before running: %v", len(p.prepared), ran.Load(), sawPrepared.Load())
	}
	if got := <-p.prepared; len(got) != 5 {
		t.Fatalf("prepared a batch of %d", len(got))
	}
	// A batch of one is not prepared; a panicking preparer does not lose the batch.
	handler.Process(context.Background(), h, msgs(1), nil)
	if len(p.prepared) != 0 {
		t.Fatal("a batch of one was prepared")
	}
	bad := handler.Chain(&panicky{Handler: p.Handler})
	for _, r := range handler.Process(context.Background(), bad, msgs(3), nil) {
		if r.Err != nil {
			t.Fatalf("a panicking preparer failed message %s: %v", r.Message.ID, r.Err)
		}
	}
}

type panicky struct{ handler.Handler }

func (panicky) PrepareBatch(context.Context) { panic("prepare bug") }

// Slow handlers bring the workers up to the limit: 20 handlers of 100ms
// with a limit of 10 overlap ten at a time at some point.
func TestProcessReachesTheConcurrencyLimitForSlowHandlers(t *testing.T) {
	h, peak := slowHandler(100 * time.Millisecond)
	handler.Process(context.Background(), h, msgs(20), &handler.ProcessOptions{Concurrency: 10})
	if p := peak.Load(); p != 10 {
		t.Fatalf("peak concurrency %d, want the limit of 10", p)
	}
}

type nastyError struct{ p *int }

func (e nastyError) Error() string        { return "nasty" }
func (e nastyError) Is(target error) bool { return *e.p == 0 } // nil dereference

func TestProcessSurvivesErrorsWhoseMethodsPanic(t *testing.T) {
	res := handler.Process(context.Background(), handler.HandlerFunc(func(context.Context, *handler.Message) error {
		return nastyError{}
	}), msgs(3), nil)
	for _, r := range res {
		if r.Outcome != handler.Retry {
			t.Fatalf("%s: outcome %v, want retry", r.Message.ID, r.Outcome)
		}
	}
}

// After many batches of fast handlers, a batch of slow handlers still runs
// them side by side. Each handler here waits until five are running at
// once, which one worker alone could never reach.
func TestProcessStartsHelpersForSlowHandlersAfterFastOnes(t *testing.T) {
	fast := handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil })
	for range 200 {
		handler.Process(context.Background(), fast, msgs(10), nil)
	}
	var running atomic.Int32
	reached := make(chan struct{})
	var once sync.Once
	slow := handler.HandlerFunc(func(ctx context.Context, _ *handler.Message) error {
		if running.Add(1) >= 5 {
			once.Do(func() { close(reached) })
		}
		defer running.Add(-1)
		select {
		case <-reached:
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("five handlers never ran at once")
		}
	})
	for _, r := range handler.Process(context.Background(), slow, msgs(10), nil) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
}

// slowPreparer takes d to prepare a batch and counts the messages that ran
// while it was preparing.
type slowPreparer struct {
	handler.Handler
	d         time.Duration
	preparing atomic.Bool
	early     atomic.Int32
}

func (p *slowPreparer) PrepareBatch(context.Context) {
	p.preparing.Store(true)
	time.Sleep(p.d)
	p.preparing.Store(false)
}

func (p *slowPreparer) Handle(ctx context.Context, m *handler.Message) error {
	if p.preparing.Load() {
		p.early.Add(1)
	}
	return p.Handler.Handle(ctx, m)
}

// After many quick batches, a batch whose preparation is slow still starts
// no message, on any worker, before it is prepared.
func TestProcessHelpersWaitForASlowPreparation(t *testing.T) {
	fast := handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil })
	p := &slowPreparer{Handler: fast}
	for range 200 {
		handler.Process(context.Background(), p, msgs(10), nil)
	}
	p.d = 20 * time.Millisecond
	for range 3 {
		for _, r := range handler.Process(context.Background(), p, msgs(10), nil) {
			if r.Err != nil || !r.Ran {
				t.Fatalf("%s: ran %v, err %v", r.Message.ID, r.Ran, r.Err)
			}
		}
	}
	if n := p.early.Load(); n != 0 {
		t.Fatalf("%d messages ran while their batch was being prepared", n)
	}
}

// A store that was slow once (a claim that took long) does not hold back
// the workers of later batches: slow handlers in the next batch run side
// by side long before the slow preparation's time has passed again.
func TestProcessASlowPreparationDoesNotDelayLaterBatches(t *testing.T) {
	fast := handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil })
	const slow = 1500 * time.Millisecond
	p := &slowPreparer{Handler: fast, d: slow}
	handler.Process(context.Background(), p, msgs(10), nil)
	p.d = 0
	var running atomic.Int32
	reached := make(chan struct{})
	var once sync.Once
	p.Handler = handler.HandlerFunc(func(context.Context, *handler.Message) error {
		if running.Add(1) >= 5 {
			once.Do(func() { close(reached) })
		}
		defer running.Add(-1)
		select {
		case <-reached:
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("five handlers never ran at once")
		}
	})
	start := time.Now()
	for _, r := range handler.Process(context.Background(), p, msgs(10), nil) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if d := time.Since(start); d >= slow/2 {
		t.Fatalf("the batch after a %v preparation took %v to run five handlers at once", slow, d)
	}
}

// A finisher that blocks past its context (a store that hangs at
// completion) does not hold Process past the invocation's deadline: its
// context ends inside the margin and Process returns by then, with every
// message's result, whether the handlers all returned or one was
// abandoned.
func TestProcessReturnsBeforeTheDeadlineWhenAFinisherHangs(t *testing.T) {
	for _, stuckHandler := range []bool{false, true} {
		t.Run(fmt.Sprintf("stuck handler=%v", stuckHandler), func(t *testing.T) {
			const margin = 600 * time.Millisecond
			deadline := time.Now().Add(1500 * time.Millisecond)
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			release := make(chan struct{})
			defer close(release)
			started := make(chan time.Time, 1) // the finisher's context's deadline
			var once sync.Once
			h := handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
				once.Do(func() {
					handler.BatchFrom(ctx).OnFinish(func(ctx context.Context) {
						dl, ok := ctx.Deadline()
						if !ok {
							t.Error("the finisher's context has no deadline")
						}
						started <- dl
						<-ctx.Done()
						<-release // and then ignores it
					})
				})
				if stuckHandler && m.ID == "0" {
					<-release
				}
				return nil
			})
			res := handler.Process(ctx, h, msgs(3), &handler.ProcessOptions{DeadlineMargin: margin})
			if now := time.Now(); !now.Before(deadline) {
				t.Fatalf("Process returned %v after the deadline", now.Sub(deadline))
			}
			select {
			case dl := <-started:
				if latest := deadline.Add(-margin / 4); dl.After(latest) {
					t.Errorf("the finisher's context ends %v before the deadline, want at least a quarter of the margin (%v)", deadline.Sub(dl), margin/4)
				}
			default:
				t.Fatal("the finisher never ran")
			}
			for i, r := range res {
				want := error(nil)
				if stuckHandler && i == 0 {
					want = handler.ErrDeadline
				}
				if !errors.Is(r.Err, want) || (want == nil && r.Err != nil) {
					t.Errorf("message %d: %v, want %v", i, r.Err, want)
				}
			}
		})
	}
}
