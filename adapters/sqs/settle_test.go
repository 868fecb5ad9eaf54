package sqs_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/eventfn/eventfn/adapters/sqs"
	"github.com/eventfn/eventfn/handler"
)

const (
	queueURL = "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
	dlqURL   = "https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq"
)

func attempt(r events.SQSMessage, n string) events.SQSMessage {
	r.Attributes["ApproximateReceiveCount"] = n
	return r
}

func TestVisibilityBackoff(t *testing.T) {
	fails := func(m *handler.Message) error {
		switch m.ID {
		case "after":
			return handler.RetryAfter(90*time.Second, errTransient)
		case "after0":
			return handler.RetryAfter(0, nil)
		case "plain":
			return errTransient
		case "forever":
			return handler.RetryAfter(48*time.Hour, nil)
		}
		return nil
	}
	batch := []events.SQSMessage{rec("ok", "{}"), rec("after", "{}"), rec("after0", "{}"), attempt(rec("plain", "{}"), "3"), rec("forever", "{}")}
	tests := []struct {
		name    string
		backoff func(int) time.Duration
		wantVis []visChange
	}{
		{
			name: "RetryAfter sets the delay it asks for, capped at 12 hours",
			wantVis: []visChange{
				{queueURL, "rh-after", 90}, {queueURL, "rh-after0", 0}, {queueURL, "rh-forever", 43200},
			},
		},
		{
			name:    "Backoff delays plain failures by attempt; RetryAfter wins",
			backoff: sqs.Exponential(10*time.Second, time.Minute),
			wantVis: []visChange{
				{queueURL, "rh-after", 90}, {queueURL, "rh-after0", 0}, {queueURL, "rh-plain", 40}, {queueURL, "rh-forever", 43200},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &fakeClient{}
			resp, err := sqs.NewLambda(&recorder{fn: fails}, &sqs.Options{Client: c, Backoff: tt.backoff, ReportBatchItemFailures: true}).
				Invoke(context.Background(), payload(t, batch...))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := failureIDs(resp), []string{"after", "after0", "plain", "forever"}; !slices.Equal(got, want) {
				t.Errorf("batchItemFailures = %v, want %v", got, want)
			}
			got := c.visChanges()
			slices.SortFunc(got, func(a, b visChange) int { return strings.Compare(a.ReceiptHandle, b.ReceiptHandle) })
			want := slices.Clone(tt.wantVis)
			slices.SortFunc(want, func(a, b visChange) int { return strings.Compare(a.ReceiptHandle, b.ReceiptHandle) })
			if !slices.Equal(got, want) {
				t.Errorf("visibility changes = %v, want %v", got, want)
			}
		})
	}
}

func TestVisibilityWithoutClientFallsBack(t *testing.T) {
	r := &recorder{fn: func(*handler.Message) error { return handler.RetryAfter(time.Minute, nil) }}
	resp, err := sqs.NewLambda(r, &sqs.Options{Backoff: sqs.Exponential(time.Second, 0), ReportBatchItemFailures: true}).
		Invoke(context.Background(), payload(t, rec("a", "{}")))
	if err != nil || !slices.Equal(failureIDs(resp), []string{"a"}) {
		t.Errorf("Invoke = %v, %v; want a reported failed", failureIDs(resp), err)
	}
}

func TestVisibilityFailureStillReportsTheRecord(t *testing.T) {
	c := &fakeClient{visErr: errors.New("throttled")}
	log, buf := newLogger()
	r := &recorder{fn: func(*handler.Message) error { return handler.RetryAfter(time.Minute, nil) }}
	resp, err := sqs.NewLambda(r, &sqs.Options{Client: c, Logger: log, ReportBatchItemFailures: true}).
		Invoke(context.Background(), payload(t, rec("a", "{}")))
	if err != nil || !slices.Equal(failureIDs(resp), []string{"a"}) {
		t.Errorf("Invoke = %v, %v; want a reported failed", failureIDs(resp), err)
	}
	if !strings.Contains(buf.String(), "throttled") {
		t.Errorf("the visibility failure was not logged:\n%s", buf)
	}
}

