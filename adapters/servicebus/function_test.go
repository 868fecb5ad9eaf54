package servicebus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventfn/eventfn/adapters/servicebus"
	"github.com/eventfn/eventfn/handler"
)

// recorder is a handler that records the messages it sees: bodies that are
// not JSON are rejected, bodies mentioning "o-2002" or "o-3002" fail
// transiently.
type recorder struct {
	mu   sync.Mutex
	msgs []*handler.Message
}

func (r *recorder) Handle(ctx context.Context, m *handler.Message) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	servicebus.Logf(ctx, "handled %s", m.ID)
	switch {
	case !json.Valid(m.Body):
		return handler.Permanent(errors.New("body is not JSON"))
	case bytes.Contains(m.Body, []byte("o-2002")), bytes.Contains(m.Body, []byte("o-3002")):
		return errors.New("downstream unavailable")
	}
	return nil
}

func (r *recorder) byID(id string) *handler.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if m.ID == id {
			return m
		}
	}
	return nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func invoke(t *testing.T, h http.Handler, fn, file string) (int, servicebus.InvokeResponse) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return post(t, h, fn, body)
}

func post(t *testing.T, h http.Handler, fn string, body []byte) (int, servicebus.InvokeResponse) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/"+fn, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-Azure-Functions-InvocationId", "3f1e8f9a-0000-4000-8000-000000000001")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var resp servicebus.InvokeResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("response is not the host's shape: %v: %s", err, rec.Body.String())
	}
	if resp.Logs == nil || resp.Outputs == nil {
		t.Fatalf("response lacks Logs or Outputs: %s", rec.Body.String())
	}
	return rec.Code, resp
}

func TestFunctionSingleMessageMapsMetadata(t *testing.T) {
	rec := &recorder{}
	f := servicebus.NewFunction(rec, &servicebus.FunctionOptions{Binding: "order", Queue: "orders", Logger: quiet()})
	code, resp := invoke(t, f, "ProcessOrder", "single-success.json")
	if code != http.StatusOK {
		t.Fatalf("status = %d, want 200; logs %v", code, resp.Logs)
	}
	m := rec.byID("msg-o-1001")
	if m == nil {
		t.Fatalf("handler did not see msg-o-1001")
	}
	if got, want := string(m.Body), `{"id":"o-1001","customer":"c-7","amount_cents":4200}`; got != want {
		t.Errorf("Body = %s, want %s", got, want)
	}
	if m.DeliveryAttempt != 1 || m.Source != handler.SourceServiceBus || m.Queue != "orders" || m.OrderingKey != "" {
		t.Errorf("message = %+v", m)
	}
	if m.Attributes["tenant"] != "acme" || m.Attributes["priority"] != "5" {
		t.Errorf("Attributes = %v", m.Attributes)
	}
	if want := time.Date(2025, 3, 1, 10, 20, 31, 0, time.UTC); !m.PublishedAt.Equal(want) {
		t.Errorf("PublishedAt = %v, want %v", m.PublishedAt, want)
	}
	var md servicebus.FunctionMetadata
	if !m.As(&md) {
		t.Fatal("As(FunctionMetadata) = false")
	}
	if md.ContentType != "application/json" || md.CorrelationID != "req-msg-o-1001" || md.SequenceNumber != 17 || md.Subject != "order-placed" || md.LockToken == "" {
		t.Errorf("metadata = %+v", md)
	}
	if !strings.Contains(strings.Join(resp.Logs, "\n"), "handled msg-o-1001") {
		t.Errorf("Logs = %v, want the handler's line", resp.Logs)
	}
	sum, _ := json.Marshal(resp.ReturnValue)
	if !strings.Contains(string(sum), `"acked":1`) {
		t.Errorf("ReturnValue = %s", sum)
	}
}

