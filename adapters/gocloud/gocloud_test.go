package gocloud_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gocloud.dev/pubsub"
	"gocloud.dev/pubsub/mempubsub"

	"github.com/eventfn/eventfn/adapters/gocloud"
	"github.com/eventfn/eventfn/handler"
)

type harness struct {
	topic, dlqTopic *pubsub.Topic
	sub, dlqSub     *pubsub.Subscription
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	topic := mempubsub.NewTopic()
	dlq := mempubsub.NewTopic()
	h := &harness{
		topic: topic, dlqTopic: dlq,
		sub:    mempubsub.NewSubscription(topic, 200*time.Millisecond),
		dlqSub: mempubsub.NewSubscription(dlq, time.Minute),
	}
	t.Cleanup(func() {
		ctx := context.Background()
		h.sub.Shutdown(ctx)
		h.dlqSub.Shutdown(ctx)
		topic.Shutdown(ctx)
		dlq.Shutdown(ctx)
	})
	return h
}

func (h *harness) send(t *testing.T, id, body string) {
	t.Helper()
	if err := h.topic.Send(context.Background(), &pubsub.Message{Body: []byte(body), Metadata: map[string]string{gocloud.MetaID: id}}); err != nil {
		t.Fatal(err)
	}
}

func TestConsumerAcksRetriesAndDeadLetters(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 20; i++ {
		h.send(t, fmt.Sprint("m", i), "ok")
	}
	h.send(t, "flaky", "flaky")
	h.send(t, "poison", "poison")
	h.send(t, "always-fails", "always")

	var mu sync.Mutex
	runs := map[string]int{}
	attempts := map[string][]int{}
	hd := handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		mu.Lock()
		runs[m.ID]++
		attempts[m.ID] = append(attempts[m.ID], m.DeliveryAttempt)
		mu.Unlock()
		switch string(m.Body) {
		case "flaky":
			if m.DeliveryAttempt < 3 {
				return errors.New("transient")
			}
		case "poison":
			return handler.Permanent(errors.New("cannot parse"))
		case "always":
			return errors.New("still down")
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	var settled, dead atomic.Int32
	done := make(chan error)
	go func() {
		done <- gocloud.Receive(ctx, h.sub, hd, &gocloud.Options{
			DeadLetter: h.dlqTopic, MaxAttempts: 4, Workers: 2,
			OnResult: func(_ context.Context, r handler.Report) {
				switch r.Settlement {
				case handler.SettledAck:
					settled.Add(1)
				case handler.SettledDeadLetter:
					dead.Add(1)
					settled.Add(1)
				}
			},
		})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for settled.Load() < 23 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if settled.Load() != 23 || dead.Load() != 2 {
		t.Fatalf("settled %d (want 23), dead-lettered %d (want 2)", settled.Load(), dead.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 0; i < 20; i++ {
		if runs[fmt.Sprint("m", i)] != 1 {
			t.Errorf("m%d ran %d times", i, runs[fmt.Sprint("m", i)])
		}
	}
	if fmt.Sprint(attempts["flaky"]) != "[1 2 3]" || runs["poison"] != 1 || runs["always-fails"] != 4 {
		t.Errorf("flaky attempts %v, poison runs %d, always-fails runs %d", attempts["flaky"], runs["poison"], runs["always-fails"])
	}
	got := map[string]string{}
	for i := 0; i < 2; i++ {
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		m, err := h.dlqSub.Receive(rctx)
		rcancel()
		if err != nil {
			t.Fatalf("dead-letter topic: %v", err)
		}
		m.Ack()
		got[m.Metadata[gocloud.MetaID]] = m.Metadata[handler.AttrError]
		if m.Metadata[handler.AttrMessageID] != m.Metadata[gocloud.MetaID] || m.Metadata[handler.AttrSource] != "gocloud" || m.Metadata[handler.AttrOutcome] == "" || m.Metadata[gocloud.MetaAttempts] == "" {
			t.Errorf("dead letter metadata %v", m.Metadata)
		}
	}
	if got["poison"] != "permanent: cannot parse" || got["always-fails"] != "still down" {
		t.Errorf("dead letters = %v", got)
	}
}

func TestConsumerWithoutDeadLetterNacksRejects(t *testing.T) {
	h := newHarness(t)
	h.send(t, "poison", "x")
	var runs atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- gocloud.Receive(ctx, h.sub, handler.HandlerFunc(func(context.Context, *handler.Message) error {
			if runs.Add(1) >= 3 {
				cancel()
			}
			return handler.Permanent(errors.New("bad"))
		}), nil)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("consumer did not stop")
	}
	if runs.Load() < 3 {
		t.Fatalf("rejected message was not redelivered (runs %d): it must never be silently acked", runs.Load())
	}
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	h := newHarness(t)
	h.send(t, "slow", "x")
	started := make(chan struct{})
	var finished atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- gocloud.Receive(ctx, h.sub, handler.HandlerFunc(func(ctx context.Context, _ *handler.Message) error {
			close(started)
			time.Sleep(200 * time.Millisecond)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			finished.Store(true)
			return nil
		}), nil)
	}()
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !finished.Load() {
		t.Fatal("in-flight message was cut short by shutdown")
	}
}

func TestOpenByURL(t *testing.T) {
	ctx := context.Background()
	topic, err := pubsub.OpenTopic(ctx, "mem://orders-test")
	if err != nil {
		t.Fatal(err)
	}
	defer topic.Shutdown(ctx)
	sub, o, err := gocloud.Open(ctx, "mem://orders-test")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Shutdown(ctx)
	if o.Source != "gocloud:mem" || o.Queue != "orders-test" {
		t.Fatalf("options = %+v", o)
	}
	if _, _, err := gocloud.Open(ctx, "nosuchscheme://x"); err == nil {
		t.Fatal("unknown scheme opened")
	}
}
