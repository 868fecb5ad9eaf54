package sqs_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/eventfn/eventfn/adapters/sqs"
	"github.com/eventfn/eventfn/handler"
)

func received(id, body string, count string) types.Message {
	return types.Message{
		MessageId:     aws.String(id),
		ReceiptHandle: aws.String("rh-" + id),
		Body:          aws.String(body),
		Attributes:    map[string]string{"ApproximateReceiveCount": count, "SentTimestamp": "1731900000000"},
		MessageAttributes: map[string]types.MessageAttributeValue{
			"tenant": {DataType: aws.String("String"), StringValue: aws.String("acme")},
		},
	}
}

func TestConsumerDeletesAckedAndKeepsFailed(t *testing.T) {
	c := &fakeClient{receives: make(chan []types.Message, 1)}
	c.receives <- []types.Message{received("ok", "{}", "1"), received("flaky", "{}", "2"), received("bad", "{}", "1")}
	ctx, cancel := context.WithCancel(context.Background())
	handled := make(chan *handler.Message, 3)
	h := handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		defer func() { handled <- m }()
		switch m.ID {
		case "flaky":
			return handler.RetryAfter(7*time.Second, errTransient)
		case "bad":
			return handler.Permanent(errors.New("never"))
		}
		return nil
	})
	cons := sqs.NewConsumer(c, queueURL, h, &sqs.ConsumerOptions{DeadLetterQueueURL: dlqURL})
	errc := make(chan error, 1)
	go func() { errc <- cons.Run(ctx) }()
	var msgs []*handler.Message
	for range 3 {
		msgs = append(msgs, <-handled)
	}
	// The batch settles after its handlers return; wait for the deletes.
	for len(c.deletedHandles()) < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if got, want := c.deletedHandles(), []string{"rh-bad", "rh-ok"}; !slices.Equal(got, want) {
		t.Errorf("deleted %v, want %v (bad went to the dead-letter queue)", got, want)
	}
	if got, want := c.visChanges(), []visChange{{queueURL, "rh-flaky", 7}}; !slices.Equal(got, want) {
		t.Errorf("visibility changes = %v, want %v", got, want)
	}
	if len(c.sentMessages()) != 1 {
		t.Errorf("sent %d dead letters, want 1", len(c.sentMessages()))
	}
	for _, m := range msgs {
		var native types.Message
		if m.Queue != testARN || m.Attribute("tenant") != "acme" || !m.As(&native) || aws.ToString(native.MessageId) != m.ID {
			t.Errorf("message %+v", m)
		}
		if m.ID == "flaky" && m.DeliveryAttempt != 2 {
			t.Errorf("DeliveryAttempt = %d, want 2", m.DeliveryAttempt)
		}
	}
}

func TestConsumerExtendsVisibilityAndFinishesOnShutdown(t *testing.T) {
	extended := make(chan struct{}, 1)
	c := &fakeClient{receives: make(chan []types.Message, 1), onVis: func(*awssqsVisIn) {
		select {
		case extended <- struct{}{}:
		default:
		}
	}}
	c.receives <- []types.Message{received("slow", "{}", "1")}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	release := make(chan struct{})
	var handlerCtxErr error
	h := handler.HandlerFunc(func(hctx context.Context, m *handler.Message) error {
		close(started)
		<-release
		handlerCtxErr = hctx.Err()
		return nil
	})
	cons := sqs.NewConsumer(c, queueURL, h, &sqs.ConsumerOptions{VisibilityTimeout: 300 * time.Millisecond})
	errc := make(chan error, 1)
	go func() { errc <- cons.Run(ctx) }()
	<-started
	<-extended // the slow handler's message had its visibility renewed
	cancel()   // shut down while the handler is still running
	close(release)
	if err := <-errc; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if handlerCtxErr != nil {
		t.Errorf("the in-flight handler's context was cancelled at shutdown: %v", handlerCtxErr)
	}
	if got := c.deletedHandles(); !slices.Equal(got, []string{"rh-slow"}) {
		t.Errorf("deleted %v, want the in-flight message finished and deleted", got)
	}
	for _, v := range c.visChanges() {
		if v.ReceiptHandle != "rh-slow" || v.Seconds != 1 {
			t.Errorf("visibility change %v, want rh-slow renewed to 1s", v)
		}
	}
}

func TestConsumerAbandonsHandlersThatIgnoreShutdown(t *testing.T) {
	c := &fakeClient{receives: make(chan []types.Message, 1)}
	c.receives <- []types.Message{received("stuck", "{}", "1"), received("quick", "{}", "1")}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	h := handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		if m.ID == "stuck" {
			close(started)
			<-release // ignores its context
		}
		return nil
	})
	cons := sqs.NewConsumer(c, queueURL, h, &sqs.ConsumerOptions{ShutdownTimeout: 100 * time.Millisecond})
	errc := make(chan error, 1)
	go func() { errc <- cons.Run(ctx) }()
	<-started
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return although its handler ignores cancellation")
	}
	if got := c.deletedHandles(); !slices.Equal(got, []string{"rh-quick"}) {
		t.Errorf("deleted %v, want only the finished message (the stuck one is redelivered)", got)
	}
}

func TestConsumerStopsOnMissingQueue(t *testing.T) {
	c := &missingQueue{}
	err := sqs.NewConsumer(c, queueURL, handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }), nil).Run(context.Background())
	var missing *types.QueueDoesNotExist
	if !errors.As(err, &missing) {
		t.Errorf("Run = %v, want QueueDoesNotExist", err)
	}
}

func TestConsumerHandlesDeleteFailuresPerEntry(t *testing.T) {
	internal := types.BatchResultErrorEntry{Code: aws.String("InternalError"), Message: aws.String("try again"), SenderFault: false}
	invalid := types.BatchResultErrorEntry{Code: aws.String("ReceiptHandleIsInvalid"), Message: aws.String("expired"), SenderFault: true}
	c := &fakeClient{receives: make(chan []types.Message, 1), entryFaults: map[string][]types.BatchResultErrorEntry{
		"rh-a": {internal},           // SQS's fault, once: sent again
		"rh-b": {internal, internal}, // twice: sent a third time
		"rh-c": {invalid},            // the sender's: not sent again
	}}
	c.receives <- []types.Message{received("a", "{}", "1"), received("b", "{}", "1"), received("c", "{}", "1"), received("d", "{}", "1")}
	log, buf := newLogger()
	ctx, cancel := context.WithCancel(context.Background())
	h := handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil })
	cons := sqs.NewConsumer(c, queueURL, h, &sqs.ConsumerOptions{Logger: log})
	errc := make(chan error, 1)
	go func() { errc <- cons.Run(ctx) }()
	for !strings.Contains(buf.String(), "ReceiptHandleIsInvalid") {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if got, want := c.deletedHandles(), []string{"rh-a", "rh-b", "rh-d"}; !slices.Equal(got, want) {
		t.Errorf("deleted %v, want %v (entries SQS failed are sent again)", got, want)
	}
	if logs := buf.String(); !strings.Contains(logs, "message_id=c") || strings.Contains(logs, "message_id=a") || strings.Contains(logs, "message_id=b") {
		t.Errorf("the log should name c, whose delete failed for good, and only c:\n%s", logs)
	}
}
