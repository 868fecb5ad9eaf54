package sqs

import (
	"context"
	"log/slog"
	"sync"

	"github.com/aws/aws-lambda-go/events"
)

// failureWarner warns, once per process, when a response reports failed
// records although nothing says the event source mapping has
// FunctionResponseTypes [ReportBatchItemFailures]. Without it Lambda ignores
// batchItemFailures and, since the invocation succeeded, deletes the whole
// batch: the failed messages are lost.
//
// It cannot ask Lambda (that needs the lambda:GetEventSourceMapping
// permission and a network call at the worst moment), so it looks for
// evidence instead: a message this process reported failed that comes back
// with a higher receive count proves the failures are honoured.
type failureWarner struct {
	mu        sync.Mutex
	warned    bool
	confirmed bool
	recent    map[string]struct{} // IDs reported failed, bounded
}

const maxRecentFailures = 256

// observe looks for redeliveries of messages reported failed earlier.
func (w *failureWarner) observe(recs []events.SQSMessage) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.confirmed || len(w.recent) == 0 {
		return
	}
	for i := range recs {
		if _, ok := w.recent[recs[i].MessageId]; ok && atoi(recs[i].Attributes["ApproximateReceiveCount"]) > 1 {
			w.confirmed, w.recent = true, nil
			return
		}
	}
}

// failed is called with the IDs a response reports failed.
func (w *failureWarner) failed(ctx context.Context, o *Options, ids []string, total int) {
	if o.ReportBatchItemFailures {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.confirmed {
		return
	}
	if w.recent == nil {
		w.recent = make(map[string]struct{})
	}
	for _, id := range ids {
		if len(w.recent) >= maxRecentFailures {
			break
		}
		w.recent[id] = struct{}{}
	}
	if w.warned {
		return
	}
	w.warned = true
	o.Logger.WarnContext(ctx, "sqs: response reports failed records; unless the event source mapping has "+
		"FunctionResponseTypes [ReportBatchItemFailures], Lambda ignores them and deletes the whole batch. "+
		"Check with `aws lambda list-event-source-mappings --function-name NAME --query 'EventSourceMappings[].FunctionResponseTypes'`; "+
		"set sqs.Options.ReportBatchItemFailures or "+EnvReportBatchItemFailures+"=true to silence this warning",
		slog.Int("failed", len(ids)), slog.Int("records", total))
}
