package sqs

import (
	"context"
	"errors"
	"slices"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/eventfn/eventfn/adapters/internal/settled"
	"github.com/eventfn/eventfn/handler"
)

// item is one record on its way through a batch.
type item struct {
	rec *events.SQSMessage
	// res is the handler's result; for a record that never reached Process,
	// its error and a Message holding what the record said.
	res handler.Result
	// outcome is what SQS is told: Ack deletes the message.
	outcome handler.Outcome
	// deadLettered: the explicit dead-letter queue took the message.
	deadLettered bool
	// settleErr is why settling failed (a dead-letter send, a delete).
	settleErr error
}

// fail records that the record failed before Process with err.
func (it *item) fail(err error) {
	if it.res.Message == nil {
		it.res.Message = recordMessage(it.rec)
	}
	it.res.Err, it.res.Outcome, it.outcome = err, handler.Classify(err), handler.Classify(err)
}

// recordMessage describes a record that could not become a message, for
// logs, hooks and dead-letter attributes.
func recordMessage(rec *events.SQSMessage) *handler.Message {
	m := &handler.Message{
		ID:              rec.MessageId,
		Body:            []byte(rec.Body),
		Source:          handler.SourceSQS,
		Queue:           rec.EventSourceARN,
		DeliveryAttempt: atoi(rec.Attributes["ApproximateReceiveCount"]),
	}
	if isFIFO(rec.EventSourceARN) {
		m.OrderingKey = rec.Attributes["MessageGroupId"]
	}
	m.SetRaw(*rec)
	return m
}

// report logs every item that was not acknowledged and calls the result
// hook once per item, after SQS was told (for Lambda, just before the
// response is returned).
func report(ctx context.Context, o *Options, items []item) {
	for i := range items {
		it := &items[i]
		r := handler.Report{Result: it.res, Err: it.res.Err}
		switch {
		case it.outcome != handler.Ack || it.settleErr != nil:
			// Reported failed, or acknowledged but not deleted: it comes back.
			r.Settlement, r.Err = handler.SettledRetry, errors.Join(it.res.Err, it.settleErr)
		case it.deadLettered:
			r.Settlement = handler.SettledDeadLetter
		default:
			r.Settlement, r.Err = handler.SettledAck, nil
		}
		settled.Done(ctx, o.Logger, o.OnResult, "sqs", r)
	}
}

// runBatch turns recs into messages and runs h over them with
// handler.Process. A record that cannot become a message (decodeErrs[i], a
// bad envelope, an oversized body) fails alone without running.
//
// On a FIFO queue, a record that fails this way stops its message group as
// a failed handler would: the later records of the group are reported with
// handler.ErrOrderingKeyFailed without running. When a broken record's
// group cannot be read, every later record of the batch is stopped, since
// any of them may belong to it.
//
// native, when set, holds one SDK message per record, made reachable with
// Message.As.
func runBatch(ctx context.Context, o *Options, h handler.Handler, recs []events.SQSMessage, decodeErrs []error, native []types.Message) []item {
	items := make([]item, len(recs))
	msgs := make([]*handler.Message, 0, len(recs))
	idx := make([]int, 0, len(recs))
	ordered := o.Process == nil || !o.Process.Unordered
	// One event source mapping reads one queue: a broken record whose ARN
	// did not decode is FIFO when its batch is.
	fifoBatch := ordered && slices.ContainsFunc(recs, func(r events.SQSMessage) bool { return isFIFO(r.EventSourceARN) })
	var stopped map[string]bool // FIFO groups with a record that could not run
	stopAll := false            // a broken FIFO record of unknown group
	for i := range recs {
		it := &items[i]
		it.rec = &recs[i]
		broken := decodeErrs != nil && decodeErrs[i] != nil
		fifo := ordered && (isFIFO(it.rec.EventSourceARN) || (broken && fifoBatch))
		group := ""
		if fifo {
			group = it.rec.Attributes["MessageGroupId"]
		}
		if fifo && (stopAll || (group != "" && stopped[group])) {
			it.fail(handler.ErrOrderingKeyFailed)
			continue
		}
		var err error
		if broken {
			err = decodeErrs[i]
		} else if it.res.Message, err = o.newMessage(it.rec, nativeAt(native, i)); err != nil {
			err = &RecordError{MessageID: it.rec.MessageId, Index: i, Err: err}
		}
		if err != nil {
			it.fail(err)
			switch {
			case !fifo:
			case group == "":
				stopAll = true
			default:
				if stopped == nil {
					stopped = make(map[string]bool)
				}
				stopped[group] = true
			}
			continue
		}
		msgs = append(msgs, it.res.Message)
		idx = append(idx, i)
	}
	for k, r := range handler.Process(ctx, h, msgs, o.Process) {
		it := &items[idx[k]]
		it.res, it.outcome = r, r.Outcome
	}
	return items
}

func nativeAt(native []types.Message, i int) any {
	if native == nil {
		return nil
	}
	return native[i]
}
