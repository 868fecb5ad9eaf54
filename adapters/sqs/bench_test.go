package sqs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventfn/eventfn/adapters/sqs"
	"github.com/eventfn/eventfn/handler"
)

// benchEvent is a 10-record SQS event like Lambda sends, bodies of ~60 bytes.
func benchEvent(b *testing.B) json.RawMessage {
	recs := make([]events.SQSMessage, 10)
	for i := range recs {
		id := fmt.Sprintf("059f36b4-87a3-44ab-83d2-66197526%04d", i)
		recs[i] = rec(id, fmt.Sprintf(`{"id":"o-%d","customer":"c-%d","amount_cents":1200}`, i, i))
		recs[i].ReceiptHandle = "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a+Rs9WXYPFRBxe9aZ2YA6lvqF8V6nLjD0Q6YIk3ZsXW+Xb0wnq2ZUvUvs2o2+lExO1d5R8cQ=="
		recs[i].Attributes["SenderId"] = "AIDAIENQZJOLO23YVJ4VO"
		recs[i].Attributes["ApproximateFirstReceiveTimestamp"] = "1731900000123"
		recs[i].Md5OfBody = "7b270e59b47ff90a553787216d55d91d"
	}
	return payload(b, recs...)
}

// BenchmarkInvoke10 is the adapter's cost for a 10-record batch with a
// handler that does nothing: decoding, conversion, Process, response.
func BenchmarkInvoke10(b *testing.B) {
	p := benchEvent(b)
	noop := handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil })
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	for _, bc := range []struct {
		name string
		ctx  context.Context
	}{{"no-deadline", context.Background()}, {"lambda-deadline", ctx}} {
		b.Run(bc.name, func(b *testing.B) {
			l := sqs.NewLambda(noop, nil)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := l.Invoke(bc.ctx, p)
				if err != nil || len(resp.BatchItemFailures) != 0 {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeBaseline is what aws-lambda-go alone would spend decoding
// the same event into events.SQSEvent, for comparison.
func BenchmarkDecodeBaseline(b *testing.B) {
	p := benchEvent(b)
	b.ReportAllocs()
	for b.Loop() {
		var ev events.SQSEvent
		if err := json.Unmarshal(p, &ev); err != nil {
			b.Fatal(err)
		}
	}
}
