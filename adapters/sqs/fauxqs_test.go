package sqs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/eventfn/eventfn/adapters/sqs"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/internal/testenv"
)

// fauxqsClient returns an SQS client for the fauxqs server of the test run.
func fauxqsClient(t *testing.T) *awssqs.Client {
	t.Helper()
	testenv.SQS(t) // skip or fail when fauxqs is not running
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	return awssqs.NewFromConfig(cfg) // AWS_ENDPOINT_URL_SQS points it at fauxqs
}

// createQueue creates a uniquely named queue and returns its URL and ARN.
func createQueue(t *testing.T, c *awssqs.Client, name string, attrs map[string]string) (string, string) {
	t.Helper()
	ctx := context.Background()
	name = fmt.Sprintf("%s-%d", name, rand.Uint32())
	if attrs["FifoQueue"] == "true" {
		name += ".fifo"
	}
	out, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("CreateQueue %s: %v", name, err)
	}
	qa, err := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	return *out.QueueUrl, qa.Attributes["QueueArn"]
}

// recordingClient records the visibility changes made through it.
type recordingClient struct {
	*awssqs.Client
	mu  sync.Mutex
	vis map[string][]int32 // receipt handle -> timeouts
}

func (r *recordingClient) ChangeMessageVisibilityBatch(ctx context.Context, in *awssqs.ChangeMessageVisibilityBatchInput, optFns ...func(*awssqs.Options)) (*awssqs.ChangeMessageVisibilityBatchOutput, error) {
	r.mu.Lock()
	for _, e := range in.Entries {
		r.vis[*e.ReceiptHandle] = append(r.vis[*e.ReceiptHandle], e.VisibilityTimeout)
	}
	r.mu.Unlock()
	return r.Client.ChangeMessageVisibilityBatch(ctx, in, optFns...)
}

func TestConsumerRedriveOnFauxqs(t *testing.T) {
	c := fauxqsClient(t)
	ctx := context.Background()
	dlqURL, dlqARN := createQueue(t, c, "orders-dlq", nil)
	policy, _ := json.Marshal(map[string]string{"deadLetterTargetArn": dlqARN, "maxReceiveCount": "3"})
	qURL, _ := createQueue(t, c, "orders", map[string]string{"RedrivePolicy": string(policy), "VisibilityTimeout": "30"})

	bodies := []string{"good-1", "good-2", "good-3", "good-4", "good-5", "poison", "later"}
	for _, b := range bodies {
		if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(qURL), MessageBody: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	attempts := map[string][]int{}   // body -> delivery attempts seen
	handles := map[string][]string{} // body -> receipt handles
	done := make(chan struct{}, 16)  // one per successful message
	h := handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		var native types.Message
		m.As(&native)
		body := string(m.Body)
		mu.Lock()
		attempts[body] = append(attempts[body], m.DeliveryAttempt)
		handles[body] = append(handles[body], aws.ToString(native.ReceiptHandle))
		mu.Unlock()
		switch {
		case body == "poison":
			return fmt.Errorf("poison attempt %d", m.DeliveryAttempt)
		case body == "later" && m.DeliveryAttempt == 1:
			return handler.RetryAfter(time.Second, nil)
		}
		done <- struct{}{}
		return nil
	})
	rc := &recordingClient{Client: c, vis: map[string][]int32{}}
	cons := sqs.NewConsumer(rc, qURL, h, &sqs.ConsumerOptions{
		Backoff:           func(int) time.Duration { return 0 }, // poison: redeliver at once
		WaitTime:          time.Second,
		VisibilityTimeout: 10 * time.Second,
	})
	runCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- cons.Run(runCtx) }()

	// Wait for the six good messages and for the poison in the DLQ.
	timeout := time.After(60 * time.Second)
	for range 6 {
		select {
		case <-done:
		case <-timeout:
			cancel()
			t.Fatalf("timed out; attempts so far %v", attempts)
		}
	}
	var dead []types.Message
	for len(dead) == 0 {
		out, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(dlqURL), WaitTimeSeconds: 1, MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		dead = out.Messages
		select {
		case <-timeout:
			cancel()
			t.Fatalf("poison never reached the DLQ; attempts %v", attempts)
		default:
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run = %v", err)
	}

	if len(dead) != 1 || aws.ToString(dead[0].Body) != "poison" {
		t.Fatalf("DLQ holds %v, want the poison message", dead)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := attempts["poison"]; !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("poison attempts = %v, want exactly 3 receives", got)
	}
	for _, b := range bodies[:5] {
		if got := attempts[b]; !slices.Equal(got, []int{1}) {
			t.Errorf("%s attempts = %v, want processed once", b, got)
		}
	}
	if got := attempts["later"]; !slices.Equal(got, []int{1, 2}) {
		t.Errorf("later attempts = %v, want a redelivery after its RetryAfter", got)
	}
	// The backoff is visible as the visibility timeout set on the failed receipt.
	rc.mu.Lock()
	laterVis := rc.vis[handles["later"][0]]
	rc.mu.Unlock()
	if !slices.Contains(laterVis, 1) {
		t.Errorf("visibility changes for later's first receipt = %v, want 1s", laterVis)
	}
	// Nothing is left behind in the source queue.
	qa, err := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(qURL), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"} {
		if n, _ := strconv.Atoi(qa.Attributes[a]); n != 0 {
			t.Errorf("%s = %d after the run, want 0", a, n)
		}
	}
}

