package sqs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/eventfn/eventfn/adapters/internal/settled"
	"github.com/eventfn/eventfn/handler"
)

// Lambda adapts a handler.Handler to AWS Lambda's SQS and SNS triggers. Its
// methods have signatures that lambda.StartHandlerFunc checks at compile
// time. A Lambda is safe for concurrent use.
type Lambda struct {
	h    handler.Handler
	o    Options
	warn failureWarner
}

// NewLambda returns a Lambda that runs h over each invocation's records.
// It does no I/O: a client (Options.Client) is used only when a message
// needs one.
func NewLambda(h handler.Handler, opts *Options) *Lambda {
	return &Lambda{h: h, o: opts.withDefaults()}
}

// Start runs h as the Lambda function of this process, for SQS and SNS
// triggers alike (see Lambda.Invoke). It never returns.
func Start(h handler.Handler, opts *Options, lambdaOpts ...lambda.Option) {
	lambda.StartWithOptions(rawHandler{NewLambda(h, opts)}, lambdaOpts...)
}

// rawHandler is a lambda.Handler: aws-lambda-go hands it the payload as it
// came, where for a func taking a json.RawMessage it runs a json.Decoder
// over the payload and copies it before Invoke decodes it again
// (scripts/bench-lambda.sh measures the difference).
type rawHandler struct{ l *Lambda }

var _ lambda.Handler = rawHandler{} // checked at compile time

func (r rawHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	resp, err := r.l.Invoke(ctx, payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(resp)
}

// Invoke handles any invocation payload: an SQS event (see HandleSQS), a
// direct SNS event (see HandleSNS), or anything else, which fails with
// ErrUnknownEvent. Unlike HandleSQS, it decodes each record on its own, so
// a record whose fields have the wrong types fails alone instead of failing
// the invocation. For an SNS event the response is empty.
func (l *Lambda) Invoke(ctx context.Context, payload json.RawMessage) (events.SQSEventResponse, error) {
	ev, err := decodeEvent(payload)
	if err != nil {
		l.o.Logger.ErrorContext(ctx, "sqs: invocation rejected", slog.Any("error", err))
		return events.SQSEventResponse{}, err
	}
	switch ev.kind {
	case kindSQS:
		return l.handleSQS(ctx, ev.sqs, ev.errs), nil
	case kindSNS:
		return events.SQSEventResponse{}, l.handleSNS(ctx, ev.sns, ev.errs)
	}
	return events.SQSEventResponse{}, nil // no records
}

// HandleSQS runs the handler over an SQS event and reports, in
// BatchItemFailures, every record whose outcome is Retry, or Reject unless
// the explicit dead-letter queue took it. The error is always nil: a
// failure is reported per record, never for the whole batch.
func (l *Lambda) HandleSQS(ctx context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
	return l.handleSQS(ctx, e.Records, nil), nil
}

// HandleSNS runs the handler over a direct SNS event. It returns an error
// matching ErrSNSFailed when any record failed, so that Lambda's
// asynchronous retries and on-failure destination apply (SNS invocations
// carry one record). With an explicit dead-letter queue, a record that
// failed permanently is sent there and counts as done.
func (l *Lambda) HandleSNS(ctx context.Context, e events.SNSEvent) (struct{}, error) {
	return struct{}{}, l.handleSNS(ctx, e.Records, nil)
}

func (l *Lambda) handleSQS(ctx context.Context, recs []events.SQSMessage, decodeErrs []error) events.SQSEventResponse {
	l.warn.observe(recs)
	items := runBatch(ctx, &l.o, l.h, recs, decodeErrs, nil)

	if l.o.Client != nil {
		sctx, cancel := settleContext(ctx, l.o.Process)
		settle(sctx, &l.o, l.o.Client, items)
		cancel()
	}

	var resp events.SQSEventResponse
	var seen map[string]bool
	for i := range items {
		it := &items[i]
		if it.outcome == handler.Ack || seen[it.rec.MessageId] {
			continue
		}
		if seen == nil {
			seen = make(map[string]bool)
		}
		seen[it.rec.MessageId] = true
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: it.rec.MessageId})
	}
	if n := len(resp.BatchItemFailures); n > 0 {
		ids := make([]string, n)
		for i, f := range resp.BatchItemFailures {
			ids[i] = f.ItemIdentifier
		}
		l.warn.failed(ctx, &l.o, ids, len(items))
	}
	report(ctx, &l.o, items)
	return resp
}

