package pubsub_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/eventfn/eventfn/adapters/pubsub"
	"github.com/eventfn/eventfn/handler"
)

func loadEvent(t *testing.T, path string) event.Event {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var e event.Event
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("captured event %s: %v", path, err)
	}
	return e
}

// newEvent builds a messagePublished-shaped CloudEvent with data as its
// JSON data.
func newEvent(t *testing.T, typ, data string) event.Event {
	t.Helper()
	e := event.New()
	e.SetID("evt-1")
	e.SetType(typ)
	e.SetSource("//pubsub.googleapis.com/projects/p/topics/t")
	e.SetTime(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
	if err := e.SetData(event.ApplicationJSON, json.RawMessage(data)); err != nil {
		t.Fatal(err)
	}
	return e
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestCloudEventFunctionDecodesTheCapturedEvent(t *testing.T) {
	var got *handler.Message
	fn := pubsub.CloudEventFunction(handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		got = m
		return nil
	}), nil)
	ev := loadEvent(t, "testdata/cloudevent-structured.json")
	if err := fn(context.Background(), ev); err != nil {
		t.Fatalf("fn = %v", err)
	}
	if got.ID != "2070443601311540" || got.Source != handler.SourcePubSub ||
		got.Queue != "projects/my-project/subscriptions/eventarc-us-central1-orders-trigger-sub-123" ||
		string(got.Body) != `{"id":"o-1","customer":"c-1","amount_cents":1250}` ||
		got.Attribute("origin") != "checkout" ||
		!got.PublishedAt.Equal(time.Date(2021, 2, 26, 19, 13, 55, 749e6, time.UTC)) {
		t.Errorf("message = %+v", got)
	}
	var env *pubsub.Envelope
	var raw event.Event
	if !got.As(&env) || env.Message.ID() != got.ID || !got.As(&raw) || raw.ID() != ev.ID() {
		t.Errorf("As: envelope %v, event %v", env, raw.ID())
	}
}

func TestCloudEventFunctionOutcomes(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name       string
		handlerErr error
		panics     bool
		withDL     bool  // configure a dead-letter func
		deadLetter error // what it returns
		wantStatus int   // 0: acknowledged (nil error)
		wantDL     int32
	}{
		{name: "success is acknowledged", wantStatus: 0},
		{name: "a plain error is retried with 500", handlerErr: boom, wantStatus: 500},
		{name: "RetryAfter is retried with 503", handlerErr: handler.RetryAfter(time.Minute, boom), wantStatus: 503},
		{name: "a panic is retried with 500", panics: true, wantStatus: 500},
		{name: "a permanent error without dead letter is reported failed with 422", handlerErr: handler.Permanent(boom), wantStatus: 422},
		{name: "a permanent error is dead-lettered and acknowledged", handlerErr: handler.Permanent(boom), withDL: true, wantStatus: 0, wantDL: 1},
		{name: "a permanent error whose dead-letter publish fails is retried", handlerErr: handler.Permanent(boom), withDL: true, deadLetter: errors.New("topic gone"), wantStatus: 500, wantDL: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dl atomic.Int32
			opts := &pubsub.CloudEventOptions{}
			if tt.withDL {
				opts.DeadLetter = func(_ context.Context, m *handler.Message, cause error) error {
					dl.Add(1)
					if !errors.Is(cause, boom) {
						t.Errorf("dead letter cause = %v", cause)
					}
					return tt.deadLetter
				}
			}
			fn := pubsub.CloudEventFunction(handler.HandlerFunc(func(context.Context, *handler.Message) error {
				if tt.panics {
					panic("bug")
				}
				return tt.handlerErr
			}), opts)
			err := fn(context.Background(), loadEvent(t, "testdata/cloudevent-structured.json"))
			if dl.Load() != tt.wantDL {
				t.Errorf("dead letters = %d, want %d", dl.Load(), tt.wantDL)
			}
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			var de *pubsub.DeliveryError
			if !errors.As(err, &de) || de.StatusCode != tt.wantStatus || de.MessageID != "2070443601311540" {
				t.Fatalf("err = %v, want a *DeliveryError with status %d", err, tt.wantStatus)
			}
			var res *cehttp.Result
			if !errors.As(err, &res) || res.StatusCode != tt.wantStatus {
				t.Errorf("the CloudEvents SDK sees status %v, want %d", res, tt.wantStatus)
			}
			if tt.deadLetter == nil && tt.handlerErr != nil && !errors.Is(err, boom) {
				t.Errorf("err = %v does not wrap the handler's error", err)
			}
		})
	}
}

