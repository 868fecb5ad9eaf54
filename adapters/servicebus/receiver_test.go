package servicebus_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/eventfn/eventfn/adapters/servicebus"
	"github.com/eventfn/eventfn/handler"
)

// run starts c.Run and returns a function that stops it and waits.
func run(t *testing.T, c *servicebus.Consumer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil after shutdown", err)
		}
	}
}

func waitSettled(t *testing.T, f *fakeReceiver, n int) {
	t.Helper()
	guard := time.After(10 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-f.settledCh:
		case <-guard:
			t.Fatalf("only %d of %d messages settled", i, n)
		}
	}
}

func TestConsumerSettlesByOutcome(t *testing.T) {
	clock := newFakeClock()
	f := newFakeReceiver(clock, time.Minute, []*azservicebus.ReceivedMessage{
		received("ok", 1, `{"id":"a"}`),
		received("transient", 2, `{"id":"b"}`),
		received("poison", 1, `not json`),
		received("panics", 1, `{"id":"p"}`),
	})
	var seen sync.Map
	h := handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		seen.Store(m.ID, m)
		switch m.ID {
		case "transient":
			return handler.RetryAfter(time.Minute, errors.New("busy"))
		case "poison":
			_, err := handler.Decode[map[string]any](m)
			return err
		case "panics":
			panic("bug")
		}
		return nil
	})
	var mu sync.Mutex
	var reports []handler.Report
	c := servicebus.NewConsumerWithClock(f, h, &servicebus.ConsumerOptions{Queue: "orders", Logger: quiet(),
		OnResult: func(_ context.Context, r handler.Report) { mu.Lock(); reports = append(reports, r); mu.Unlock() }}, clock)
	stop := run(t, c)
	waitSettled(t, f, 4)
	stop()

	got := f.settlements()
	want := map[string]string{"ok": "complete", "transient": "abandon", "poison": "dead-letter", "panics": "abandon"}
	for id, action := range want {
		if got[id].action != action || got[id].err != nil {
			t.Errorf("%s: settled %+v, want %s", id, got[id], action)
		}
	}
	if p := got["poison"]; p.reason != "eventfn: decode error" || !strings.Contains(p.description, "decode") {
		t.Errorf("dead-letter reason %q description %q", p.reason, p.description)
	}
	if s := c.Stats(); s.Received != 4 || s.Completed != 1 || s.Abandoned != 2 || s.DeadLettered != 1 || s.SettleFailed != 0 {
		t.Errorf("Stats = %+v", s)
	}
	if len(reports) != 4 {
		t.Errorf("OnResult called %d times, want 4", len(reports))
	}
	v, _ := seen.Load("transient")
	if m := v.(*handler.Message); m.DeliveryAttempt != 2 || m.Queue != "orders" || m.Source != handler.SourceServiceBus {
		t.Errorf("message = %+v", m)
	} else {
		var rm *azservicebus.ReceivedMessage
		if !m.As(&rm) || rm.MessageID != "transient" {
			t.Errorf("As(*azservicebus.ReceivedMessage) failed")
		}
	}
}

func TestConsumerReportsFailedSettlementAsNotDone(t *testing.T) {
	clock := newFakeClock()
	f := newFakeReceiver(clock, time.Minute, []*azservicebus.ReceivedMessage{received("m1", 1, `{}`)})
	f.settleErr = &azservicebus.Error{Code: azservicebus.CodeLockLost}
	var got handler.Report
	c := servicebus.NewConsumerWithClock(f, handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }),
		&servicebus.ConsumerOptions{Logger: quiet(), OnResult: func(_ context.Context, r handler.Report) { got = r }}, clock)
	stop := run(t, c)
	waitSettled(t, f, 1)
	stop()
	var se *servicebus.SettleError
	if !errors.Is(got.Err, servicebus.ErrLockLost) || got.Settlement != handler.SettledRetry || !errors.As(got.Err, &se) || se.Action != servicebus.Complete {
		t.Errorf("Report = %+v, want a lock-lost complete reported as retry", got)
	}
	if !errors.As(got.Err, &se) || se.MessageID != "m1" {
		t.Errorf("Err = %v, want a *SettleError for m1", got.Err)
	}
	if s := c.Stats(); s.Completed != 0 || s.SettleFailed != 1 {
		t.Errorf("Stats = %+v, want 0 completed and 1 failed settlement", s)
	}
}

