package sqs_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/eventfn/eventfn/adapters/sqs"
	"github.com/eventfn/eventfn/handler"
)

const fifoARN = "arn:aws:sqs:us-east-1:123456789012:orders.fifo"

// fifoRecordJSON is a well-formed FIFO record as Lambda sends it, as a
// generic JSON object a test can break one field of.
func fifoRecordJSON(id, group string) map[string]any {
	return map[string]any{
		"messageId":      id,
		"receiptHandle":  "rh-" + id,
		"body":           "{}",
		"attributes":     map[string]any{"ApproximateReceiveCount": "1", "MessageGroupId": group},
		"eventSource":    "aws:sqs",
		"eventSourceARN": fifoARN,
		"awsRegion":      "us-east-1",
	}
}

func rawPayload(t *testing.T, recs ...map[string]any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(map[string]any{"Records": recs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every way a record of group A can fail before Process stops the rest of
// group A and, when its group cannot be read, the rest of the batch.
func TestFIFORecordsThatFailBeforeProcessStopTheirGroup(t *testing.T) {
	tests := []struct {
		name      string
		opts      sqs.Options
		breakA2   func(r map[string]any)
		wantFail  []string
		wantRun   []string
		unknownGr bool
	}{
		{name: "malformed message attributes", breakA2: func(r map[string]any) {
			r["messageAttributes"] = map[string]any{"n": map[string]any{"stringValue": 7, "dataType": "Number"}}
		}},
		{name: "a body that is not a string", breakA2: func(r map[string]any) { r["body"] = 42 }},
		{name: "a receipt handle that is not a string", breakA2: func(r map[string]any) { r["receiptHandle"] = []int{1} }},
		{name: "an eventSourceARN that is not a string", breakA2: func(r map[string]any) { r["eventSourceARN"] = 5 }},
		{name: "another attribute that is not a string", breakA2: func(r map[string]any) {
			r["attributes"].(map[string]any)["ApproximateReceiveCount"] = 1
		}},
		{name: "an oversized body", opts: sqs.Options{MaxBodyBytes: 8}, breakA2: func(r map[string]any) { r["body"] = `"far too large"` }},
		{name: "a bad SNS envelope", breakA2: func(r map[string]any) {
			r["body"] = `{"Type":"Notification","MessageId":7,"TopicArn":"t","Timestamp":"x","Message":"m"}`
		}},
		{name: "bad SNS attributes", opts: sqs.Options{TrustSNSAttributes: true}, breakA2: func(r map[string]any) {
			r["body"] = `{"Type":"Notification","MessageId":"sns-1","TopicArn":"t","Timestamp":"2024-01-01T00:00:00Z","Message":"m","MessageAttributes":{"a":"flat"}}`
		}},
		{name: "an eventSource of another service", breakA2: func(r map[string]any) { r["eventSource"] = "aws:kinesis" }},
		{name: "a MessageGroupId that is not a string", unknownGr: true, breakA2: func(r map[string]any) {
			r["attributes"].(map[string]any)["MessageGroupId"] = 9
		}},
		{name: "attributes that are not an object", unknownGr: true, breakA2: func(r map[string]any) {
			r["attributes"] = []string{"MessageGroupId", "A"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a2 := fifoRecordJSON("a2", "A")
			tt.breakA2(a2)
			r := &recorder{}
			log, _ := newLogger()
			tt.opts.Logger, tt.opts.ReportBatchItemFailures = log, true
			resp, err := sqs.NewLambda(r, &tt.opts).Invoke(context.Background(), rawPayload(t,
				fifoRecordJSON("a1", "A"), a2, fifoRecordJSON("b1", "B"), fifoRecordJSON("a3", "A"), fifoRecordJSON("a4", "A")))
			if err != nil {
				t.Fatal(err)
			}
			wantFail, wantRun := []string{"a2", "a3", "a4"}, []string{"a1", "b1"}
			if tt.unknownGr {
				// b1 may be of a2's group: nothing after a2 runs.
				wantFail, wantRun = []string{"a2", "b1", "a3", "a4"}, []string{"a1"}
			}
			if got := failureIDs(resp); !slices.Equal(got, wantFail) {
				t.Errorf("batchItemFailures = %v, want %v", got, wantFail)
			}
			if got := r.ids(); !slices.Equal(got, wantRun) {
				t.Errorf("handled %v, want %v (a3 and a4 must not run after a2 failed)", got, wantRun)
			}
		})
	}
}

// A record without a messageId cannot be reported alone: the invocation
// fails, so Lambda retries the whole batch in order.
func TestFIFORecordWithoutMessageIDFailsTheInvocation(t *testing.T) {
	a2 := fifoRecordJSON("a2", "A")
	a2["messageId"] = 7
	r := &recorder{}
	log, _ := newLogger()
	_, err := sqs.NewLambda(r, &sqs.Options{Logger: log}).Invoke(context.Background(), rawPayload(t, fifoRecordJSON("a1", "A"), a2, fifoRecordJSON("a3", "A")))
	if !errors.Is(err, sqs.ErrMalformedEvent) {
		t.Fatalf("Invoke = %v, want ErrMalformedEvent", err)
	}
	if got := r.ids(); len(got) != 0 {
		t.Errorf("handled %v, want nothing", got)
	}
}

// A record that fails before Process on a standard queue stops nothing.
func TestStandardQueueRecordThatFailsBeforeProcessFailsAlone(t *testing.T) {
	std := func(id string) map[string]any {
		r := fifoRecordJSON(id, "A")
		r["eventSourceARN"] = testARN
		return r
	}
	a2 := std("a2")
	a2["body"] = 42
	r := &recorder{}
	log, _ := newLogger()
	resp, err := sqs.NewLambda(r, &sqs.Options{Logger: log, ReportBatchItemFailures: true}).Invoke(context.Background(),
		rawPayload(t, std("a1"), a2, std("a3")))
	if err != nil {
		t.Fatal(err)
	}
	if got := failureIDs(resp); !slices.Equal(got, []string{"a2"}) {
		t.Errorf("batchItemFailures = %v, want only a2", got)
	}
	if got := r.ids(); !slices.Equal(got, []string{"a1", "a3"}) {
		t.Errorf("handled %v", got)
	}
}

func TestConsumerFIFORecordThatFailsBeforeProcessStopsItsGroup(t *testing.T) {
	fifoURL := "https://sqs.us-east-1.amazonaws.com/123456789012/orders.fifo"
	msg := func(id, group, body string) types.Message {
		m := received(id, body, "1")
		m.Attributes["MessageGroupId"] = group
		return m
	}
	for _, tt := range []struct {
		name string
		opts sqs.Options
		body string
	}{
		{"an oversized body", sqs.Options{MaxBodyBytes: 8}, `"far too large"`},
		{"a bad SNS envelope", sqs.Options{}, `{"Type":"Notification","MessageId":7,"TopicArn":"t","Timestamp":"x","Message":"m"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &fakeClient{receives: make(chan []types.Message, 1)}
			// SNS detection is skipped when an SQS record has message attributes.
			bad := msg("a2", "A", tt.body)
			bad.MessageAttributes = nil
			c.receives <- []types.Message{msg("a1", "A", "{}"), bad, msg("b1", "B", "{}"), msg("a3", "A", "{}")}
			r := &recorder{}
			log, _ := newLogger()
			cons := sqs.NewConsumer(c, fifoURL, r, &sqs.ConsumerOptions{MaxBodyBytes: tt.opts.MaxBodyBytes, Logger: log})
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { errc <- cons.Run(ctx) }()
			for len(c.deletedHandles()) < 2 {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if got := c.deletedHandles(); !slices.Equal(got, []string{"rh-a1", "rh-b1"}) {
				t.Errorf("deleted %v, want a1 and b1 only", got)
			}
			if got := r.ids(); !slices.Equal(got, []string{"a1", "b1"}) {
				t.Errorf("handled %v, want a1 and b1 (a3 must wait for a2)", got)
			}
		})
	}
}

// On a real FIFO queue: a record of group A whose group cannot be read
// stops the rest of the batch in the Lambda path, and the Consumer dead-letters a
// record over the size limit and keeps group A's order while group B goes
// on.
func TestFIFOOrderAroundPreProcessFailuresOnFauxqs(t *testing.T) {
	c := fauxqsClient(t)
	ctx := context.Background()
	fifoAttrs := map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true", "VisibilityTimeout": "2"}
	send := func(url, group, body string) {
		t.Helper()
		if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body), MessageGroupId: aws.String(group)}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("Lambda", func(t *testing.T) {
		qURL, qARN := createFIFOQueue(t, c, "lambda-fifo", fifoAttrs)
		sent := []string{"a1", "a2", "b1", "a3", "a4"}
		for _, b := range sent {
			send(qURL, strings.ToUpper(b[:1]), b)
		}
		// fauxqs hands out one message per group per receive and locks the
		// group until it is deleted, while Lambda's poller batches several
		// messages of a group: collect the records one receive at a time.
		var recs []map[string]any
		ids := map[string]string{} // body -> message ID
		for range 5 {
			m := receiveOne(t, c, qURL, 1)
			if m == nil {
				t.Fatalf("received %d of the 5 messages", len(recs))
			}
			if _, err := c.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: aws.String(qURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
			rec := map[string]any{}
			b, _ := json.Marshal(lambdaRecord(*m, qARN))
			if err := json.Unmarshal(b, &rec); err != nil {
				t.Fatal(err)
			}
			ids[aws.ToString(m.Body)] = aws.ToString(m.MessageId)
			if aws.ToString(m.Body) == "a2" { // its group cannot be read
				rec["messageAttributes"] = map[string]any{"n": map[string]any{"stringValue": 7, "dataType": "Number"}}
				rec["attributes"] = "MessageGroupId=A"
			}
			recs = append(recs, rec)
		}
		slices.SortStableFunc(recs, func(x, y map[string]any) int { // a1, a2, b1, a3, a4 as sent
			return slices.Index(sent, x["body"].(string)) - slices.Index(sent, y["body"].(string))
		})
		if len(recs) != 5 {
			t.Fatalf("received %d messages, want all 5 in one batch", len(recs))
		}
		r := &recorder{}
		log, _ := newLogger()
		resp, err := sqs.NewLambda(r, &sqs.Options{Logger: log, ReportBatchItemFailures: true}).Invoke(ctx, rawPayload(t, recs...))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{ids["a2"], ids["b1"], ids["a3"], ids["a4"]}
		if got := failureIDs(resp); !slices.Equal(got, want) {
			t.Errorf("batchItemFailures = %v, want a2 and everything after it = %v", got, want)
		}
		var bodies []string
		for _, m := range r.seen {
			bodies = append(bodies, string(m.Body))
		}
		slices.Sort(bodies)
		if !slices.Equal(bodies, []string{"a1"}) {
			t.Errorf("handled %v, want a1 alone", bodies)
		}
	})

	t.Run("Consumer", func(t *testing.T) {
		dlqURL, _ := createFIFOQueue(t, c, "consumer-fifo-dlq", map[string]string{"FifoQueue": "true"})
		qURL, _ := createFIFOQueue(t, c, "consumer-fifo", fifoAttrs)
		for _, m := range [][2]string{{"A", "a1"}, {"A", "a2-oversized-body"}, {"B", "b1"}, {"A", "a3"}, {"A", "a4"}} {
			send(qURL, m[0], m[1])
		}
		var mu sync.Mutex
		var order []string
		done := make(chan struct{})
		h := handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, string(m.Body))
			if len(order) == 4 {
				close(done)
			}
			return nil
		})
		log, _ := newLogger()
		cons := sqs.NewConsumer(c, qURL, h, &sqs.ConsumerOptions{
			MaxBodyBytes:       8,
			DeadLetterQueueURL: dlqURL,
			Logger:             log,
			WaitTime:           time.Second,
			VisibilityTimeout:  2 * time.Second,
		})
		runCtx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() { errc <- cons.Run(runCtx) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			cancel()
			<-errc
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("handled only %v", order)
		}
		cancel()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		var groupA []string
		for _, b := range order {
			if strings.HasPrefix(b, "a") {
				groupA = append(groupA, b)
			}
		}
		mu.Unlock()
		if !slices.Equal(groupA, []string{"a1", "a3", "a4"}) {
			t.Errorf("group A ran %v, want a1, a3, a4 in order", groupA)
		}
		d := receiveOne(t, c, dlqURL, 5)
		if d == nil || aws.ToString(d.Body) != "a2-oversized-body" {
			t.Fatalf("dead-letter queue holds %+v, want the oversized a2", d)
		}
		if e := d.MessageAttributes[handler.AttrError].StringValue; e == nil || !strings.Contains(*e, "body too large") {
			t.Errorf("%s = %v", handler.AttrError, e)
		}
	})
}

func createFIFOQueue(t *testing.T, c *awssqs.Client, name string, attrs map[string]string) (string, string) {
	t.Helper()
	url, arn := createQueue(t, c, name, attrs)
	if !strings.HasSuffix(url, ".fifo") {
		t.Fatalf("queue %s is not FIFO", url)
	}
	return url, arn
}
