// Package sqs runs a handler.Handler on Amazon SQS and SNS: as the AWS Lambda
// function of an SQS trigger (SNS-to-SQS included) or a direct SNS trigger,
// and as a long-polling Consumer for containers and local runs.
//
//	func main() {
//		sqs.Start(handler.Chain(myHandler, idempotency.Middleware(store, nil)), nil) // scope: the function name
//	}
//
// Start hands aws-lambda-go a lambda.Handler that passes the raw payload to
// Lambda.Invoke and encodes its response; Lambda's methods also fit
// lambda.StartHandlerFunc, which checks their signatures at compile time,
// for programs that start the runtime themselves. Creating the handler does
// no I/O:
// the AWS configuration is loaded only if a message needs an SQS client (see
// LazyClient), which keeps cold starts short.
//
// # Message Delivery Semantics
//
// SQS delivers at least once. Each record becomes one handler.Message and
// handler.Process runs the batch with the invocation's context, so the
// Lambda deadline is honoured: records not started in time are reported
// failed, never dropped. The outcome of each message decides what Lambda is
// told in the response's batchItemFailures:
//
//   - nil (Ack): not reported; Lambda deletes the message.
//   - a plain error (Retry): reported; the message becomes visible again
//     after the queue's visibility timeout and is dead-lettered by the
//     queue's redrive policy after maxReceiveCount receives.
//   - handler.RetryAfter(d, err): as Retry, and with Options.Client the
//     message's visibility timeout is set to d (ChangeMessageVisibility), so
//     the redelivery comes after d. Options.Backoff does the same for every
//     failed attempt. Without a client both fall back to the queue's
//     visibility timeout.
//   - handler.Permanent(err) (Reject): reported, so the redrive policy
//     dead-letters it after maxReceiveCount receives; or, with
//     Options.DeadLetterQueueURL and a client, sent to that queue with the
//     dead-letter attributes of package handler (handler.AttrError,
//     AttrOutcome, AttrMessageID, AttrSource, AttrQueue) as message
//     attributes and not reported. If that send fails the message is
//     reported failed.
//   - a panic: recovered into a *handler.PanicError for that message alone
//     (Retry).
//
// A record that cannot become a message fails alone: a record whose fields
// have the wrong types (ErrMalformedRecord, retryable), a body over
// Options.MaxBodyBytes (ErrBodyTooLarge, permanent), an SNS envelope whose
// fields do not decode (ErrBadEnvelope, permanent). The invocation itself
// fails only when no record can be told apart: a payload that is not an SQS
// or SNS event (ErrUnknownEvent), or a record without a messageId
// (ErrMalformedEvent); Lambda then retries the whole event.
//
// A direct SNS trigger cannot report failures per record: HandleSNS (and
// Invoke, for SNS events) returns an error matching ErrSNSFailed when a
// record fails, so Lambda's asynchronous retries and the function's
// on-failure destination apply.
//
// # ReportBatchItemFailures
//
// Lambda honours batchItemFailures only when the event source mapping has
// FunctionResponseTypes: [ReportBatchItemFailures]. Without it a successful
// invocation deletes the whole batch, failed messages included. Check a
// function with
//
//	aws lambda list-event-source-mappings --function-name NAME \
//	  --query 'EventSourceMappings[].FunctionResponseTypes'
//
// The handler cannot see the setting, so the first response that reports
// failures logs a warning unless Options.ReportBatchItemFailures (or the
// environment variable EVENTFN_SQS_REPORT_BATCH_ITEM_FAILURES=true, which the
// templates set) says it is on, or a message reported failed comes back
// with a higher receive count, which proves it.
//
// # SNS Envelopes
//
// With raw message delivery off, SNS wraps each message in a JSON envelope.
// A body with the envelope's shape (Type "Notification", MessageId,
// TopicArn, Timestamp and Message) and no SQS message attributes is
// unwrapped: Body is the SNS Message, ID the SNS MessageId (stable when SNS
// delivers the same message twice), Source handler.SourceSNS and PublishedAt
// the SNS Timestamp. Raw deliveries pass through untouched. Nothing in an
// SQS record proves that SNS wrote the envelope, so its MessageAttributes
// become Message.Attributes only with Options.TrustSNSAttributes; restrict
// unwrapping to known topics with Options.SNSTopicARNs, or turn it off with
// Options.Raw.
//
// # FIFO Queues
//
// For a queue whose ARN ends in ".fifo", the MessageGroupId is the
// message's OrderingKey: messages of a group run one at a time in order,
// and after one fails the rest of its group is reported failed without
// running, as Lambda requires for FIFO batches. A record that fails before
// it reaches the handler (a malformed record, a bad envelope, an oversized
// body) stops its group the same way; when its MessageGroupId cannot be
// read, every later record of the batch is reported failed.
//
// # Results and Logs
//
// Every record ends in exactly one call of Options.OnResult with a
// handler.Report: SettledAck (deleted), SettledRetry (reported failed, or
// not deleted) or SettledDeadLetter (sent to the explicit dead-letter
// queue), records that never reached the handler included. Each record
// that is not acknowledged is also logged, once, through Options.Logger
// with its message ID, source, queue, settlement and error, so no failure
// is silent without logging middleware.
//
// # Trace Context
//
// The AWSTraceHeader system attribute (the producer's X-Ray trace header)
// is exposed as Message.Attributes["AWSTraceHeader"] (AttrTraceHeader) for
// tracing middleware, unless a message attribute of that name exists,
// which is kept.
//
// # Consumer
//
// Consumer receives with long polling, runs each batch through
// handler.Process, renews the visibility of messages whose handlers are
// still running, deletes acknowledged messages in batches, applies
// RetryAfter, Backoff and the explicit dead-letter queue like the Lambda
// handler, and on shutdown stops receiving and finishes the batches in
// flight.
//
// # As
//
// Message.As reaches the native values behind a message:
//   - events.SQSMessage: every message from an SQS record;
//   - events.SNSEntity: the unwrapped SNS envelope, or the SNS part of a
//     direct SNS record;
//   - events.SNSEventRecord: a direct SNS record;
//   - types.Message (aws-sdk-go-v2/service/sqs/types): every message
//     received by a Consumer.
package sqs