func TestFunctionOutcomes(t *testing.T) {
	tests := []struct {
		name, file string
		opts       servicebus.FunctionOptions
		wantStatus int
		wantErr    error  // sentinel in the ReturnValue's error, for 400s
		wantLog    string // substring of some Logs line
		wantRan    string // message ID the handler must have seen
	}{
		{name: "a transient failure fails the invocation", file: "single-transient.json", opts: servicebus.FunctionOptions{Binding: "order"}, wantStatus: 500, wantLog: "msg-o-2002 attempt 1: retry", wantRan: "msg-o-2002"},
		{name: "a malformed body fails the invocation without a rejected output", file: "single-malformed-body.json", opts: servicebus.FunctionOptions{Binding: "order"}, wantStatus: 500, wantLog: "rejected, failing the invocation", wantRan: "msg-o-bad"},
		{name: "a malformed body is routed to the rejected output", file: "single-malformed-body.json", opts: servicebus.FunctionOptions{Binding: "order", RejectedOutput: "rejected"}, wantStatus: 200, wantLog: "routed to output rejected", wantRan: "msg-o-bad"},
		{name: "missing Data is refused", file: "single-missing-data.json", opts: servicebus.FunctionOptions{Binding: "order"}, wantStatus: 400, wantErr: servicebus.ErrMissingData},
		{name: "missing Metadata is refused", file: "single-missing-metadata.json", opts: servicebus.FunctionOptions{Binding: "order"}, wantStatus: 400, wantErr: servicebus.ErrMissingMetadata},
		{name: "an unknown binding is refused", file: "single-unknown-binding.json", opts: servicebus.FunctionOptions{Binding: "order"}, wantStatus: 400, wantErr: servicebus.ErrUnknownBinding},
		{name: "a non-numeric DeliveryCount is refused", file: "single-bad-delivery-count.json", opts: servicebus.FunctionOptions{Binding: "order"}, wantStatus: 400, wantErr: servicebus.ErrBadMetadata},
		{name: "a batch sent to a single-message function is refused", file: "batch-mixed.json", opts: servicebus.FunctionOptions{}, wantStatus: 400, wantErr: servicebus.ErrCardinality},
		{name: "a single message sent to a batch function is refused", file: "single-success.json", opts: servicebus.FunctionOptions{Many: true}, wantStatus: 400, wantErr: servicebus.ErrCardinality},
		{name: "the only Data member is the default binding", file: "single-success.json", opts: servicebus.FunctionOptions{}, wantStatus: 200, wantRan: "msg-o-1001"},
		{name: "the 4.x extension's names are read", file: "single-v4-extension.json", opts: servicebus.FunctionOptions{Binding: "order"}, wantStatus: 200, wantRan: "msg-o-5001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			tt.opts.Logger = quiet()
			code, resp := invoke(t, servicebus.NewFunction(rec, &tt.opts), "ProcessOrder", tt.file)
			if code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; logs %v", code, tt.wantStatus, resp.Logs)
			}
			logs := strings.Join(resp.Logs, "\n")
			if tt.wantLog != "" && !strings.Contains(logs, tt.wantLog) {
				t.Errorf("Logs = %q, want a line with %q", logs, tt.wantLog)
			}
			if tt.wantRan != "" && rec.byID(tt.wantRan) == nil {
				t.Errorf("handler did not see %s", tt.wantRan)
			}
			if tt.wantErr != nil {
				if len(rec.msgs) != 0 {
					t.Errorf("handler ran on a refused request")
				}
				sum, _ := resp.ReturnValue.(map[string]any)
				msg, _ := sum["error"].(string)
				if !strings.Contains(msg, strings.TrimPrefix(tt.wantErr.Error(), "servicebus: ")) {
					t.Errorf("ReturnValue.error = %q, want it to say %q", msg, tt.wantErr)
				}
			}
		})
	}
}

func TestFunctionRejectedOutputHoldsTheBody(t *testing.T) {
	f := servicebus.NewFunction(&recorder{}, &servicebus.FunctionOptions{Binding: "order", RejectedOutput: "rejected", Logger: quiet()})
	_, resp := invoke(t, f, "ProcessOrder", "single-malformed-body.json")
	got, _ := json.Marshal(resp.Outputs["rejected"])
	if want := `["{\"id\": \"o-bad\", \"amount_cents\": "]`; string(got) != want {
		t.Errorf("Outputs.rejected = %s, want %s", got, want)
	}
}

