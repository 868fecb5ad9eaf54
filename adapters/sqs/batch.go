package sqs

import (
	"context"
	"log/slog"
	"slices"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/eventfn/eventfn/handler"
)

// item is one record on its way through a batch.
type item struct {
	rec     *events.SQSMessage
	msg     *handler.Message
	err     error
	outcome handler.Outcome
	ran     bool
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
			it.err = handler.ErrOrderingKeyFailed
			it.outcome = handler.Classify(it.err)
			continue
		}
		if broken {
			it.err = decodeErrs[i]
		} else if it.msg, it.err = o.newMessage(it.rec, nativeAt(native, i)); it.err != nil {
			it.err = &RecordError{MessageID: it.rec.MessageId, Index: i, Err: it.err}
		}
		if it.err != nil {
			it.outcome = handler.Classify(it.err)
			o.Logger.WarnContext(ctx, "sqs: record not handled", slog.String("message_id", it.rec.MessageId), slog.Any("error", it.err))
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
		msgs = append(msgs, it.msg)
		idx = append(idx, i)
	}
	for k, r := range handler.Process(ctx, h, msgs, o.Process) {
		it := &items[idx[k]]
		it.err, it.outcome, it.ran = r.Err, r.Outcome, r.Ran
	}
	return items
}

func nativeAt(native []types.Message, i int) any {
	if native == nil {
		return nil
	}
	return native[i]
}