func (l *Lambda) handleSNS(ctx context.Context, recs []events.SNSEventRecord, decodeErrs []error) error {
	res := make([]handler.Result, len(recs))
	msgs := make([]*handler.Message, 0, len(recs))
	idx := make([]int, 0, len(recs))
	for i := range recs {
		err := error(nil)
		if decodeErrs != nil && decodeErrs[i] != nil {
			err = decodeErrs[i]
		} else if res[i].Message, err = l.o.snsMessage(&recs[i]); err != nil {
			err = &RecordError{MessageID: recs[i].SNS.MessageID, Index: i, Err: err}
		}
		if err != nil {
			res[i] = handler.Result{Message: snsRecordMessage(&recs[i]), Err: err, Outcome: handler.Classify(err)}
			continue
		}
		msgs = append(msgs, res[i].Message)
		idx = append(idx, i)
	}
	for k, r := range handler.Process(ctx, l.h, msgs, l.o.Process) {
		res[idx[k]] = r
	}
	var failed []error
	for i, r := range res {
		rep := handler.Report{Result: r, Settlement: handler.SettledAck}
		if r.Err != nil {
			rep.Settlement, rep.Err = handler.SettledRetry, r.Err
			if r.Outcome == handler.Reject && l.o.DeadLetterQueueURL != "" && l.o.Client != nil {
				sctx, cancel := settleContext(ctx, l.o.Process)
				derr := sendDeadLetter(sctx, &l.o, l.o.Client, recs[i].SNS.Message, snsDLQAttributes(recs[i].SNS.MessageAttributes), r, "")
				cancel()
				if derr == nil {
					rep.Settlement = handler.SettledDeadLetter
				} else {
					rep.Err = errors.Join(r.Err, derr)
				}
			}
			if rep.Settlement == handler.SettledRetry {
				failed = append(failed, &RecordError{MessageID: r.Message.ID, Index: i, Err: rep.Err})
			}
		}
		settled.Done(ctx, l.o.Logger, l.o.OnResult, "sqs", rep)
	}
	if len(failed) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d of %d: %w", ErrSNSFailed, len(failed), len(recs), errors.Join(failed...))
}

// snsRecordMessage describes a direct SNS record that could not become a
// message.
func snsRecordMessage(rec *events.SNSEventRecord) *handler.Message {
	m := &handler.Message{
		ID:          rec.SNS.MessageID,
		Body:        []byte(rec.SNS.Message),
		Source:      handler.SourceSNS,
		Queue:       rec.SNS.TopicArn,
		PublishedAt: rec.SNS.Timestamp,
	}
	m.SetRaw(*rec, rec.SNS)
	return m
}

// settleContext bounds the visibility changes and dead-letter sends that
// follow a batch: they must finish before the invocation's deadline, leaving
// a quarter of the deadline margin to return the response.
func settleContext(ctx context.Context, po *handler.ProcessOptions) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	margin := handler.DefaultDeadlineMargin
	if po != nil && po.DeadlineMargin > 0 {
		margin = po.DeadlineMargin
	}
	return context.WithDeadline(ctx, dl.Add(-margin/4))
}

// delayFor returns the visibility timeout to set for a failed item, if any.
func delayFor(o *Options, err error, attempt int, ran bool) (time.Duration, bool) {
	if d, ok := handler.RetryDelay(err); ok {
		return min(d, maxVisibility), true
	}
	if o.Backoff != nil && ran {
		return min(max(o.Backoff(attempt), 0), maxVisibility), true
	}
	return 0, false
}
