package pubsub_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/eventfn/eventfn/adapters/pubsub"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/internal/testenv"
)

// FuzzPushHandler feeds arbitrary bodies to the push endpoint: it must never
// panic, and a 2xx answer means the handler ran and succeeded.
func FuzzPushHandler(f *testing.F) {
	testenv.AddFileSeeds(f, "testdata/push-envelope.json")
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
