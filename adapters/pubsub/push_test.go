package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfn/eventfn/adapters/pubsub"
	"github.com/eventfn/eventfn/handler"
)

// post sends body to h through a real HTTP server and returns the status,
// headers and response body.
func post(t *testing.T, h http.Handler, body string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/push", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func capture(got **handler.Message) handler.Handler {
	return handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		*got = m
		return nil
	})
}

func TestPushHandlerDecodesTheCapturedEnvelope(t *testing.T) {
	body, err := os.ReadFile("testdata/push-envelope.json")
	if err != nil {
		t.Fatal(err)
	}
	var got *handler.Message
	status, _, resp := post(t, pubsub.NewPushHandler(capture(&got), nil), string(body), nil)
	if status != http.StatusNoContent {
		t.Fatalf("status = %d (%s), want 204", status, resp)
	}
	if got.ID != "2070443601311540" || got.Queue != "projects/myproject/subscriptions/mysubscription" ||
		got.DeliveryAttempt != 2 || got.OrderingKey != "customer-c-1" || got.Source != handler.SourcePubSub ||
		string(got.Body) != `{"id":"o-1","customer":"c-1","amount_cents":1250}` ||
		got.Attribute("origin") != "checkout" || got.PublishedAt.IsZero() {
		t.Errorf("message = %+v", got)
	}
	var env *pubsub.Envelope
	var req *http.Request
	if !got.As(&env) || env.Subscription != got.Queue || !got.As(&req) || req.Method != http.MethodPost {
		t.Error("As does not reach the envelope and the request")
	}
}

func TestPushHandlerUnwrapped(t *testing.T) {
	hdr := map[string]string{
		pubsub.HeaderMessageID:    "m-42",
		pubsub.HeaderSubscription: "projects/p/subscriptions/s",
		pubsub.HeaderPublishTime:  "2024-05-06T07:08:09.123Z",
		pubsub.HeaderOrderingKey:  "k",
		"Origin-System":           "checkout",
		"X-Forwarded-For":         "10.0.0.1",
		"Authorization":           "Bearer x",
	}
	t.Run("metadata headers fill the message, other headers are attributes", func(t *testing.T) {
		var got *handler.Message
		status, _, resp := post(t, pubsub.NewPushHandler(capture(&got), nil), `{"id":"o-1"}`, hdr)
		if status != http.StatusNoContent {
			t.Fatalf("status = %d (%s)", status, resp)
		}
		if got.ID != "m-42" || got.Queue != "projects/p/subscriptions/s" || got.OrderingKey != "k" ||
			string(got.Body) != `{"id":"o-1"}` || got.PublishedAt.Year() != 2024 {
			t.Errorf("message = %+v", got)
		}
		if got.Attribute("origin-system") != "checkout" || got.Attribute("content-type") != "application/json" {
			t.Errorf("attributes = %v", got.Attributes)
		}
		for _, k := range []string{"authorization", "x-forwarded-for", "x-goog-pubsub-message-id", "user-agent", "content-length"} {
			if _, ok := got.Attributes[k]; ok {
				t.Errorf("transport header %q became an attribute: %v", k, got.Attributes)
			}
		}
	})
	t.Run("AttributeHeaders picks the attributes", func(t *testing.T) {
		var got *handler.Message
		h := pubsub.NewPushHandler(capture(&got), &pubsub.PushOptions{AttributeHeaders: []string{"Origin-System"}})
		if status, _, _ := post(t, h, `{}`, hdr); status != http.StatusNoContent {
			t.Fatalf("status = %d", status)
		}
		if len(got.Attributes) != 1 || got.Attribute("Origin-System") != "checkout" {
			t.Errorf("attributes = %v", got.Attributes)
		}
	})
	t.Run("Unwrapped takes a body without metadata as data", func(t *testing.T) {
		var got *handler.Message
		h := pubsub.NewPushHandler(capture(&got), &pubsub.PushOptions{Unwrapped: true})
		if status, _, _ := post(t, h, `raw bytes`, nil); status != http.StatusNoContent {
			t.Fatalf("status = %d", status)
		}
		if string(got.Body) != "raw bytes" || got.ID != "" {
			t.Errorf("message = %+v", got)
		}
	})
	t.Run("a bad publish time header is 400", func(t *testing.T) {
		var got *handler.Message
		status, _, _ := post(t, pubsub.NewPushHandler(capture(&got), nil), `{}`,
			map[string]string{pubsub.HeaderMessageID: "m", pubsub.HeaderPublishTime: "noon"})
		if status != http.StatusBadRequest || got != nil {
			t.Errorf("status = %d, handler ran: %v", status, got != nil)
		}
	})
}