func TestLockRenewalRenewsOnTimeAndStopsOnSettle(t *testing.T) {
	clock := newFakeClock()
	f := newFakeReceiver(clock, time.Minute, []*azservicebus.ReceivedMessage{received("slow", 1, `{}`)})
	started, release := make(chan struct{}), make(chan struct{})
	h := handler.HandlerFunc(func(context.Context, *handler.Message) error {
		close(started)
		<-release
		return nil
	})
	c := servicebus.NewConsumerWithClock(messageRenewer{f}, h, &servicebus.ConsumerOptions{Logger: quiet()}, clock)
	stop := run(t, c)
	<-started

	clock.waitWaiters(t, 1) // the renewal loop waits for half the minute lock
	clock.Advance(29 * time.Second)
	if n := f.renewals(); n != 0 {
		t.Fatalf("renewed %d times before half the lock had passed", n)
	}
	clock.Advance(time.Second)
	if id := <-f.renewCh; id != "slow" {
		t.Fatalf("renewed %q", id)
	}
	clock.waitWaiters(t, 1) // waiting again, for half of the renewed lock
	clock.Advance(30 * time.Second)
	<-f.renewCh

	clock.waitWaiters(t, 1)
	close(release)
	waitSettled(t, f, 1)
	// The loop was stopped before the settlement: no renewal follows.
	clock.Advance(10 * time.Minute)
	stop()
	if n := f.renewals(); n != 2 {
		t.Errorf("renewed %d times, want 2", n)
	}
	if s := f.settlements()["slow"]; s.action != "complete" || s.err != nil {
		t.Errorf("settled %+v, want complete", s)
	}
	if s := c.Stats(); s.LockRenewals != 2 || s.Completed != 1 {
		t.Errorf("Stats = %+v", s)
	}
}

func TestHandlerOutlivingMaxLockRenewalLosesTheLock(t *testing.T) {
	clock := newFakeClock()
	f := newFakeReceiver(clock, time.Minute, []*azservicebus.ReceivedMessage{received("stuck", 1, `{}`)})
	started, release := make(chan struct{}), make(chan struct{})
	h := handler.HandlerFunc(func(context.Context, *handler.Message) error {
		close(started)
		<-release
		return nil
	})
	var got handler.Report
	c := servicebus.NewConsumerWithClock(messageRenewer{f}, h, &servicebus.ConsumerOptions{Logger: quiet(),
		MaxLockRenewal: 45 * time.Second, OnResult: func(_ context.Context, r handler.Report) { got = r }}, clock)
	stop := run(t, c)
	<-started
	clock.waitWaiters(t, 1)
	clock.Advance(30 * time.Second)
	<-f.renewCh // renewed once; the next renewal would fall after MaxLockRenewal
	clock.Advance(2 * time.Minute)
	close(release)
	waitSettled(t, f, 1)
	stop()
	if f.renewals() != 1 {
		t.Errorf("renewed %d times, want 1", f.renewals())
	}
	if !errors.Is(got.Err, servicebus.ErrLockLost) {
		t.Errorf("settlement error = %v, want lock lost", got.Err)
	}
	if s := c.Stats(); s.Completed != 0 || s.SettleFailed != 1 {
		t.Errorf("Stats = %+v: a message whose lock was lost must not count as completed", s)
	}
}