func TestFunctionBatchMixedOutcomes(t *testing.T) {
	rec := &recorder{}
	f := servicebus.NewFunction(rec, &servicebus.FunctionOptions{Binding: "orders", Many: true, RejectedOutput: "rejected", Logger: quiet()})
	code, resp := invoke(t, f, "ProcessOrderBatch", "batch-mixed.json")
	if code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500 (one message failed transiently)", code)
	}
	if len(resp.Outputs) != 0 {
		t.Errorf("Outputs = %v; the host ignores them after a failure, so none are promised", resp.Outputs)
	}
	logs := strings.Join(resp.Logs, "\n")
	for _, want := range []string{"msg-o-3001 attempt 1: ack", "msg-o-3002 attempt 1: retry", "msg-o-3bad attempt 1: rejected"} {
		if !strings.Contains(logs, want) {
			t.Errorf("Logs lack %q:\n%s", want, logs)
		}
	}
	sum, _ := json.Marshal(resp.ReturnValue)
	if want := `{"acked":1,"messages":3,"rejected":1,"retried":1}`; string(sum) != want { // map keys sort
		t.Errorf("ReturnValue = %s, want %s", sum, want)
	}
	m := rec.byID("msg-o-3002")
	if m == nil || m.Attributes["priority"] != "1" || string(m.Body) != `{"id":"o-3002","customer":"c-2","amount_cents":2000}` {
		t.Errorf("second message = %+v", m)
	}
	if bad := rec.byID("msg-o-3bad"); bad == nil || string(bad.Body) != "not json at all" {
		t.Errorf("third message = %+v", bad)
	}
}

func TestFunctionSessionAndBinary(t *testing.T) {
	rec := &recorder{}
	f := servicebus.NewFunction(rec, &servicebus.FunctionOptions{Binding: "order", Logger: quiet()})
	invoke(t, f, "ProcessOrder", "single-session.json")
	m := rec.byID("msg-o-4001")
	if m == nil || m.OrderingKey != "customer-c-9" || m.DeliveryAttempt != 3 {
		t.Fatalf("session message = %+v", m)
	}
	var md *servicebus.FunctionMetadata
	if !m.As(&md) || md.ReplyTo != "replies" || md.To != "orders" {
		t.Errorf("metadata = %+v", md)
	}

	rec = &recorder{}
	f = servicebus.NewFunction(rec, &servicebus.FunctionOptions{Binding: "order", Binary: true, Logger: quiet()})
	invoke(t, f, "ProcessOrder", "single-binary.json")
	if m := rec.byID("msg-o-bin"); m == nil || !bytes.Equal(m.Body, append([]byte{0x00, 0xff, 0x10, 0x80}, `{"id":"o-bin"}`...)) {
		t.Errorf("binary message = %+v", m)
	}
}

func TestFunctionRefusesGarbage(t *testing.T) {
	tests := []struct {
		name string
		body string
		want error
	}{
		{"not JSON", "{", servicebus.ErrMalformedRequest},
		{"Data is null", `{"Data": null, "Metadata": {}}`, servicebus.ErrMissingData},
		{"the trigger value is a number", `{"Data": {"order": 5}, "Metadata": {}}`, servicebus.ErrBadData},
		{"bad base64 for a binary trigger", `{"Data": {"order": "%%%"}, "Metadata": {}}`, servicebus.ErrBadData},
		{"batch arrays of the wrong length", `{"Data": {"orders": "[\"a\",\"b\"]"}, "Metadata": {"MessageIdArray": "[\"x\"]"}}`, servicebus.ErrBadMetadata},
		{"a non-numeric DeliveryCountArray", `{"Data": {"orders": "[\"a\"]"}, "Metadata": {"DeliveryCountArray": "[\"one\"]"}}`, servicebus.ErrBadMetadata},
		{"several Data members and no Binding", `{"Data": {"a": "\"x\"", "b": "\"y\""}, "Metadata": {}}`, servicebus.ErrUnknownBinding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			many := strings.Contains(tt.body, `"orders"`)
			binary := strings.Contains(tt.name, "base64")
			f := servicebus.NewFunction(&recorder{}, &servicebus.FunctionOptions{Many: many, Binary: binary, Logger: quiet()})
			code, resp := post(t, f, "F", []byte(tt.body))
			if code != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400", code)
			}
			sum, _ := resp.ReturnValue.(map[string]any)
			if msg, _ := sum["error"].(string); !strings.Contains(msg, strings.TrimPrefix(tt.want.Error(), "servicebus: ")) {
				t.Errorf("error = %q, want %q", msg, tt.want)
			}
		})
	}
}

func TestFunctionOnlyAcceptsPost(t *testing.T) {
	f := servicebus.NewFunction(&recorder{}, nil)
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ProcessOrder", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET status = %d, want 405", rec.Code)
	}
}