func TestVisibilityFailuresAreHandledPerEntry(t *testing.T) {
	internal := types.BatchResultErrorEntry{Code: aws.String("InternalError"), Message: aws.String("try again"), SenderFault: false}
	invalid := types.BatchResultErrorEntry{Code: aws.String("ReceiptHandleIsInvalid"), Message: aws.String("expired"), SenderFault: true}
	c := &fakeClient{entryFaults: map[string][]types.BatchResultErrorEntry{"rh-a": {internal}, "rh-b": {invalid}}}
	log, buf := newLogger()
	r := &recorder{fn: func(*handler.Message) error { return handler.RetryAfter(time.Minute, nil) }}
	resp, err := sqs.NewLambda(r, &sqs.Options{Client: c, Logger: log, ReportBatchItemFailures: true}).
		Invoke(context.Background(), payload(t, rec("a", "{}"), rec("b", "{}"), rec("c", "{}")))
	if err != nil || !slices.Equal(failureIDs(resp), []string{"a", "b", "c"}) {
		t.Errorf("Invoke = %v, %v; want all reported failed", failureIDs(resp), err)
	}
	want := []visChange{{queueURL, "rh-c", 60}, {queueURL, "rh-a", 60}}
	if got := c.visChanges(); !slices.EqualFunc(got, want, func(a, b visChange) bool { return a == b }) {
		t.Errorf("visibility changes = %v, want %v (a, which SQS failed, sent again)", got, want)
	}
	var visLines []string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, "visibility change failed") {
			visLines = append(visLines, l)
		}
	}
	if len(visLines) != 1 || !strings.Contains(visLines[0], "message_id=b") {
		t.Errorf("the visibility failures logged should name b, whose change failed for good, and only b:\n%s", buf)
	}
}

func TestBackoffDoesNotDelayRecordsThatNeverRan(t *testing.T) {
	fifo := func(id string) events.SQSMessage {
		r := rec(id, "{}")
		r.EventSourceARN += ".fifo"
		r.Attributes["MessageGroupId"] = "g"
		return r
	}
	c := &fakeClient{}
	r := &recorder{fn: func(m *handler.Message) error { return errTransient }}
	_, err := sqs.NewLambda(r, &sqs.Options{Client: c, Backoff: sqs.Exponential(5*time.Second, 0), ReportBatchItemFailures: true}).
		Invoke(context.Background(), payload(t, fifo("a"), fifo("b")))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.visChanges(), []visChange{{queueURL + ".fifo", "rh-a", 5}}; !slices.Equal(got, want) {
		t.Errorf("visibility changes = %v, want %v", got, want)
	}
}

func TestExplicitDeadLetterQueue(t *testing.T) {
	permanent := func(m *handler.Message) error {
		if m.ID == "bad" {
			return handler.Permanent(errors.New("amount must be positive"))
		}
		if m.ID == "flaky" {
			return errTransient
		}
		return nil
	}
	withAttrs := func(r events.SQSMessage, n int) events.SQSMessage {
		r.MessageAttributes = map[string]events.SQSMessageAttribute{}
		for i := range n {
			v := "v"
			r.MessageAttributes[string(rune('a'+i))] = events.SQSMessageAttribute{StringValue: &v, DataType: "String"}
		}
		return r
	}
	t.Run("a permanent failure is sent with its error and acknowledged", func(t *testing.T) {
		c := &fakeClient{}
		resp, err := sqs.NewLambda(&recorder{fn: permanent}, &sqs.Options{Client: c, DeadLetterQueueURL: dlqURL, ReportBatchItemFailures: true}).
			Invoke(context.Background(), payload(t, rec("ok", "{}"), withAttrs(rec("bad", `{"amount_cents":-1}`), 9), rec("flaky", "{}")))
		if err != nil {
			t.Fatal(err)
		}
		if got := failureIDs(resp); !slices.Equal(got, []string{"flaky"}) {
			t.Errorf("batchItemFailures = %v, want only the transient failure", got)
		}
		sent := c.sentMessages()
		if len(sent) != 1 {
			t.Fatalf("sent %d messages, want 1", len(sent))
		}
		in := sent[0]
		if *in.QueueUrl != dlqURL || *in.MessageBody != `{"amount_cents":-1}` || in.MessageGroupId != nil {
			t.Errorf("sent %s to %s (group %v)", *in.MessageBody, *in.QueueUrl, in.MessageGroupId)
		}
		if len(in.MessageAttributes) != 10 {
			t.Errorf("%d attributes, want SQS's limit of 10", len(in.MessageAttributes))
		}
		if e := in.MessageAttributes[handler.AttrError].StringValue; e == nil || !strings.Contains(*e, "amount must be positive") {
			t.Errorf("error attribute = %v", e)
		}
		if q := in.MessageAttributes[handler.AttrQueue].StringValue; q == nil || *q != testARN {
			t.Errorf("queue attribute = %v", q)
		}
	})
	t.Run("a failed send leaves the record failed", func(t *testing.T) {
		c := &fakeClient{sendErr: errors.New("access denied")}
		log, buf := newLogger()
		resp, err := sqs.NewLambda(&recorder{fn: permanent}, &sqs.Options{Client: c, DeadLetterQueueURL: dlqURL, Logger: log, ReportBatchItemFailures: true}).
			Invoke(context.Background(), payload(t, rec("bad", "{}")))
		if err != nil || !slices.Equal(failureIDs(resp), []string{"bad"}) {
			t.Errorf("Invoke = %v, %v; want bad reported failed", failureIDs(resp), err)
		}
		if !strings.Contains(buf.String(), "access denied") {
			t.Errorf("the failed send was not logged:\n%s", buf)
		}
	})
	t.Run("without a client the native redrive applies", func(t *testing.T) {
		resp, _ := sqs.NewLambda(&recorder{fn: permanent}, &sqs.Options{DeadLetterQueueURL: dlqURL, ReportBatchItemFailures: true}).
			Invoke(context.Background(), payload(t, rec("bad", "{}")))
		if !slices.Equal(failureIDs(resp), []string{"bad"}) {
			t.Errorf("batchItemFailures = %v", failureIDs(resp))
		}
	})
	t.Run("a bad envelope is permanent and goes there too", func(t *testing.T) {
		c := &fakeClient{}
		log, _ := newLogger()
		env := validEnvelope()
		env["Timestamp"] = "yesterday"
		r := envelopeRecord(t, env)
		resp, err := sqs.NewLambda(&recorder{}, &sqs.Options{Client: c, DeadLetterQueueURL: dlqURL, Logger: log}).Invoke(context.Background(), payload(t, r))
		if err != nil || len(resp.BatchItemFailures) != 0 || len(c.sentMessages()) != 1 || *c.sentMessages()[0].MessageBody != r.Body {
			t.Errorf("Invoke = %v, %v; sent %d", failureIDs(resp), err, len(c.sentMessages()))
		}
	})
	t.Run("a FIFO dead-letter queue gets the group and a deduplication ID", func(t *testing.T) {
		c := &fakeClient{}
		x := rec("bad", "{}")
		x.EventSourceARN += ".fifo"
		x.Attributes["MessageGroupId"] = "customer-7"
		_, err := sqs.NewLambda(&recorder{fn: permanent}, &sqs.Options{Client: c, DeadLetterQueueURL: dlqURL + ".fifo"}).Invoke(context.Background(), payload(t, x))
		if err != nil {
			t.Fatal(err)
		}
		in := c.sentMessages()[0]
		if *in.MessageGroupId != "customer-7" || *in.MessageDeduplicationId != "bad" {
			t.Errorf("group %v, dedup %v", *in.MessageGroupId, *in.MessageDeduplicationId)
		}
	})
}