func TestSessionMessagesRunInOrderUnderTheSessionLock(t *testing.T) {
	clock := newFakeClock()
	f := newFakeReceiver(clock, time.Minute, []*azservicebus.ReceivedMessage{
		receivedInSession("s1", "cust-1", `1`),
		receivedInSession("s2", "cust-1", `2`),
		receivedInSession("s3", "cust-1", `3`),
	})
	var mu sync.Mutex
	var order []string
	gate := make(chan struct{})
	h := handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		mu.Lock()
		order = append(order, m.ID+"@"+m.OrderingKey)
		mu.Unlock()
		if m.ID == "s1" {
			<-gate
		}
		if m.ID == "s2" {
			return errors.New("fails")
		}
		return nil
	})
	c := servicebus.NewConsumerWithClock(sessionRenewer{f}, h, &servicebus.ConsumerOptions{Logger: quiet()}, clock)
	stop := run(t, c)
	clock.waitWaiters(t, 1)
	clock.Advance(30 * time.Second)
	if id := <-f.renewCh; id != "session" {
		t.Fatalf("renewed %q, want the session lock", id)
	}
	close(gate)
	waitSettled(t, f, 3)
	stop()
	if got := strings.Join(order, ","); got != "s1@cust-1,s2@cust-1" {
		t.Errorf("ran %s; want s1 then s2 and s3 not run", got)
	}
	got := f.settlements()
	if got["s1"].action != "complete" || got["s2"].action != "abandon" || got["s3"].action != "abandon" {
		t.Errorf("settlements = %+v", got)
	}
}

func TestShutdownFinishesTheBatchInHand(t *testing.T) {
	clock := newFakeClock()
	f := newFakeReceiver(clock, time.Minute, []*azservicebus.ReceivedMessage{received("inflight", 1, `{}`)})
	started, release := make(chan struct{}), make(chan struct{})
	h := handler.HandlerFunc(func(ctx context.Context, _ *handler.Message) error {
		close(started)
		<-release
		return ctx.Err() // still alive within the grace period
	})
	c := servicebus.NewConsumerWithClock(f, h, &servicebus.ConsumerOptions{Logger: quiet()}, clock)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	<-started
	cancel()
	clock.waitWaiters(t, 1) // the grace timer
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if s := f.settlements()["inflight"]; s.action != "complete" {
		t.Errorf("in-flight message settled %+v, want complete", s)
	}
}

func TestShutdownGraceCancelsHandlersThatDoNotFinish(t *testing.T) {
	clock := newFakeClock()
	f := newFakeReceiver(clock, time.Minute, []*azservicebus.ReceivedMessage{received("hangs", 1, `{}`)})
	started := make(chan struct{})
	h := handler.HandlerFunc(func(ctx context.Context, _ *handler.Message) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	c := servicebus.NewConsumerWithClock(f, h, &servicebus.ConsumerOptions{Logger: quiet(), ShutdownGrace: 5 * time.Second}, clock)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	<-started
	cancel()
	clock.waitWaiters(t, 1)
	clock.Advance(5 * time.Second)
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if s := f.settlements()["hangs"]; s.action != "abandon" {
		t.Errorf("cancelled message settled %+v, want abandon", s)
	}
}

type failingReceiver struct{ *fakeReceiver }

func (failingReceiver) ReceiveMessages(context.Context, int, *azservicebus.ReceiveMessagesOptions) ([]*azservicebus.ReceivedMessage, error) {
	return nil, &azservicebus.Error{Code: azservicebus.CodeUnauthorizedAccess}
}

func TestRunReturnsReceiveErrors(t *testing.T) {
	c := servicebus.NewConsumer(failingReceiver{newFakeReceiver(newFakeClock(), time.Minute)}, handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }), nil)
	err := c.Run(context.Background())
	var sbErr *azservicebus.Error
	if !errors.As(err, &sbErr) || sbErr.Code != azservicebus.CodeUnauthorizedAccess || !strings.HasPrefix(err.Error(), "servicebus: receive:") {
		t.Errorf("Run = %v, want the wrapped unauthorized error", err)
	}
}

func TestNilMessagesInABatchAreSkipped(t *testing.T) {
	f := newFakeReceiver(newFakeClock(), time.Minute, []*azservicebus.ReceivedMessage{nil, received("real", 1, `{}`)})
	c := servicebus.NewConsumer(f, handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }), &servicebus.ConsumerOptions{Logger: quiet()})
	stop := run(t, c)
	waitSettled(t, f, 1)
	stop()
	if s := f.settlements()["real"]; s.action != "complete" {
		t.Errorf("settled %+v", s)
	}
}
