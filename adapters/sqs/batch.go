package sqs

import (
	"context"
	"log/slog"

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
// native, when set, holds one SDK message per record, made reachable with
// Message.As.
func runBatch(ctx context.Context, o *Options, h handler.Handler, recs []events.SQSMessage, decodeErrs []error, native []types.Message) []item {
	items := make([]item, len(recs))
	msgs := make([]*handler.Message, 0, len(recs))
	idx := make([]int, 0, len(recs))
	for i := range recs {
		it := &items[i]
		it.rec = &recs[i]
		if decodeErrs != nil && decodeErrs[i] != nil {
			it.err = decodeErrs[i]
		} else if it.msg, it.err = o.newMessage(it.rec, nativeAt(native, i)); it.err != nil {
			it.err = &RecordError{MessageID: it.rec.MessageId, Index: i, Err: it.err}
		}
		if it.err != nil {
			it.outcome = handler.Classify(it.err)
			o.Logger.WarnContext(ctx, "sqs: record not handled", slog.String("message_id", it.rec.MessageId), slog.Any("error", it.err))
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
