package pubsub_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/eventfn/eventfn/adapters/pubsub"
	"github.com/eventfn/eventfn/handler"
)

var nop = handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil })

// BenchmarkPushHandler measures the adapter's own cost for one wrapped push
// (decode, Process, respond), without the network.
func BenchmarkPushHandler(b *testing.B) {
	h := pubsub.NewPushHandler(nop, nil)
	body := []byte(fmt.Sprintf(`{"message":{"data":%q,"messageId":"m-1","attributes":{"a":"b"},"publishTime":"2024-01-02T03:04:05Z"},"subscription":"projects/p/subscriptions/s"}`,
		b64(`{"id":"o-1","customer":"c-1","amount_cents":1250}`)))
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body)))
		if w.Code != http.StatusNoContent {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkOIDCVerify measures one token verification with a cached key.
func BenchmarkOIDCVerify(b *testing.B) {
	good, _ := testKeys()
	v := testVerifier()
	tok := signToken(good, testKid, googleClaims(nil))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := v.VerifyToken(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
