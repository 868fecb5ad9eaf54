package pubsub_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/eventfn/eventfn/adapters/pubsub"
	"github.com/eventfn/eventfn/handler"
)

// FuzzPushHandler feeds arbitrary bodies to the push endpoint: it must never
// panic, and a 2xx answer means the handler ran and succeeded.
func FuzzPushHandler(f *testing.F) {
	if b, err := os.ReadFile("testdata/push-envelope.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"message":{"data":"!!notbase64","messageId":"1"},"subscription":"s"}`))
	f.Add([]byte(`{"message":{"data":"e30=","attributes":{"a":1}},"deliveryAttempt":-1}`))
	var ran bool
	ph := pubsub.NewPushHandler(handler.HandlerFunc(func(context.Context, *handler.Message) error {
		ran = true
		return nil
	}), nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		ran = false
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		ph.ServeHTTP(rec, req)
		if rec.Code/100 == 2 && !ran {
			t.Fatalf("answered %d without running the handler for %q", rec.Code, body)
		}
	})
}
