package sqs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/eventfn/eventfn/handler"
)

// ConsumerOptions configure a Consumer. The zero value is ready to use; nil
// *ConsumerOptions means the zero value. The fields shared with Options
// mean the same there.
type ConsumerOptions struct {
	// Process configures the batch engine (concurrency, deadline margin).
	// Default: handler.Process's defaults.
	Process *handler.ProcessOptions
	// Backoff is Options.Backoff. Default: none.
	Backoff func(attempt int) time.Duration
	// DeadLetterQueueURL is Options.DeadLetterQueueURL, sent to with the
	// Consumer's client. Default: none.
	DeadLetterQueueURL string
	// Raw is Options.Raw. Default: false.
	Raw bool
	// SNSTopicARNs is Options.SNSTopicARNs.
	SNSTopicARNs []string
	// TrustSNSAttributes is Options.TrustSNSAttributes. Default: false.
	TrustSNSAttributes bool
	// MaxBodyBytes is Options.MaxBodyBytes. Default: 1 MiB.
	MaxBodyBytes int
	// Logger receives one line for every message that is not acknowledged
	// (left for redelivery, dead-lettered, or whose delete failed), and
	// receive and visibility failures. Default: slog.Default().
	Logger *slog.Logger
	// OnResult, if set, is called once for every received message after it
	// was settled: deleted, dead-lettered, or left to come back. It must be
	// safe for concurrent use and fast.
	OnResult handler.ResultHook

	// MaxMessages is the most messages one ReceiveMessage returns, 1 to 10.
	// Default: 10.
	MaxMessages int
	// WaitTime is the long-poll wait of each ReceiveMessage, at most 20s.
	// Default: 20s.
	WaitTime time.Duration
	// VisibilityTimeout is requested on receive and renewed, while handlers
	// still run, every third of it. Default: 30s.
	VisibilityTimeout time.Duration
	// Pollers is the number of receive loops, each running one batch at a
	// time. Default: 1.
	Pollers int
	// ShutdownTimeout is how long in-flight handlers may keep running after
	// Run's context is cancelled before their context is cancelled too.
	// Handlers still running shortly after that are abandoned: their
	// messages are not deleted, so SQS redelivers them, and Run returns.
	// Default: 30s.
	ShutdownTimeout time.Duration
	// QueueARN is reported as Message.Queue and decides whether the queue is
	// FIFO. Default: derived from the queue URL.
	QueueARN string
}

// Consumer receives messages from an SQS queue with long polling and runs a
// handler over each received batch with handler.Process, for containers and
// local runs. A Consumer is safe for concurrent use, but Run should be
// called once.
type Consumer struct {
	c        ConsumerClient
	queueURL string
	h        handler.Handler
	o        ConsumerOptions
	shared   Options // the Options view of o
}