func TestPushHandlerStatusFollowsTheOutcome(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name       string
		err        error
		panics     bool
		deadLetter func(context.Context, *handler.Message, error) error
		status     int
		retryAfter string
	}{
		{name: "success is 204", status: 204},
		{name: "a plain error is 500", err: boom, status: 500},
		{name: "RetryAfter is 503 with Retry-After rounded up", err: handler.RetryAfter(1500*time.Millisecond, boom), status: 503, retryAfter: "2"},
		{name: "a panic is 500", panics: true, status: 500},
		{name: "a permanent error without dead letter is 422", err: handler.Permanent(boom), status: 422},
		{name: "a dead-lettered permanent error is 204", err: handler.Permanent(boom), status: 204,
			deadLetter: func(context.Context, *handler.Message, error) error { return nil }},
		{name: "a failed dead-letter publish is 500", err: handler.Permanent(boom), status: 500,
			deadLetter: func(context.Context, *handler.Message, error) error { return errors.New("unreachable") }},
		{name: "a panicking dead-letter function is 500", err: handler.Permanent(boom), status: 500,
			deadLetter: func(context.Context, *handler.Message, error) error { panic("bug") }},
	}
	body := fmt.Sprintf(`{"message":{"data":%q,"messageId":"m-1"}}`, b64(`{}`))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := pubsub.NewPushHandler(handler.HandlerFunc(func(context.Context, *handler.Message) error {
				if tt.panics {
					panic("bug")
				}
				return tt.err
			}), &pubsub.PushOptions{DeadLetter: tt.deadLetter})
			status, hdr, resp := post(t, h, body, nil)
			if status != tt.status {
				t.Errorf("status = %d (%s), want %d", status, resp, tt.status)
			}
			if hdr.Get("Retry-After") != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", hdr.Get("Retry-After"), tt.retryAfter)
			}
		})
	}
}

func TestPushHandlerKeepsBadInput(t *testing.T) {
	good := fmt.Sprintf(`{"message":{"data":%q,"messageId":"m-1"}}`, b64(`{"id":"o-1"}`))
	tests := []struct {
		name   string
		method string
		body   string
		chunk  bool // send without Content-Length
		limit  int64
		status int
	}{
		{name: "GET is 405", method: http.MethodGet, status: 405},
		{name: "an empty body is 400", body: ``, status: 400},
		{name: "a body that is not JSON is 400", body: `hello`, status: 400},
		{name: "an envelope without a message is 400", body: `{"subscription":"s"}`, status: 400},
		{name: "a message without an ID is 400", body: `{"message":{"data":""}}`, status: 400},
		{name: "data that is not base64 is 400", body: `{"message":{"data":"***","messageId":"m"}}`, status: 400},
		{name: "attributes of the wrong type are 400", body: `{"message":{"messageId":"m","attributes":{"a":true}}}`, status: 400},
		{name: "a negative delivery attempt is 400", body: `{"message":{"messageId":"m"},"deliveryAttempt":-1}`, status: 400},
		{name: "trailing data is 400", body: good + `{}`, status: 400},
		{name: "a body over the limit is 413", body: good, limit: 20, status: 413},
		{name: "a chunked body over the limit is 413", body: good, limit: 20, chunk: true, status: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ran atomic.Bool
			h := pubsub.NewPushHandler(handler.HandlerFunc(func(context.Context, *handler.Message) error {
				ran.Store(true)
				return nil
			}), &pubsub.PushOptions{MaxBodyBytes: tt.limit})
			srv := httptest.NewServer(h)
			defer srv.Close()
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunk {
				body = io.MultiReader(body) // unknown length: chunked
			}
			req, _ := http.NewRequest(method, srv.URL, body)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d (%s), want %d", resp.StatusCode, msg, tt.status)
			}
			if ran.Load() {
				t.Error("the handler ran on bad input")
			}
		})
	}
}

func TestPushHandlerAnswersBeforeAHandlerThatOutlivesTheTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	h := pubsub.NewPushHandler(handler.HandlerFunc(func(ctx context.Context, _ *handler.Message) error {
		<-release // ignores ctx: a stuck dependency
		return nil
	}), &pubsub.PushOptions{Timeout: 300 * time.Millisecond, Process: &handler.ProcessOptions{DeadlineMargin: 100 * time.Millisecond}})
	status, _, resp := post(t, h, fmt.Sprintf(`{"message":{"data":%q,"messageId":"m-1"}}`, b64(`{}`)), nil)
	if status != http.StatusInternalServerError || !strings.Contains(resp, handler.ErrDeadline.Error()) {
		t.Errorf("status = %d (%s), want 500 with %v", status, resp, handler.ErrDeadline)
	}
}

func TestNewPushHandlerPanicsOnNilHandler(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	pubsub.NewPushHandler(nil, nil)
}
