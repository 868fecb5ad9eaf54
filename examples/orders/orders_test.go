package orders_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/eventfn/eventfn/examples/orders"
	"github.com/eventfn/eventfn/handler"
)

func TestHandlerOutcomes(t *testing.T) {
	ledger := &orders.MemLedger{}
	h := orders.NewHandler(orders.Config{Ledger: ledger, FailFirstAttempt: map[string]bool{"flaky": true}})
	tests := []struct {
		name    string
		body    string
		attempt int
		want    handler.Outcome
	}{
		{"a valid order is applied", `{"id":"o1","customer":"c","amount_cents":100}`, 1, handler.Ack},
		{"a malformed body is rejected", `{"id":`, 1, handler.Reject},
		{"a non-positive amount is rejected", `{"id":"o2","amount_cents":0}`, 1, handler.Reject},
		{"a missing id is rejected", `{"amount_cents":5}`, 1, handler.Reject},
		{"an injected failure is retried on the first attempt", `{"id":"flaky","amount_cents":5}`, 1, handler.Retry},
		{"and succeeds on the next", `{"id":"flaky","amount_cents":5}`, 2, handler.Ack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.Handle(context.Background(), &handler.Message{ID: "m", Body: []byte(tt.body), DeliveryAttempt: tt.attempt})
			if got := handler.Classify(err); got != tt.want {
				t.Fatalf("outcome %v (%v), want %v", got, err, tt.want)
			}
		})
	}
	if n := len(ledger.Entries()); n != 2 {
		t.Fatalf("ledger has %d entries, want 2", n)
	}
	err := h.Handle(context.Background(), &handler.Message{Body: []byte(`{"id":"x","amount_cents":-1}`)})
	if !errors.Is(err, orders.ErrInvalidOrder) {
		t.Fatalf("err = %v", err)
	}
}

func TestFileLedgerRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.jsonl")
	if got, err := orders.ReadLedger(path); err != nil || got != nil {
		t.Fatalf("missing file: %v, %v", got, err)
	}
	l := &orders.FileLedger{Path: path}
	for _, id := range []string{"a", "b"} {
		if err := l.Apply(context.Background(), orders.Entry{OrderID: id, MessageID: "m-" + id, AmountCents: 1}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := orders.ReadLedger(path)
	if err != nil || len(got) != 2 || got[1].OrderID != "b" {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("ORDERS_LEDGER_FILE", "/tmp/x.jsonl")
	t.Setenv("ORDERS_FAIL_FIRST_ATTEMPT", "a, b")
	c := orders.ConfigFromEnv()
	if fl, ok := c.Ledger.(*orders.FileLedger); !ok || fl.Path != "/tmp/x.jsonl" || !c.FailFirstAttempt["b"] {
		t.Fatalf("config = %+v", c)
	}
}