// NewConsumer returns a Consumer of the queue at queueURL.
func NewConsumer(c ConsumerClient, queueURL string, h handler.Handler, opts *ConsumerOptions) *Consumer {
	var o ConsumerOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxMessages < 1 || o.MaxMessages > 10 {
		o.MaxMessages = 10
	}
	if o.WaitTime <= 0 || o.WaitTime > 20*time.Second {
		o.WaitTime = 20 * time.Second
	}
	if o.VisibilityTimeout <= 0 {
		o.VisibilityTimeout = 30 * time.Second
	}
	if o.Pollers < 1 {
		o.Pollers = 1
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	if o.QueueARN == "" {
		o.QueueARN = queueARNFromURL(queueURL)
	}
	shared := (&Options{
		Process: o.Process, Backoff: o.Backoff, DeadLetterQueueURL: o.DeadLetterQueueURL,
		Raw: o.Raw, SNSTopicARNs: o.SNSTopicARNs, TrustSNSAttributes: o.TrustSNSAttributes,
		MaxBodyBytes: o.MaxBodyBytes, Logger: o.Logger, OnResult: o.OnResult,
		ReportBatchItemFailures: true, // the Consumer deletes messages itself
	}).withDefaults()
	shared.QueueURL = func(string) string { return queueURL }
	return &Consumer{c: c, queueURL: queueURL, h: h, o: o, shared: shared}
}

// Run receives and handles messages until ctx is cancelled, then stops
// receiving, lets the batches in flight finish (within ShutdownTimeout),
// settles them and returns nil. It returns an error early only when the
// queue does not exist. Receive errors are logged and retried with backoff.
func (c *Consumer) Run(ctx context.Context) error {
	if c.queueURL == "" {
		return errors.New("sqs: consumer: empty queue URL")
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for range c.o.Pollers {
		wg.Go(func() {
			if err := c.poll(ctx); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

func (c *Consumer) poll(ctx context.Context) error {
	in := &awssqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(c.queueURL),
		MaxNumberOfMessages:         int32(c.o.MaxMessages),
		WaitTimeSeconds:             seconds(c.o.WaitTime),
		VisibilityTimeout:           seconds(c.o.VisibilityTimeout),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	}
	pause := time.Duration(0)
	for ctx.Err() == nil {
		out, err := c.c.ReceiveMessage(ctx, in)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var missing *types.QueueDoesNotExist
			if errors.As(err, &missing) {
				return fmt.Errorf("sqs: consumer: %s: %w", c.queueURL, err)
			}
			pause = min(max(2*pause, 100*time.Millisecond), 10*time.Second)
			c.shared.Logger.WarnContext(ctx, "sqs: receive failed; retrying", slog.String("queue", c.queueURL), slog.Duration("pause", pause), slog.Any("error", err))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(pause):
			}
			continue
		}
		pause = 0
		if len(out.Messages) > 0 {
			c.handle(ctx, out.Messages)
		}
	}
	return nil
}

// handle runs one received batch to the end, even when ctx is cancelled
// meanwhile (graceful shutdown), then settles it with SQS.
func (c *Consumer) handle(ctx context.Context, received []types.Message) {
	recs := make([]events.SQSMessage, len(received))
	for i := range received {
		recs[i] = c.record(&received[i])
	}

	// Handlers outlive ctx by ShutdownTimeout.
	pctx, pcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer pcancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(c.o.ShutdownTimeout, pcancel)
		context.AfterFunc(pctx, func() { t.Stop() })
	})
	defer stop()

	done := make(chan struct{})
	var ext sync.WaitGroup
	ext.Go(func() { c.extend(pctx, recs, done) })
	// Once pctx is cancelled, Process gives running handlers half its
	// DeadlineMargin, then reports them failed (Retry) and returns.
	items := runBatch(pctx, &c.shared, c.h, recs, nil, received)
	close(done)
	ext.Wait()

	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer scancel()
	settle(sctx, &c.shared, c.c, items)
	c.delete(sctx, items)
	report(context.WithoutCancel(ctx), &c.shared, items)
}

// extend renews the batch's visibility every third of the visibility
// timeout until done is closed, so a slow handler does not see its message
// delivered to someone else.
func (c *Consumer) extend(ctx context.Context, recs []events.SQSMessage, done <-chan struct{}) {
	t := time.NewTicker(max(c.o.VisibilityTimeout/3, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for chunk := range slices.Chunk(recs, 10) {
			in := &awssqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(c.queueURL)}
			for k := range chunk {
				in.Entries = append(in.Entries, types.ChangeMessageVisibilityBatchRequestEntry{
					Id:                aws.String(strconv.Itoa(k)),
					ReceiptHandle:     aws.String(chunk[k].ReceiptHandle),
					VisibilityTimeout: seconds(c.o.VisibilityTimeout),
				})
			}
			out, err := c.c.ChangeMessageVisibilityBatch(ctx, in)
			if err == nil && len(out.Failed) > 0 {
				err = batchError(out.Failed)
			}
			if err != nil && ctx.Err() == nil {
				c.shared.Logger.WarnContext(ctx, "sqs: visibility extension failed", slog.String("queue", c.queueURL), slog.Any("error", err))
			}
		}
	}
}

// delete removes the acknowledged messages from the queue, sending again
// the entries SQS failed on its side. A delete that still fails is recorded
// in the item's settleErr: the message will be delivered again.
func (c *Consumer) delete(ctx context.Context, items []item) {
	var acked []*item
	for i := range items {
		if items[i].outcome == handler.Ack {
			acked = append(acked, &items[i])
		}
	}
	for chunk := range slices.Chunk(acked, 10) {
		errs := perEntry(ctx, len(chunk), func(ctx context.Context, pending []int) ([]types.BatchResultErrorEntry, error) {
			in := &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(c.queueURL)}
			for _, k := range pending {
				in.Entries = append(in.Entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(k)), ReceiptHandle: aws.String(chunk[k].rec.ReceiptHandle)})
			}
			out, err := c.c.DeleteMessageBatch(ctx, in)
			if err != nil {
				return nil, err
			}
			return out.Failed, nil
		})
		for k, err := range errs {
			if err != nil {
				chunk[k].settleErr = fmt.Errorf("sqs: delete from %s: %w", c.queueURL, err)
			}
		}
	}
}

// record converts a received message to the Lambda event record shape, so
// both paths share one conversion.
func (c *Consumer) record(m *types.Message) events.SQSMessage {
	rec := events.SQSMessage{
		MessageId:              aws.ToString(m.MessageId),
		ReceiptHandle:          aws.ToString(m.ReceiptHandle),
		Body:                   aws.ToString(m.Body),
		Md5OfBody:              aws.ToString(m.MD5OfBody),
		Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
		Attributes:             m.Attributes,
		EventSourceARN:         c.o.QueueARN,
		EventSource:            "aws:sqs",
	}
	if len(m.MessageAttributes) > 0 {
		rec.MessageAttributes = make(map[string]events.SQSMessageAttribute, len(m.MessageAttributes))
		for k, v := range m.MessageAttributes {
			rec.MessageAttributes[k] = events.SQSMessageAttribute{
				DataType:         aws.ToString(v.DataType),
				StringValue:      v.StringValue,
				BinaryValue:      v.BinaryValue,
				StringListValues: v.StringListValues,
				BinaryListValues: v.BinaryListValues,
			}
		}
	}
	return rec
}
