package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/eventfn/eventfn/adapters/pubsub"
	"github.com/eventfn/eventfn/adapters/servicebus"
	"github.com/eventfn/eventfn/adapters/sqs"
	"github.com/eventfn/eventfn/handler"
)

// collector records every message a handler sees.
type collector struct {
	mu   sync.Mutex
	msgs []*handler.Message
}

func (c *collector) Handle(_ context.Context, m *handler.Message) error {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
	return nil
}

func (c *collector) sorted() []*handler.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := append([]*handler.Message(nil), c.msgs...)
	sort.SliceStable(out, func(i, j int) bool { return string(out[i].Body) < string(out[j].Body) })
	return out
}

func printEvent(t *testing.T, args ...string) []byte {
	t.Helper()
	code, out, errs := runCLI(t, append([]string{"event"}, args...)...)
	if code != 0 {
		t.Fatalf("eventfn event %v: exit %d: %s", args, code, errs)
	}
	if !json.Valid([]byte(out)) {
		t.Fatalf("eventfn event %v: output is not JSON:\n%s", args, out)
	}
	return []byte(out)
}

// want checks the messages: bodies in order b1, b1 (repeat 2), b2, b2, with
// the given IDs, attribute tenant=acme, ordering key and attempt.
func checkMessages(t *testing.T, got []*handler.Message, ids []string, orderingKey string, attempt int, attrs bool) {
	t.Helper()
	bodies := []string{`{"id":"o-1"}`, `{"id":"o-1"}`, `{"id":"o-2"}`, `{"id":"o-2"}`}
	if len(got) != len(bodies) {
		t.Fatalf("got %d messages, want %d", len(got), len(bodies))
	}
	for i, m := range got {
		if string(m.Body) != bodies[i] {
			t.Errorf("message %d: body %q, want %q", i, m.Body, bodies[i])
		}
		if ids != nil && m.ID != ids[i/2] {
			t.Errorf("message %d: ID %q, want %q", i, m.ID, ids[i/2])
		}
		if attrs && m.Attribute("tenant") != "acme" {
			t.Errorf("message %d: attributes %v, want tenant=acme", i, m.Attributes)
		}
		if m.OrderingKey != orderingKey {
			t.Errorf("message %d: ordering key %q, want %q", i, m.OrderingKey, orderingKey)
		}
		if attempt > 0 && m.DeliveryAttempt != attempt {
			t.Errorf("message %d: attempt %d, want %d", i, m.DeliveryAttempt, attempt)
		}
	}
	if got[0].ID != got[1].ID {
		t.Errorf("a repeated message changed ID: %q, %q", got[0].ID, got[1].ID)
	}
}

var eventArgs = []string{`{"id":"o-1"}`, `{"id":"o-2"}`, "--attr", "tenant=acme", "--repeat", "2", "--id", "m-1", "--id", "m-2", "--attempt", "3"}

func TestEventSQSRoundTripsThroughTheLambdaHandler(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
		key   string
	}{
		{"standard", nil, ""},
		{"fifo", []string{"--group-id", "customer-7", "--dedup-id", "d-1"}, "customer-7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := printEvent(t, append(append([]string{"sqs"}, eventArgs...), tc.extra...)...)
			var c collector
			resp, err := sqs.NewLambda(&c, nil).Invoke(context.Background(), ev)
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("Invoke: %v %+v", err, resp)
			}
			checkMessages(t, c.sorted(), []string{"m-1", "m-2"}, tc.key, 3, true)
			if tc.key != "" && !strings.Contains(c.msgs[0].Queue, ".fifo") {
				t.Errorf("FIFO queue %q", c.msgs[0].Queue)
			}
		})
	}
}

func TestEventSNSRoundTripsThroughTheLambdaHandler(t *testing.T) {
	t.Run("direct", func(t *testing.T) {
		ev := printEvent(t, append([]string{"sns", "--topic", "payments"}, eventArgs...)...)
		var c collector
		if _, err := sqs.NewLambda(&c, nil).Invoke(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		checkMessages(t, c.sorted(), []string{"m-1", "m-2"}, "", 0, true)
		if c.msgs[0].Source != handler.SourceSNS || !strings.HasSuffix(c.msgs[0].Queue, ":payments") {
			t.Errorf("source %q queue %q", c.msgs[0].Source, c.msgs[0].Queue)
		}
	})
	t.Run("sns-sqs", func(t *testing.T) {
		ev := printEvent(t, append([]string{"sns-sqs"}, eventArgs...)...)
		var c collector
		resp, err := sqs.NewLambda(&c, &sqs.Options{TrustSNSAttributes: true}).Invoke(context.Background(), ev)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("Invoke: %v %+v", err, resp)
		}
		// The SNS MessageId is the message's ID, so the two SQS deliveries
		// of one SNS message are one message.
		checkMessages(t, c.sorted(), []string{"m-1", "m-2"}, "", 3, true)
		if c.msgs[0].Source != handler.SourceSNS {
			t.Errorf("source %q: the envelope was not unwrapped", c.msgs[0].Source)
		}
	})
}

func TestEventPubSubPushRoundTripsThroughThePushHandler(t *testing.T) {
	ev := printEvent(t, append([]string{"pubsub-push", "--ordering-key", "customer-7", "--queue", "orders-push"}, eventArgs...)...)
	var envs []json.RawMessage
	if err := json.Unmarshal(ev, &envs); err != nil || len(envs) != 4 {
		t.Fatalf("want an array of 4 push bodies: %v\n%s", err, ev)
	}
	var c collector
	h := pubsub.NewPushHandler(&c, &pubsub.PushOptions{Logger: quietLog()})
	for _, e := range envs {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(e)))
		if rec.Code/100 != 2 {
			t.Fatalf("push: %d %s", rec.Code, rec.Body)
		}
	}
	checkMessages(t, c.sorted(), []string{"m-1", "m-2"}, "customer-7", 3, true)
	if !strings.HasSuffix(c.msgs[0].Queue, "/subscriptions/orders-push") {
		t.Errorf("subscription %q", c.msgs[0].Queue)
	}
}