// lambdaRecord converts a received message the way Lambda's SQS poller
// does.
func lambdaRecord(m types.Message, arn string) events.SQSMessage {
	return events.SQSMessage{
		MessageId:      aws.ToString(m.MessageId),
		ReceiptHandle:  aws.ToString(m.ReceiptHandle),
		Body:           aws.ToString(m.Body),
		Attributes:     m.Attributes,
		EventSource:    "aws:sqs",
		EventSourceARN: arn,
		AWSRegion:      "us-east-1",
	}
}

func receiveOne(t *testing.T, c *awssqs.Client, url string, wait int32) *types.Message {
	t.Helper()
	out, err := c.ReceiveMessage(context.Background(), &awssqs.ReceiveMessageInput{
		QueueUrl: aws.String(url), WaitTimeSeconds: wait, VisibilityTimeout: 30,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) == 0 {
		return nil
	}
	return &out.Messages[0]
}

func TestLambdaVisibilityAndDeadLetterOnFauxqs(t *testing.T) {
	c := fauxqsClient(t)
	ctx := context.Background()
	qURL, qARN := createQueue(t, c, "lambda-src", map[string]string{"VisibilityTimeout": "30"})
	dlq, _ := createQueue(t, c, "lambda-dlq", nil)
	for _, b := range []string{"later", "never"} {
		if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(qURL), MessageBody: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	var recs []events.SQSMessage
	for len(recs) < 2 {
		m := receiveOne(t, c, qURL, 1)
		if m == nil {
			t.Fatal("the sent messages were not received")
		}
		recs = append(recs, lambdaRecord(*m, qARN))
	}
	h := handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		if string(m.Body) == "later" {
			return handler.RetryAfter(time.Second, nil)
		}
		return handler.Permanent(fmt.Errorf("order %s can never be applied", m.Body))
	})
	l := sqs.NewLambda(h, &sqs.Options{
		Client:                  c,
		QueueURL:                func(string) string { return qURL }, // fauxqs's URLs are not AWS's
		DeadLetterQueueURL:      dlq,
		ReportBatchItemFailures: true,
	})
	resp, err := l.HandleSQS(ctx, events.SQSEvent{Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	var laterID string
	for _, r := range recs {
		if r.Body == "later" {
			laterID = r.MessageId
		}
	}
	if got := failureIDs(resp); !slices.Equal(got, []string{laterID}) {
		t.Errorf("batchItemFailures = %v, want only the RetryAfter message", got)
	}
	// The message was received with a 30 s visibility timeout; RetryAfter(1s)
	// shortened it, so it is back well within this 10 s wait.
	m := receiveOne(t, c, qURL, 10)
	if m == nil || aws.ToString(m.Body) != "later" || m.Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("redelivery = %+v, want later on its second receive", m)
	}
	d := receiveOne(t, c, dlq, 1)
	if d == nil || aws.ToString(d.Body) != "never" {
		t.Fatalf("dead-letter queue holds %+v, want the permanent failure", d)
	}
	if e := d.MessageAttributes[handler.AttrError].StringValue; e == nil || !strings.Contains(*e, "can never be applied") {
		t.Errorf("%s = %v", handler.AttrError, e)
	}
	if q := d.MessageAttributes[handler.AttrQueue].StringValue; q == nil || *q != qARN {
		t.Errorf("%s = %v, want %s", handler.AttrQueue, q, qARN)
	}
}
