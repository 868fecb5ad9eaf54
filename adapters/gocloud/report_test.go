package gocloud_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/pubsub"

	"github.com/eventfn/eventfn/adapters/gocloud"
	"github.com/eventfn/eventfn/adapters/internal/settled/settledtest"
	"github.com/eventfn/eventfn/handler"
)

func TestConsumerReportsEachMessageOnceAndLogsFailures(t *testing.T) {
	h := newHarness(t)
	h.send(t, "ok", "ok")
	h.send(t, "poison", "poison")
	// A redriven copy carries its original ID as handler.AttrMessageID.
	if err := h.topic.Send(context.Background(), &pubsub.Message{Body: []byte("ok"), Metadata: map[string]string{handler.AttrMessageID: "redriven"}}); err != nil {
		t.Fatal(err)
	}
	logs := &settledtest.Logs{}
	var mu sync.Mutex
	reports := map[string][]handler.Report{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	hd := handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		if string(m.Body) == "poison" {
			return handler.Permanent(errors.New("cannot parse"))
		}
		return nil
	})
	go func() {
		done <- gocloud.Receive(ctx, h.sub, hd, &gocloud.Options{
			Source: "gocloud:mem", Queue: "orders", DeadLetter: h.dlqTopic, Logger: slog.New(logs),
			OnResult: func(_ context.Context, r handler.Report) {
				mu.Lock()
				reports[r.Result.Message.ID] = append(reports[r.Result.Message.ID], r)
				mu.Unlock()
			},
		})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(reports)
		mu.Unlock()
		if n == 3 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, st := range map[string]handler.Settlement{"ok": handler.SettledAck, "redriven": handler.SettledAck, "poison": handler.SettledDeadLetter} {
		if rs := reports[id]; len(rs) != 1 || rs[0].Settlement != st {
			t.Errorf("%s: reports %v, want one %s", id, rs, st)
		}
	}
	if l := logs.Settled()["ok"]; len(l) != 0 {
		t.Errorf("acked message logged: %v", l)
	}
	l := logs.Settled()["poison"]
	if len(l) != 1 || l[0]["settlement"] != "dead_letter" || !strings.Contains(l[0]["error"], "cannot parse") || l[0]["source"] != "gocloud:mem" || l[0]["queue"] != "orders" {
		t.Errorf("poison log lines %v", l)
	}
}

func TestConsumerReportsAFailedDeadLetterPublishAsRetry(t *testing.T) {
	h := newHarness(t)
	h.send(t, "poison", "poison")
	h.dlqTopic.Shutdown(context.Background())
	logs := &settledtest.Logs{}
	got := make(chan handler.Report, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- gocloud.Receive(ctx, h.sub, handler.HandlerFunc(func(context.Context, *handler.Message) error {
			return handler.Permanent(errors.New("cannot parse"))
		}), &gocloud.Options{DeadLetter: h.dlqTopic, Logger: slog.New(logs), OnResult: func(_ context.Context, r handler.Report) {
			select {
			case got <- r:
			default:
			}
		}})
	}()
	var r handler.Report
	select {
	case r = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no report")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r.Settlement != handler.SettledRetry || r.Err == nil || !strings.Contains(r.Err.Error(), "dead-letter publish") {
		t.Errorf("report %+v, want a retry naming the dead-letter failure", r)
	}
	if l := logs.Settled()["poison"]; len(l) == 0 || !strings.Contains(l[0]["error"], "dead-letter publish") {
		t.Errorf("log lines %v", l)
	}
}
