package settled_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/eventfn/eventfn/adapters/internal/settled"
	"github.com/eventfn/eventfn/handler"
)

func TestDoneLogsEveryMessageButAcked(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	m := &handler.Message{ID: "m-1", Source: handler.SourceSQS, Queue: "q"}
	calls := 0
	hook := func(context.Context, handler.Report) { calls++ }
	settled.Done(context.Background(), log, hook, "x", handler.Report{Result: handler.Result{Message: m}, Settlement: handler.SettledAck})
	if buf.Len() != 0 {
		t.Errorf("acked message logged: %s", buf.String())
	}
	err := errors.New("downstream down")
	settled.Done(context.Background(), log, hook, "x", handler.Report{Result: handler.Result{Message: m, Err: err, Outcome: handler.Retry}, Settlement: handler.SettledRetry, Err: err})
	for _, want := range []string{"message_id=m-1", "source=aws:sqs", "queue=q", "settlement=retry", `error="downstream down"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log line %q lacks %s", buf.String(), want)
		}
	}
	if calls != 2 {
		t.Errorf("hook called %d times, want 2", calls)
	}
}

func TestDoneSurvivesAPanickingHook(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	settled.Done(context.Background(), log, func(context.Context, handler.Report) { panic("bug") }, "x",
		handler.Report{Result: handler.Result{Message: &handler.Message{ID: "m"}}, Settlement: handler.SettledAck})
	if !strings.Contains(buf.String(), "result hook panicked") {
		t.Errorf("panic not logged: %s", buf.String())
	}
}

func TestDeadLetterAttributes(t *testing.T) {
	m := &handler.Message{ID: "m", Source: handler.SourcePubSub, Queue: "projects/p/subscriptions/s"}
	a := settled.DeadLetterAttributes(m, handler.Reject, errors.New(strings.Repeat("€", 400))) // 3 bytes each
	want := map[string]string{handler.AttrMessageID: "m", handler.AttrSource: handler.SourcePubSub, handler.AttrQueue: "projects/p/subscriptions/s", handler.AttrOutcome: "reject"}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("%s = %q, want %q", k, a[k], v)
		}
	}
	if e := a[handler.AttrError]; len(e) > handler.MaxAttrError || !strings.HasSuffix(e, "€") {
		t.Errorf("AttrError is %d bytes, want at most %d ending in a whole rune", len(e), handler.MaxAttrError)
	}
	if len(a) != 5 {
		t.Errorf("attributes %v, want exactly the five handler.Attr*", a)
	}
}

func TestCallTurnsAPanicIntoAnError(t *testing.T) {
	err := settled.Call("x: dead-letter function", func() error { panic("bug") })
	var pe *handler.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("Call = %v, want a *handler.PanicError", err)
	}
}
