package reliability_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventfn/eventfn/adapters/sqs"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/redisstore"
)

func sqsEvent(n int) json.RawMessage {
	var e events.SQSEvent
	for i := range n {
		e.Records = append(e.Records, events.SQSMessage{
			MessageId: fmt.Sprintf("m-%d", i), ReceiptHandle: fmt.Sprintf("rh-%d", i), Body: `{"n":1}`,
			EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:us-east-1:000000000000:orders",
			Attributes: map[string]string{"ApproximateReceiveCount": "1"},
		})
	}
	b, _ := json.Marshal(e)
	return b
}

// A Redis that stops answering (SIGSTOP) or dies while the handlers of a
// Lambda invocation run must not make the invocation overrun its deadline:
// Lambda would then time out the whole batch and redeliver every message
// whose effect already happened. Completions end inside the engine's
// margin, and every message is accounted for: the ones whose effect
// happened are acknowledged.
func TestInvokeReturnsBeforeTheDeadlineWhenTheStoreHangs(t *testing.T) {
	for _, fault := range []string{"paused", "killed", "paused before the claims"} {
		t.Run(fault, func(t *testing.T) {
			srv := startRedis(t)
			store, err := redisstore.Open(srv.url(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			var ran atomic.Int32
			started := make(chan struct{}, 10)
			h := handler.Chain(handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
				started <- struct{}{}
				time.Sleep(300 * time.Millisecond)
				ran.Add(1)
				return nil
			}), idempotency.Middleware(store, &idempotency.Options{Scope: "deadline-" + fault}))
			l := sqs.NewLambda(h, &sqs.Options{ReportBatchItemFailures: true})

			const timeout = 2 * time.Second
			deadline := time.Now().Add(timeout)
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			switch fault {
			case "paused before the claims":
				srv.pause()
			default:
				go func() {
					<-started // the claims are made and handlers run
					if fault == "paused" {
						srv.pause()
					} else {
						srv.kill()
					}
				}()
			}
			resp, err := l.Invoke(ctx, sqsEvent(10))
			returned := time.Now()
			if fault != "killed" {
				srv.resume()
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: returned %v before the deadline; %d handlers ran, %d failures reported", fault, deadline.Sub(returned).Round(time.Millisecond), ran.Load(), len(resp.BatchItemFailures))
			if !returned.Before(deadline) {
				t.Fatalf("Invoke returned %v after the deadline", returned.Sub(deadline))
			}
			// Handlers whose effect happened are acknowledged; any other is
			// reported failed, so it is redelivered: none is lost.
			if got := 10 - len(resp.BatchItemFailures); got != int(ran.Load()) {
				t.Errorf("%d messages acknowledged, but %d effects happened", got, ran.Load())
			}
		})
	}
}
