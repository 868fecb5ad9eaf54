package reliability_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/eventfn/eventfn/adapters/sqs"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/redisstore"
	"github.com/eventfn/eventfn/internal/testenv/sqstest"
)

// Twenty copies of one business event at once, on a queue that dead-letters
// after five receives: the copies that find the event in progress come back
// after a short, growing delay, so none reaches the DLQ and all are settled
// within seconds of the first run completing.
func TestConcurrentCopiesNeitherParkNorReachTheDLQ(t *testing.T) {
	c := sqstest.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dlqURL, dlqARN := sqstest.CreateQueue(t, c, "copies-dlq", nil)
	policy, _ := json.Marshal(map[string]string{"deadLetterTargetArn": dlqARN, "maxReceiveCount": "5"})
	qURL, _ := sqstest.CreateQueue(t, c, "copies", map[string]string{"RedrivePolicy": string(policy), "VisibilityTimeout": "30"})

	store, err := redisstore.Open(startRedis(t).url(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var runs atomic.Int32
	var firstDone atomic.Int64
	h := handler.Chain(handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		runs.Add(1)
		time.Sleep(2 * time.Second) // long enough for the copies to come back twice
		firstDone.CompareAndSwap(0, time.Now().UnixNano())
		return nil
	}), idempotency.Middleware(store, &idempotency.Options{Scope: "copies", Key: idempotency.FromJSONField("order")}))

	for range 20 { // a producer's retries: the same event under twenty message IDs
		if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(qURL), MessageBody: aws.String(`{"order":"o-1"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	cons := sqs.NewConsumer(c, qURL, h, &sqs.ConsumerOptions{WaitTime: time.Second, VisibilityTimeout: 30 * time.Second, Pollers: 2})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cons.Run(runCtx) }()
	var settled time.Time
	for {
		if sqstest.Depth(t, c, qURL) == 0 {
			settled = time.Now()
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("after 60 s, %d copies still in the queue (%d in the DLQ)", sqstest.Depth(t, c, qURL), sqstest.Depth(t, c, dlqURL))
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	first := time.Unix(0, firstDone.Load())
	t.Logf("20 copies settled %v after the first run completed", settled.Sub(first).Round(10*time.Millisecond))
	if n := sqstest.Depth(t, c, dlqURL); n != 0 {
		t.Errorf("%d copies reached the DLQ, want 0", n)
	}
	if runs.Load() != 1 {
		t.Errorf("the handler ran %d times, want once", runs.Load())
	}
	if d := settled.Sub(first); d > 20*time.Second {
		t.Errorf("the copies were settled %v after the first run completed, want seconds", d)
	}
}