func TestEventCloudEventRoundTripsThroughTheCloudEventFunction(t *testing.T) {
	ev := printEvent(t, append([]string{"cloudevent", "--ordering-key", "customer-7"}, eventArgs...)...)
	var evs []json.RawMessage
	if err := json.Unmarshal(ev, &evs); err != nil || len(evs) != 4 {
		t.Fatalf("want an array of 4 CloudEvents: %v", err)
	}
	var c collector
	fn := pubsub.CloudEventFunction(&c, &pubsub.CloudEventOptions{Logger: quietLog()})
	for _, raw := range evs {
		var e event.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("CloudEvents SDK cannot read the event: %v", err)
		}
		if err := e.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := fn(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	checkMessages(t, c.sorted(), []string{"m-1", "m-2"}, "customer-7", 0, true)
}

func TestEventServiceBusRoundTripsThroughTheCustomHandler(t *testing.T) {
	post := func(t *testing.T, h http.Handler, body []byte) servicebus.InvokeResponse {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/ProcessOrder", bytes.NewReader(body)))
		var resp servicebus.InvokeResponse
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &resp) != nil {
			t.Fatalf("custom handler: %d %s", rec.Code, rec.Body)
		}
		return resp
	}
	t.Run("batch", func(t *testing.T) {
		ev := printEvent(t, append([]string{"servicebus", "--ordering-key", "customer-7"}, eventArgs...)...)
		var c collector
		post(t, servicebus.NewFunction(&c, &servicebus.FunctionOptions{Binding: "orders", Many: true, Logger: quietLog()}), ev)
		checkMessages(t, c.sorted(), []string{"m-1", "m-2"}, "customer-7", 3, true)
	})
	for _, binary := range []bool{false, true} {
		name := "single"
		args := []string{"servicebus", `{"id":"o-1"}`, "--attr", "tenant=acme", "--id", "m-1"}
		if binary {
			name, args = "single binary", append(args, "--binary")
		}
		t.Run(name, func(t *testing.T) {
			var c collector
			post(t, servicebus.NewFunction(&c, &servicebus.FunctionOptions{Binary: binary, Logger: quietLog()}), printEvent(t, args...))
			if len(c.msgs) != 1 || c.msgs[0].ID != "m-1" || string(c.msgs[0].Body) != `{"id":"o-1"}` || c.msgs[0].Attribute("tenant") != "acme" || c.msgs[0].DeliveryAttempt != 1 {
				t.Fatalf("got %+v", c.msgs)
			}
		})
	}
}

func TestEventReadsFilesAndStdin(t *testing.T) {
	dir := t.TempDir()
	lines := writeFile(t, dir, "bodies.jsonl", "{\"id\":\"o-1\"}\n\n{\"id\":\"o-2\"}\n")
	array := writeFile(t, dir, "bodies.json", `[{"id":"o-1"}, "{\"id\":\"o-2\"}"]`)
	for _, f := range []string{lines, array} {
		ev := printEvent(t, "sqs", "--file", f, "--repeat", "2")
		var c collector
		if _, err := sqs.NewLambda(&c, nil).Invoke(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		checkMessages(t, c.sorted(), nil, "", 1, false)
	}
	code, out, errs := runCLIStdin(t, "{\"id\":\"o-1\"}\n{\"id\":\"o-2\"}\n", "event", "sqs", "--repeat", "2")
	if code != 0 {
		t.Fatalf("stdin: %d %s", code, errs)
	}
	var c collector
	if _, err := sqs.NewLambda(&c, nil).Invoke(context.Background(), []byte(out)); err != nil {
		t.Fatal(err)
	}
	checkMessages(t, c.sorted(), nil, "", 1, false)
}

func TestEventBadInput(t *testing.T) {
	dir := t.TempDir()
	badArray := writeFile(t, dir, "bad.json", `[{"id":"o-1"},`)
	empty := writeFile(t, dir, "empty.txt", "\n\n")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"event"}, exitUsage, "name the event"},
		{[]string{"event", "kafka", "x"}, exitUsage, "unknown command"},
		{[]string{"event", "sqs", "--file", badArray}, exitFailure, "not a JSON array"},
		{[]string{"event", "sqs", "--file", empty}, exitFailure, "no message bodies"},
		{[]string{"event", "sqs", "--file", dir + "/missing.json"}, exitFailure, "no such file"},
		{[]string{"event", "sqs", "x", "--file", empty}, exitUsage, "not both"},
		{[]string{"event", "sqs", "x", "--attr", "novalue"}, exitUsage, "key=value"},
		{[]string{"event", "sqs", "x", "--repeat", "0"}, exitUsage, "--repeat"},
		{[]string{"event", "sqs", "x", "--id", "a", "--id", "b"}, exitUsage, "2 --id flags for 1 bodies"},
		{[]string{"event", "sqs", "x", "--queue", "orders.fifo"}, exitUsage, "--group-id"},
		{[]string{"event", "sqs", "x", "--group-id", "g", "--queue", "orders"}, exitUsage, "FIFO"},
		{[]string{"event", "sns", "x", "--ordering-key", "g"}, exitUsage, "FIFO"},
	} {
		code, _, errs := runCLIStdin(t, "", tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
