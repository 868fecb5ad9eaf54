package pubsub_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/eventfn/eventfn/adapters/internal/settled/settledtest"
	"github.com/eventfn/eventfn/adapters/pubsub"
	"github.com/eventfn/eventfn/handler"
)

// checkSettlement asserts one hook call for id with settlement st, and,
// unless it was acked, one log line naming id with the reason.
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
	if len(lines) != 1 || lines[0]["settlement"] != st.String() || !strings.Contains(lines[0]["error"], reason) || lines[0]["source"] != handler.SourcePubSub {
		t.Errorf("%s: log lines %v, want one with settlement %s and reason %q", id, lines, st, reason)
	}
}

func envelope(id string, attrs map[string]string) string {
	b, _ := json.Marshal(map[string]any{
		"message":      map[string]any{"messageId": id, "data": b64(`{}`), "attributes": attrs},
		"subscription": "projects/p/subscriptions/s",
	})
	return string(b)
}

func TestPushReportsEveryDeliveryOnceAndLogsFailures(t *testing.T) {
	logs := &settledtest.Logs{}
	hooks := &settledtest.Hooks{}
	var dlMu sync.Mutex
	var dlAttrs map[string]string
	h := handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		switch m.ID {
		case "flaky":
			return errors.New("transient")
		case "poison", "poison-dl-down":
			return handler.Permanent(errors.New("amount must be positive"))
		}
		return nil
	})
	ph := pubsub.NewPushHandler(h, &pubsub.PushOptions{
		Logger: slog.New(logs), OnResult: hooks.Hook,
		DeadLetter: func(_ context.Context, m *handler.Message, cause error) error {
			if m.ID == "poison-dl-down" {
				return errors.New("dead-letter topic unreachable")
			}
			dlMu.Lock()
			dlAttrs = pubsub.DeadLetterAttributes(m, cause)
			dlMu.Unlock()
			return nil
		},
	})
	for id, want := range map[string]int{"ok": 204, "flaky": 500, "poison": 204, "poison-dl-down": 500} {
		if st, _, body := post(t, ph, envelope(id, map[string]string{"origin": "test"}), nil); st != want {
			t.Errorf("%s: status %d (%s), want %d", id, st, body, want)
		}
	}
	// Pre-Process failures: bad base64 (ID known) and an unwrapped push over the limit.
	if st, _, _ := post(t, ph, `{"message":{"messageId":"bad-data","data":"!!!"}}`, nil); st != http.StatusBadRequest {
		t.Errorf("bad data: status %d", st)
	}
	small := pubsub.NewPushHandler(h, &pubsub.PushOptions{MaxBodyBytes: 4, Logger: slog.New(logs), OnResult: hooks.Hook})
	if st, _, _ := post(t, small, "far too large", map[string]string{pubsub.HeaderMessageID: "too-big"}); st != http.StatusRequestEntityTooLarge {
		t.Errorf("too big: status %d", st)
	}
	checkSettlement(t, hooks, logs, "ok", handler.SettledAck, "")
	checkSettlement(t, hooks, logs, "flaky", handler.SettledRetry, "transient")
	checkSettlement(t, hooks, logs, "poison", handler.SettledDeadLetter, "amount must be positive")
	checkSettlement(t, hooks, logs, "poison-dl-down", handler.SettledRetry, "dead-letter topic unreachable")
	checkSettlement(t, hooks, logs, "bad-data", handler.SettledRetry, "not base64")
	checkSettlement(t, hooks, logs, "too-big", handler.SettledRetry, "too large")

	dlMu.Lock()
	defer dlMu.Unlock()
	for k, want := range map[string]string{
		handler.AttrMessageID: "poison", handler.AttrOutcome: "reject", handler.AttrSource: handler.SourcePubSub,
		handler.AttrQueue: "projects/p/subscriptions/s", "origin": "test",
	} {
		if dlAttrs[k] != want {
			t.Errorf("dead-letter attribute %s = %q, want %q (all: %v)", k, dlAttrs[k], want, dlAttrs)
		}
	}
	if !strings.Contains(dlAttrs[handler.AttrError], "amount must be positive") || dlAttrs[pubsub.AttrRejectedAt] == "" {
		t.Errorf("dead-letter attributes %v", dlAttrs)
	}
}

func TestDeadLetterAttributesCutTheErrorUTF8Safely(t *testing.T) {
	m := &handler.Message{ID: "m", Source: handler.SourcePubSub}
	a := pubsub.DeadLetterAttributes(m, handler.Permanent(errors.New(strings.Repeat("é", handler.MaxAttrError))))
	if e := a[handler.AttrError]; len(e) > handler.MaxAttrError || !strings.HasSuffix(e, "é") {
		t.Errorf("AttrError is %d bytes, want at most %d ending in a whole rune", len(e), handler.MaxAttrError)
	}
}

func TestCloudEventReportsABadEvent(t *testing.T) {
	logs := &settledtest.Logs{}
	hooks := &settledtest.Hooks{}
	fn := pubsub.CloudEventFunction(handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }),
		&pubsub.CloudEventOptions{Logger: slog.New(logs), OnResult: hooks.Hook})
	e := newEvent(t, "google.cloud.storage.object.v1.finalized", `{}`)
	if err := fn(context.Background(), e); !errors.Is(err, pubsub.ErrWrongEventType) {
		t.Fatalf("fn = %v", err)
	}
	checkSettlement(t, hooks, logs, e.ID(), handler.SettledRetry, "not a Pub/Sub messagePublished event")
}

func TestPushExposesTraceContextWithoutOverwritingAttributes(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	hdr := map[string]string{"traceparent": tp, "tracestate": "vendor=1", "X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1;o=1"}
	var got *handler.Message
	ph := pubsub.NewPushHandler(capture(&got), nil)
	if st, _, body := post(t, ph, envelope("m1", nil), hdr); st != http.StatusNoContent {
		t.Fatalf("status %d: %s", st, body)
	}
	for k, want := range map[string]string{pubsub.AttrTraceparent: tp, pubsub.AttrTracestate: "vendor=1", pubsub.AttrCloudTraceContext: hdr["X-Cloud-Trace-Context"]} {
		if got.Attribute(k) != want {
			t.Errorf("attribute %s = %q, want %q", k, got.Attribute(k), want)
		}
	}
	var env *pubsub.Envelope
	if !got.As(&env) || len(env.Message.Attributes) != 0 {
		t.Errorf("the envelope's own attributes changed: %v", env.Message.Attributes)
	}
	// The message's own traceparent wins over the push request's.
	const mine = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	if st, _, _ := post(t, ph, envelope("m2", map[string]string{"traceparent": mine}), hdr); st != http.StatusNoContent {
		t.Fatal(st)
	}
	if got.Attribute(pubsub.AttrTraceparent) != mine {
		t.Errorf("traceparent = %q, want the message's own %q", got.Attribute(pubsub.AttrTraceparent), mine)
	}
	// Unwrapped pushes too.
	uh := map[string]string{pubsub.HeaderMessageID: "m3", "traceparent": tp}
	if st, _, _ := post(t, ph, "{}", uh); st != http.StatusNoContent {
		t.Fatal(st)
	}
	if got.Attribute(pubsub.AttrTraceparent) != tp {
		t.Errorf("unwrapped traceparent = %q", got.Attribute(pubsub.AttrTraceparent))
	}
}
