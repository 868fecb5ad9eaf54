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

	"github.com/eventfn/eventfn/adapters/servicebus"
	"github.com/eventfn/eventfn/handler"
)

// recordingHandler is a slog.Handler that keeps every record with its
// attributes as strings.
type recordingHandler struct {
	mu   sync.Mutex
	recs []map[string]string
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	h.mu.Lock()
	h.recs = append(h.recs, m)
	h.mu.Unlock()
	return nil
}

func (h *recordingHandler) settledLines() map[string][]map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][]map[string]string{}
	for _, r := range h.recs {
		if _, ok := r["settlement"]; ok {
			out[r["message_id"]] = append(out[r["message_id"]], r)
		}
	}
	return out
}

type hookRecorder struct {
	mu      sync.Mutex
	reports map[string][]handler.Report
}

func (h *hookRecorder) hook(_ context.Context, r handler.Report) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.reports == nil {
		h.reports = map[string][]handler.Report{}
	}
	h.reports[r.Result.Message.ID] = append(h.reports[r.Result.Message.ID], r)
}

func (h *hookRecorder) get() map[string][]handler.Report {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][]handler.Report{}
	for k, v := range h.reports {
		out[k] = append([]handler.Report(nil), v...)
	}
	return out
}

func checkSettlement(t *testing.T, hooks *hookRecorder, logs *recordingHandler, id string, st handler.Settlement, reason string) {
	t.Helper()
	rs := hooks.get()[id]
	if len(rs) != 1 || rs[0].Settlement != st {
		t.Errorf("%s: hook reports %v, want one with settlement %s", id, rs, st)
		return
	}
	lines := logs.settledLines()[id]
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
	logs := &recordingHandler{}
	hooks := &hookRecorder{}
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
	c := servicebus.NewConsumerWithClock(f, h, &servicebus.ConsumerOptions{Queue: "orders", Logger: slog.New(logs), OnResult: hooks.hook}, clock)
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
	logs := &recordingHandler{}
	hooks := &hookRecorder{}
	f := servicebus.NewFunction(&recorder{}, &servicebus.FunctionOptions{Binding: "orders", Many: true, RejectedOutput: "rejected", Logger: slog.New(logs), OnResult: hooks.hook})
	if code, _ := invoke(t, f, "ProcessOrderBatch", "batch-mixed.json"); code != http.StatusInternalServerError {
		t.Fatalf("status %d", code)
	}
	// One failure fails the invocation: the host abandons every message.
	checkSettlement(t, hooks, logs, "msg-o-3001", handler.SettledRetry, "abandons all")
	checkSettlement(t, hooks, logs, "msg-o-3002", handler.SettledRetry, "downstream unavailable")
	checkSettlement(t, hooks, logs, "msg-o-3bad", handler.SettledRetry, "body is not JSON")
}

func TestFunctionReportsRoutedRejectsAsDeadLettered(t *testing.T) {
	logs := &recordingHandler{}
	hooks := &hookRecorder{}
	rec := &recorder{}
	f := servicebus.NewFunction(rec, &servicebus.FunctionOptions{RejectedOutput: "rejected", Logger: slog.New(logs), OnResult: hooks.hook})
	code, _ := invoke(t, f, "ProcessOrder", "single-malformed-body.json")
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	var id string
	for k := range hooks.get() {
		id = k
	}
	checkSettlement(t, hooks, logs, id, handler.SettledDeadLetter, "body is not JSON")
}

func TestFunctionReportsABadRequest(t *testing.T) {
	logs := &recordingHandler{}
	hooks := &hookRecorder{}
	f := servicebus.NewFunction(&recorder{}, &servicebus.FunctionOptions{Logger: slog.New(logs), OnResult: hooks.hook})
	code, _ := invoke(t, f, "ProcessOrder", "single-bad-delivery-count.json")
	if code != http.StatusBadRequest {
		t.Fatalf("status %d", code)
	}
	got := hooks.get()
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
