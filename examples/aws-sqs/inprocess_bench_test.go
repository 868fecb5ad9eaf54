package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventfn/eventfn/adapters/sqs"
	"github.com/eventfn/eventfn/examples/orders"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/memstore"
	"github.com/eventfn/eventfn/internal/testenv"
)

func batchPayload(n int64) json.RawMessage {
	recs := make([]events.SQSMessage, 10)
	for i := range recs {
		id := fmt.Sprintf("p%d-%d", n, i)
		recs[i] = events.SQSMessage{
			MessageId: id, ReceiptHandle: "rh", EventSource: "aws:sqs",
			EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:orders",
			Body:           fmt.Sprintf(`{"id":%q,"customer":"c","amount_cents":1}`, id),
			Attributes:     map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": "1731900000000"},
		}
	}
	b, _ := json.Marshal(events.SQSEvent{Records: recs})
	return b
}

// BenchmarkInProcess10 invokes the function's handler in process (no
// emulator) with a batch of 10 new orders: the adapter and idempotency
// overhead, with the store's round trips for the redis case.
func BenchmarkInProcess10(b *testing.B) {
	b.Setenv("ORDERS_LEDGER_FILE", "/dev/null")
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	run := func(b *testing.B, h handler.Handler) {
		l := sqs.NewLambda(h, &sqs.Options{ReportBatchItemFailures: true})
		base := time.Now().UnixNano()
		payloads := make([]json.RawMessage, b.N) // new orders every time, built outside the timing
		for i := range payloads {
			payloads[i] = batchPayload(base + int64(i))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			resp, err := l.Invoke(ctx, payloads[i])
			if err != nil || len(resp.BatchItemFailures) != 0 {
				b.Fatal(err, resp)
			}
		}
	}
	noop := handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil })
	b.Run("adapter-only", func(b *testing.B) { run(b, noop) })
	b.Run("adapter+idempotency-memstore", func(b *testing.B) {
		run(b, idempotency.Middleware(memstore.New(nil), &idempotency.Options{Scope: "bench", Key: idempotency.FromJSONField("id")})(noop))
	})
	b.Run("orders-handler-alone", func(b *testing.B) { // the user's code, for subtraction
		h := orders.NewHandler(orders.ConfigFromEnv())
		msgs := make([]*handler.Message, 10)
		for i := range msgs {
			msgs[i] = &handler.Message{ID: fmt.Sprint(i), Body: []byte(fmt.Sprintf(`{"id":"o-%d","customer":"c","amount_cents":1}`, i)), DeliveryAttempt: 1}
		}
		b.ReportAllocs()
		for b.Loop() {
			for _, m := range msgs {
				if err := h.Handle(ctx, m); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("example-redis", func(b *testing.B) {
		env := map[string]string{"EVENTFN_STORE": "redis", "EVENTFN_REDIS_URL": testenv.Redis(b), "EVENTFN_SCOPE": fmt.Sprint("inproc-", time.Now().UnixNano())}
		h, _, err := setup(ctx, func(k string) string { return env[k] })
		if err != nil {
			b.Fatal(err)
		}
		run(b, h)
	})
}
