package servicebus_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/eventfn/eventfn/adapters/internal/settled/settledtest"
	"github.com/eventfn/eventfn/adapters/servicebus"
	"github.com/eventfn/eventfn/handler"
)

func checkSettlement(t *testing.T, hooks *settledtest.Hooks, logs *settledtest.Logs, id string, st handler.Settlement, reason string) {
	t.Helper()
	rs := hooks.Get()[id]
	if len(rs) != 1 || rs[0].Settlement != st {
		t.Errorf("%s: hook reports %v, want one with settlement %s", id, rs, st)
		return
	}
	lines := logs.Settled()[id]
	if st == handler.SettledAck {
		if rs[0].Err != nil || len(lines) != 0 {
			t.Errorf("%s: acked with Err %v and log lines %v", id, rs[0].Err, lines)
		}
		return
	}
	if rs[0].Err == nil || !strings.Contains(rs[0].Err.Error(), reason) {
		t.Errorf("%s: Err %v, want it to say %q", id, rs[0].Err, reason)
	}
	if len(lines) != 1 || lines[0]["settlement"] != st.String() || !strings.Contains(lines[0]["error"], reason) || lines[0]["source"] != handler.SourceServiceBus {
		t.Errorf("%s: log lines %v, want one with settlement %s and reason %q", id, lines, st, reason)
	}
}

func TestConsumerReportsEveryMessageOnceAndLogsFailures(t *testing.T) {
	clock := newFakeClock()
	traced := received("traced", 1, `{}`)
	traced.ApplicationProperties = map[string]any{"Diagnostic-Id": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	f := newFakeReceiver(clock, time.Minute, []*azservicebus.ReceivedMessage{
		received("ok", 1, `{}`), received("flaky", 1, `{}`), received("poison", 1, `{}`), traced,
	})
	logs := &settledtest.Logs{}
	hooks := &settledtest.Hooks{}
	var diag sync.Map
	h := handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		diag.Store(m.ID, m.Attribute("Diagnostic-Id"))
		switch m.ID {
		case "flaky":
			return errors.New("downstream unavailable")
		case "poison":
			return handler.Permanent(errors.New("amount must be positive"))
		}
		return nil
	})
	c := servicebus.NewConsumerWithClock(f, h, &servicebus.ConsumerOptions{Queue: "orders", Logger: slog.New(logs), OnResult: hooks.Hook}, clock)
	stop := run(t, c)
	waitSettled(t, f, 4)
	stop()
	checkSettlement(t, hooks, logs, "ok", handler.SettledAck, "")
	checkSettlement(t, hooks, logs, "flaky", handler.SettledRetry, "downstream unavailable")
	checkSettlement(t, hooks, logs, "poison", handler.SettledDeadLetter, "amount must be positive")
	props := f.settlements()["poison"].props
	for k, want := range map[string]string{handler.AttrMessageID: "poison", handler.AttrOutcome: "reject", handler.AttrSource: handler.SourceServiceBus, handler.AttrQueue: "orders"} {
		if props[k] != want {
			t.Errorf("dead-letter property %s = %v, want %q (all %v)", k, props[k], want, props)
		}
	}
	if e, _ := props[handler.AttrError].(string); !strings.Contains(e, "amount must be positive") {
		t.Errorf("%s = %v", handler.AttrError, props[handler.AttrError])
	}
	if v, _ := diag.Load("traced"); v != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Errorf("Diagnostic-Id attribute = %v", v)
	}
}

func TestFunctionReportsTheWholeInvocation(t *testing.T) {
	logs := &settledtest.Logs{}
	hooks := &settledtest.Hooks{}
	f := servicebus.NewFunction(&recorder{}, &servicebus.FunctionOptions{Binding: "orders", Many: true, RejectedOutput: "rejected", Logger: slog.New(logs), OnResult: hooks.Hook})
	if code, _ := invoke(t, f, "ProcessOrderBatch", "batch-mixed.json"); code != http.StatusInternalServerError {
		t.Fatalf("status %d", code)
	}
	// One failure fails the invocation: the host abandons every message.
	checkSettlement(t, hooks, logs, "msg-o-3001", handler.SettledRetry, "abandons all")
	checkSettlement(t, hooks, logs, "msg-o-3002", handler.SettledRetry, "downstream unavailable")
	checkSettlement(t, hooks, logs, "msg-o-3bad", handler.SettledRetry, "body is not JSON")
}

func TestFunctionReportsRoutedRejectsAsDeadLettered(t *testing.T) {
	logs := &settledtest.Logs{}
	hooks := &settledtest.Hooks{}
	rec := &recorder{}
	f := servicebus.NewFunction(rec, &servicebus.FunctionOptions{RejectedOutput: "rejected", Logger: slog.New(logs), OnResult: hooks.Hook})
	code, _ := invoke(t, f, "ProcessOrder", "single-malformed-body.json")
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	var id string
	for k := range hooks.Get() {
		id = k
	}
	checkSettlement(t, hooks, logs, id, handler.SettledDeadLetter, "body is not JSON")
}

func TestFunctionReportsABadRequest(t *testing.T) {
	logs := &settledtest.Logs{}
	hooks := &settledtest.Hooks{}
	f := servicebus.NewFunction(&recorder{}, &servicebus.FunctionOptions{Logger: slog.New(logs), OnResult: hooks.Hook})
	code, _ := invoke(t, f, "ProcessOrder", "single-bad-delivery-count.json")
	if code != http.StatusBadRequest {
		t.Fatalf("status %d", code)
	}
	got := hooks.Get()
	if len(got) != 1 {
		t.Fatalf("hook reports %v, want one for the request's message", got)
	}
	for id := range got {
		if id == "" {
			t.Errorf("the report does not name the request's MessageId")
		}
		checkSettlement(t, hooks, logs, id, handler.SettledRetry, "DeliveryCount")
	}
}