func TestCloudEventFunctionKeepsBadInput(t *testing.T) {
	goodMsg := fmt.Sprintf(`{"data":%q,"messageId":"m-1"}`, b64(`{"id":"o-1"}`))
	tests := []struct {
		name   string
		typ    string
		data   string
		max    int
		status int
		is     error
		field  string
	}{
		{name: "a CloudEvent of another type", typ: "google.cloud.storage.object.v1.finalized", data: `{"message":` + goodMsg + `}`, status: 400, is: pubsub.ErrWrongEventType},
		{name: "data without a message", data: `{"subscription":"s"}`, status: 400, is: pubsub.ErrMalformed, field: "message"},
		{name: "message data that is not base64", data: `{"message":{"data":"%%% not base64","messageId":"m-1"}}`, status: 400, is: pubsub.ErrMalformed, field: "message.data"},
		{name: "attributes of the wrong type", data: `{"message":{"data":"","messageId":"m-1","attributes":{"n":1}}}`, status: 400, is: pubsub.ErrMalformed, field: "message.attributes"},
		{name: "attributes that are not an object", data: `{"message":{"messageId":"m-1","attributes":["a"]}}`, status: 400, is: pubsub.ErrMalformed, field: "message.attributes"},
		{name: "a message that is not an object", data: `{"message":"hello"}`, status: 400, is: pubsub.ErrMalformed, field: "message"},
		{name: "data that is not JSON", data: `"just a string"`, status: 400, is: pubsub.ErrMalformed},
		{name: "a publish time that is not RFC 3339", data: `{"message":{"messageId":"m-1","publishTime":"yesterday"}}`, status: 400, is: pubsub.ErrMalformed, field: "message.publishTime"},
		{name: "data over the size limit", data: `{"message":` + goodMsg + `}`, max: 16, status: 413, is: pubsub.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			fn := pubsub.CloudEventFunction(handler.HandlerFunc(func(context.Context, *handler.Message) error {
				called = true
				return nil
			}), &pubsub.CloudEventOptions{MaxDataBytes: tt.max})
			typ := tt.typ
			if typ == "" {
				typ = pubsub.EventTypeMessagePublished
			}
			err := fn(context.Background(), newEvent(t, typ, tt.data))
			if called {
				t.Error("the handler ran on bad input")
			}
			var de *pubsub.DeliveryError
			if !errors.As(err, &de) || de.StatusCode != tt.status || !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want status %d matching %v", err, tt.status, tt.is)
			}
			if handler.Classify(err) != handler.Reject {
				t.Errorf("Classify = %v, want reject", handler.Classify(err))
			}
			var me *pubsub.MalformedError
			if tt.field != "" && (!errors.As(err, &me) || me.Field != tt.field) {
				t.Errorf("err = %v, want a *MalformedError for field %q", err, tt.field)
			}
		})
	}
}

// TestCloudEventFunctionOverHTTP serves the function with the CloudEvents
// SDK receiver the Functions Framework uses and posts binary and structured
// events to it.
func TestCloudEventFunctionOverHTTP(t *testing.T) {
	fn := pubsub.CloudEventFunction(handler.JSON(func(_ context.Context, m *handler.Message, o struct {
		ID string `json:"id"`
	}) error {
		if o.ID == "flaky" {
			return errors.New("try again")
		}
		return nil
	}), nil)
	p, err := cloudevents.NewHTTP()
	if err != nil {
		t.Fatal(err)
	}
	h, err := cloudevents.NewHTTPReceiveHandler(context.Background(), p, fn)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	data := func(body string) string {
		return fmt.Sprintf(`{"message":{"data":%q,"messageId":"m-1"},"subscription":"projects/p/subscriptions/s"}`, b64(body))
	}
	binary := func(typ, d string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(d))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Ce-Specversion", "1.0")
		r.Header.Set("Ce-Id", "m-1")
		r.Header.Set("Ce-Source", "//pubsub.googleapis.com/projects/p/topics/t")
		r.Header.Set("Ce-Type", typ)
		return r
	}
	structured := func(typ, d string) *http.Request {
		doc := fmt.Sprintf(`{"specversion":"1.0","id":"m-1","source":"//pubsub.googleapis.com/projects/p/topics/t","type":%q,"datacontenttype":"application/json","data":%s}`, typ, d)
		r, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(doc))
		r.Header.Set("Content-Type", "application/cloudevents+json")
		return r
	}
	tests := []struct {
		name   string
		req    *http.Request
		status int
	}{
		{"a binary event is acknowledged", binary(pubsub.EventTypeMessagePublished, data(`{"id":"o-1"}`)), 200},
		{"a structured event is acknowledged", structured(pubsub.EventTypeMessagePublished, data(`{"id":"o-1"}`)), 200},
		{"a transient failure is 500", binary(pubsub.EventTypeMessagePublished, data(`{"id":"flaky"}`)), 500},
		{"a body that is not the order JSON is 422", structured(pubsub.EventTypeMessagePublished, data(`not json`)), 422},
		{"data that is not base64 is 400", binary(pubsub.EventTypeMessagePublished, `{"message":{"data":"???","messageId":"m-1"}}`), 400},
		{"another event type is 400", structured("com.example.other", data(`{"id":"o-1"}`)), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.DefaultClient.Do(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d (%s), want %d", resp.StatusCode, buf.String(), tt.status)
			}
		})
	}
}