func TestLazyClientLoadsOnFirstUse(t *testing.T) {
	loads := 0
	fail := true
	c := sqs.LazyClient(func(ctx context.Context) (*fakeClient, error) {
		loads++
		if fail {
			return nil, errors.New("no credentials")
		}
		return &fakeClient{}, nil
	})
	l := sqs.NewLambda(&recorder{}, &sqs.Options{Client: c})
	if _, err := l.Invoke(context.Background(), payload(t, rec("a", "{}"))); err != nil || loads != 0 {
		t.Fatalf("a batch that needs no client loaded it %d times (err %v)", loads, err)
	}
	in := &awssqs.SendMessageInput{}
	if _, err := c.SendMessage(context.Background(), in); err == nil || loads != 1 {
		t.Fatalf("SendMessage = %v after %d loads, want the load error", err, loads)
	}
	fail = false
	if _, err := c.SendMessage(context.Background(), in); err != nil || loads != 2 {
		t.Fatalf("SendMessage = %v after %d loads", err, loads)
	}
	if _, err := c.SendMessage(context.Background(), in); err != nil || loads != 2 {
		t.Fatalf("SendMessage = %v after %d loads, want the client reused", err, loads)
	}
}

func TestExponential(t *testing.T) {
	b := sqs.Exponential(time.Second, 10*time.Second)
	for _, tt := range []struct {
		attempt int
		want    time.Duration
	}{{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second}, {5, 10 * time.Second}, {1000, 10 * time.Second}} {
		if got := b(tt.attempt); got != tt.want {
			t.Errorf("attempt %d: %v, want %v", tt.attempt, got, tt.want)
		}
	}
}

func TestQueueURLFromARN(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:sqs:us-east-1:123456789012:orders":     "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
		"arn:aws-cn:sqs:cn-north-1:123456789012:q.fifo": "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q.fifo",
		"arn:aws:sns:us-east-1:123456789012:topic":      "",
		"not an arn":                                        "",
		"arn:aws:sqs:us-east-1:123456789012":                "",
		"arn:aws-us-gov:sqs:us-gov-west-1:123456789012:gov": "https://sqs.us-gov-west-1.amazonaws.com/123456789012/gov",
	} {
		if got := sqs.QueueURLFromARN(arn); got != want {
			t.Errorf("QueueURLFromARN(%q) = %q, want %q", arn, got, want)
		}
	}
}
