package servicebus_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/eventfn/eventfn/adapters/servicebus"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/internal/testenv"
)

// FuzzFunction feeds arbitrary request bodies to the custom-handler
// endpoint: it must never panic, and a 2xx answer means the handler ran (a
// request it could not decode is never acknowledged).
func FuzzFunction(f *testing.F) {
	testenv.AddFileSeeds(f, "testdata/*.json")
	f.Add([]byte(`{"Data":{"order":null},"Metadata":{"DeliveryCount":"x"}}`))
	f.Add([]byte(`{"Data":{"orders":"[1,2"},"Metadata":{"MessageIdArray":"[]"}}`))
	var calls int
	fn := servicebus.NewFunction(handler.HandlerFunc(func(context.Context, *handler.Message) error {
		calls++
		return nil
	}), nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		calls = 0
		rec := httptest.NewRecorder()
		fn.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/ProcessOrder", bytes.NewReader(body)))
		if rec.Code/100 == 2 && calls == 0 {
			t.Fatalf("answered %d without running the handler for %q", rec.Code, body)
		}
	})
}
