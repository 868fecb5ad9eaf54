package sqs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/eventfn/eventfn/adapters/internal/settled"
	"github.com/eventfn/eventfn/handler"
)

// sqsMaxAttributes is SQS's limit on message attributes per message.
const sqsMaxAttributes = 10

// settle applies what the batch's outcomes ask of SQS: permanent failures
// go to the explicit dead-letter queue (and count as done when the send
// succeeds), and failed messages get the visibility timeout that
// RetryAfter or Backoff asked for. Without a client it does nothing.
func settle(ctx context.Context, o *Options, c Client, items []item) {
	if c == nil {
		return
	}
	if o.DeadLetterQueueURL != "" {
		var wg sync.WaitGroup
		for i := range items {
			it := &items[i]
			if it.outcome != handler.Reject {
				continue
			}
			wg.Go(func() {
				err := sendDeadLetter(ctx, o, c, it.rec.Body, dlqAttributes(it.rec.MessageAttributes), it.res, it.rec.Attributes["MessageGroupId"])
				if err != nil {
					it.settleErr = err // the message stays failed
					return
				}
				it.outcome, it.deadLettered = handler.Ack, true
			})
		}
		wg.Wait()
	}
	changeVisibility(ctx, o, c, items)
}

// changeVisibility sets the visibility timeout of every failed item that
// asked for a delay, in batches of ten per queue.
func changeVisibility(ctx context.Context, o *Options, c Client, items []item) {
	type entry struct {
		it    *item
		delay time.Duration
	}
	byQueue := map[string][]entry{}
	for i := range items {
		it := &items[i]
		if it.outcome == handler.Ack || it.rec.ReceiptHandle == "" {
			continue
		}
		attempt := atoi(it.rec.Attributes["ApproximateReceiveCount"])
		d, ok := delayFor(o, it.res.Err, attempt, it.res.Ran)
		if !ok {
			continue
		}
		q := o.QueueURL(it.rec.EventSourceARN)
		if q == "" {
			o.Logger.WarnContext(ctx, "sqs: no queue URL for visibility change", slog.String("queue", it.rec.EventSourceARN))
			continue
		}
		byQueue[q] = append(byQueue[q], entry{it, d})
	}
	var wg sync.WaitGroup
	for q, es := range byQueue {
		for chunk := range slices.Chunk(es, 10) {
			wg.Go(func() {
				errs := perEntry(ctx, len(chunk), func(ctx context.Context, pending []int) ([]types.BatchResultErrorEntry, error) {
					in := &awssqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(q)}
					for _, k := range pending {
						in.Entries = append(in.Entries, types.ChangeMessageVisibilityBatchRequestEntry{
							Id:                aws.String(strconv.Itoa(k)),
							ReceiptHandle:     aws.String(chunk[k].it.rec.ReceiptHandle),
							VisibilityTimeout: seconds(chunk[k].delay),
						})
					}
					out, err := c.ChangeMessageVisibilityBatch(ctx, in)
					if err != nil {
						return nil, err
					}
					return out.Failed, nil
				})
				for k, err := range errs {
					if err != nil {
						o.Logger.WarnContext(ctx, "sqs: visibility change failed; the queue's visibility timeout applies", slog.String("queue", q), slog.String("message_id", chunk[k].it.rec.MessageId), slog.Any("error", err))
					}
				}
			})
		}
	}
	wg.Wait()
}

// batchAttempts bounds how many times perEntry sends a batch entry.
const batchAttempts = 3