func TestFunctionRecoversPanics(t *testing.T) {
	h := handler.HandlerFunc(func(context.Context, *handler.Message) error { panic("boom") })
	f := servicebus.NewFunction(h, &servicebus.FunctionOptions{Logger: quiet()})
	code, resp := invoke(t, f, "ProcessOrder", "single-success.json")
	if code != http.StatusInternalServerError || !strings.Contains(strings.Join(resp.Logs, "\n"), "panic: boom") {
		t.Errorf("status %d logs %v, want 500 with the panic", code, resp.Logs)
	}
}

// BenchmarkFunctionBatch measures one 50-message batch invocation through the
// custom handler (decode, Process with a no-op handler, encode).
func BenchmarkFunctionBatch(b *testing.B) {
	bodies := make([]string, 50)
	ids := make([]string, 50)
	counts := make([]int, 50)
	for i := range bodies {
		bodies[i] = fmt.Sprintf(`{"id":"o-%d","customer":"c","amount_cents":100}`, i)
		ids[i] = fmt.Sprintf("msg-%d", i)
		counts[i] = 1
	}
	enc := func(v any) string { s, _ := json.Marshal(v); return string(s) }
	req, _ := json.Marshal(map[string]any{
		"Data":     map[string]any{"orders": enc(bodies)},
		"Metadata": map[string]any{"MessageIdArray": enc(ids), "DeliveryCountArray": enc(counts)},
	})
	f := servicebus.NewFunction(handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }),
		&servicebus.FunctionOptions{Many: true, Logger: quiet()})
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		f.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/ProcessOrderBatch", bytes.NewReader(req)))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

// A rejected message routed to RejectedOutput is handled: the rest of its
// session must run, or the session's invocation fails on every delivery and
// its good messages are dead-lettered with the poison one.
func TestFunctionRejectedOutputDoesNotBlockTheSession(t *testing.T) {
	enc := func(v any) string { s, _ := json.Marshal(v); return string(s) }
	body, _ := json.Marshal(map[string]any{
		"Data": map[string]any{"orders": enc([]string{"not json", `{"id":"o-1"}`, `{"id":"o-2"}`})},
		"Metadata": map[string]any{
			"MessageIdArray":     enc([]string{"poison", "next-1", "next-2"}),
			"DeliveryCountArray": enc([]int{1, 1, 1}),
			"SessionIdArray":     enc([]string{"s", "s", "s"}),
		},
	})
	rec := &recorder{}
	f := servicebus.NewFunction(rec, &servicebus.FunctionOptions{Many: true, RejectedOutput: "rejected", Logger: quiet()})
	code, resp := post(t, f, "ProcessOrderBatch", body)
	if code != http.StatusOK {
		t.Fatalf("status = %d, want 200; logs %v", code, resp.Logs)
	}
	for _, id := range []string{"next-1", "next-2"} {
		if rec.byID(id) == nil {
			t.Errorf("%s did not run after its session's poison message was routed to the rejected output", id)
		}
	}
	got, _ := json.Marshal(resp.Outputs["rejected"])
	if want := `["not json"]`; string(got) != want {
		t.Errorf("Outputs.rejected = %s, want %s", got, want)
	}
	sum, _ := json.Marshal(resp.ReturnValue)
	if want := `{"acked":2,"messages":3,"rejected":1,"retried":0}`; string(sum) != want {
		t.Errorf("ReturnValue = %s, want %s", sum, want)
	}
}

// A rejected body that is not UTF-8 text cannot travel through the JSON of
// Outputs unchanged; the invocation must not succeed (and the host complete
// the original) with a mangled copy in the rejected output.
func TestFunctionRejectedBinaryBodyIsNotMangled(t *testing.T) {
	f := servicebus.NewFunction(&recorder{}, &servicebus.FunctionOptions{Binding: "order", Binary: true, RejectedOutput: "rejected", Logger: quiet()})
	code, resp := invoke(t, f, "ProcessOrder", "single-binary.json")
	if code != http.StatusOK {
		return // not acknowledged: Service Bus keeps the original bytes
	}
	want := append([]byte{0x00, 0xff, 0x10, 0x80}, `{"id":"o-bin"}`...)
	var got []string
	raw, _ := json.Marshal(resp.Outputs["rejected"])
	if err := json.Unmarshal(raw, &got); err != nil || len(got) != 1 || got[0] != string(want) {
		t.Errorf("status 200 (the host completes the message) but Outputs.rejected = %s, want the body %q unchanged", raw, want)
	}
}