// perEntry runs a batch call over n entries, whose Ids are their indexes,
// and sends again (batchAttempts times in all, while ctx lasts) the entries
// that SQS failed through no fault of the sender: the SDK retries failed
// calls, not failed entries. call builds and sends the request for the
// pending indexes and returns the entries that failed. perEntry returns each
// entry's final error, nil when it succeeded.
func perEntry(ctx context.Context, n int, call func(ctx context.Context, pending []int) ([]types.BatchResultErrorEntry, error)) []error {
	errs := make([]error, n)
	pending := make([]int, n)
	for i := range pending {
		pending[i] = i
	}
	for attempt := 1; ; attempt++ {
		failed, err := call(ctx, pending)
		if err != nil {
			for _, i := range pending {
				errs[i] = err
			}
			return errs
		}
		for _, i := range pending {
			errs[i] = nil
		}
		var again []int
		for _, f := range failed {
			i, err := strconv.Atoi(aws.ToString(f.Id))
			if err != nil || i < 0 || i >= n {
				continue
			}
			errs[i] = fmt.Errorf("sqs: batch entry: %s: %s", aws.ToString(f.Code), aws.ToString(f.Message))
			if !f.SenderFault {
				again = append(again, i)
			}
		}
		if len(again) == 0 || attempt == batchAttempts {
			return errs
		}
		select {
		case <-ctx.Done():
			return errs
		case <-time.After(time.Duration(attempt) * 20 * time.Millisecond):
		}
		pending = again
	}
}

// sendDeadLetter sends one permanently failed message to the explicit
// dead-letter queue, with the failure in the handler.Attr* message
// attributes. SQS allows ten message attributes: the original's are dropped
// by name, last first, to make room.
func sendDeadLetter(ctx context.Context, o *Options, c Client, body string, attrs map[string]types.MessageAttributeValue, res handler.Result, group string) error {
	if attrs == nil {
		attrs = make(map[string]types.MessageAttributeValue, 5)
	}
	ours := settled.DeadLetterAttributes(res.Message, res.Outcome, res.Err)
	for k, v := range ours {
		attrs[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	if len(attrs) > sqsMaxAttributes {
		names := make([]string, 0, len(attrs))
		for k := range attrs {
			if _, mine := ours[k]; !mine {
				names = append(names, k)
			}
		}
		slices.Sort(names)
		for _, k := range names[sqsMaxAttributes-len(attrs)+len(names):] {
			delete(attrs, k)
		}
	}
	id := res.Message.ID
	in := &awssqs.SendMessageInput{
		QueueUrl:          aws.String(o.DeadLetterQueueURL),
		MessageBody:       aws.String(body),
		MessageAttributes: attrs,
	}
	if isFIFO(o.DeadLetterQueueURL) {
		if group == "" {
			group = "eventfn-dead-letters"
		}
		in.MessageGroupId = aws.String(group)
		in.MessageDeduplicationId = aws.String(id)
	}
	if _, err := c.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("sqs: dead-letter queue %s: %w", o.DeadLetterQueueURL, err)
	}
	return nil
}

func dlqAttributes(in map[string]events.SQSMessageAttribute) map[string]types.MessageAttributeValue {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]types.MessageAttributeValue, len(in)+3)
	for k, v := range in {
		out[k] = types.MessageAttributeValue{DataType: aws.String(v.DataType), StringValue: v.StringValue, BinaryValue: v.BinaryValue}
	}
	return out
}

func snsDLQAttributes(in map[string]any) map[string]types.MessageAttributeValue {
	attrs, err := snsAttributes(in)
	if err != nil || len(attrs) == 0 {
		return nil
	}
	out := make(map[string]types.MessageAttributeValue, len(attrs)+3)
	for k, v := range attrs {
		out[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	return out
}

func batchError(failed []types.BatchResultErrorEntry) error {
	errs := make([]error, len(failed))
	for i, f := range failed {
		errs[i] = fmt.Errorf("entry %s: %s: %s", aws.ToString(f.Id), aws.ToString(f.Code), aws.ToString(f.Message))
	}
	return fmt.Errorf("sqs: %d batch entries failed: %w", len(failed), errors.Join(errs...))
}

// seconds rounds d up to whole seconds within SQS's visibility limits.
func seconds(d time.Duration) int32 {
	s := math.Ceil(d.Seconds())
	return int32(min(max(s, 0), maxVisibility.Seconds()))
}
