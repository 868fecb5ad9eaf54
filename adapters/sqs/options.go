package sqs

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/eventfn/eventfn/handler"
)

// Client is the part of the SQS API the Lambda handler uses: visibility
// changes for RetryAfter and Backoff, and SendMessage for the explicit
// dead-letter queue. *sqs.Client from aws-sdk-go-v2 implements it; so does
// LazyClient.
type Client interface {
	ChangeMessageVisibilityBatch(ctx context.Context, in *awssqs.ChangeMessageVisibilityBatchInput, optFns ...func(*awssqs.Options)) (*awssqs.ChangeMessageVisibilityBatchOutput, error)
	SendMessage(ctx context.Context, in *awssqs.SendMessageInput, optFns ...func(*awssqs.Options)) (*awssqs.SendMessageOutput, error)
}

// ConsumerClient is the part of the SQS API the Consumer uses. *sqs.Client
// from aws-sdk-go-v2 implements it.
type ConsumerClient interface {
	Client
	ReceiveMessage(ctx context.Context, in *awssqs.ReceiveMessageInput, optFns ...func(*awssqs.Options)) (*awssqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *awssqs.DeleteMessageBatchInput, optFns ...func(*awssqs.Options)) (*awssqs.DeleteMessageBatchOutput, error)
}

// Options configure the Lambda handler and the Consumer. The zero value is
// ready to use; nil *Options means the zero value.
type Options struct {
	// Process configures the batch engine (concurrency, deadline margin).
	// Default: handler.Process's defaults.
	Process *handler.ProcessOptions

	// Client is used to change the visibility of failed messages
	// (RetryAfter, Backoff) and to send to DeadLetterQueueURL. Wrap a
	// constructor with LazyClient so the AWS configuration loads only when a
	// message first needs it. Ignored by Consumer, which has its own client.
	// Default: none: RetryAfter and Backoff fall back to the queue's
	// visibility timeout, and permanent failures go through the native
	// redrive policy.
	Client Client

	// Backoff returns the visibility timeout to set on a message that failed
	// on its attempt-th delivery (1 on the first). Only applied with a
	// client; a delay from handler.RetryAfter takes precedence. Exponential
	// builds one. Default: none (the queue's visibility timeout).
	Backoff func(attempt int) time.Duration

	// DeadLetterQueueURL, with a client, receives messages whose handler
	// returned a handler.Permanent error: the original body is sent there
	// with the error as message attributes, then the message counts as done
	// (it is not reported failed). When the send fails the message is
	// reported failed and the native redrive policy applies. A FIFO source
	// needs a FIFO dead-letter queue. Default: none.
	DeadLetterQueueURL string

	// QueueURL turns an event source ARN into the queue URL that visibility
	// changes need. Default: the standard AWS URL
	// (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME), which emulators
	// accept too because the client's endpoint decides where requests go.
	QueueURL func(arn string) string

	// Raw passes every SQS body through untouched: set it for queues that
	// receive no SNS envelopes (direct sends, raw message delivery), so a
	// body can never be mistaken for one. Default: false, envelopes are
	// detected and unwrapped (see the package documentation).
	Raw bool
	// SNSTopicARNs, when set, limits unwrapping to envelopes that claim one
	// of these topics; other bodies pass through untouched.
	SNSTopicARNs []string
	// TrustSNSAttributes copies an unwrapped envelope's MessageAttributes
	// into Message.Attributes. Nothing in an SQS record proves that SNS
	// wrote the envelope, so anyone who can send to the queue could choose
	// these attributes: opt in only when the queue policy allows SNS alone
	// to send. Default: false; the envelope stays reachable with As.
	TrustSNSAttributes bool

	// MaxBodyBytes is the largest body a handler is given; a larger one
	// fails alone with ErrBodyTooLarge (permanent). Default: 1 MiB, the SQS
	// limit. Negative means no limit.
	MaxBodyBytes int

	// ReportBatchItemFailures states that the event source mapping has
	// FunctionResponseTypes [ReportBatchItemFailures]; it silences the
	// warning logged when a response reports failures without that
	// assurance. The environment variable
	// EVENTFN_SQS_REPORT_BATCH_ITEM_FAILURES=true does the same.
	ReportBatchItemFailures bool

	// Logger receives one line for every message that is not acknowledged
	// (reported failed or dead-lettered) with its ID, source, queue,
	// settlement and reason, and the adapter's own warnings (visibility
	// changes that failed). Default: slog.Default().
	Logger *slog.Logger

	// OnResult, if set, is called once for every record after its
	// settlement is decided (for Lambda, just before the response is
	// returned), records that never reached the handler included. It must
	// be safe for concurrent use and fast.
	OnResult handler.ResultHook
}

// DefaultMaxBodyBytes is the default Options.MaxBodyBytes: the SQS message
// size limit.
const DefaultMaxBodyBytes = 1 << 20

// EnvReportBatchItemFailures is the environment variable that, set to
// "true", has the same effect as Options.ReportBatchItemFailures.
const EnvReportBatchItemFailures = "EVENTFN_SQS_REPORT_BATCH_ITEM_FAILURES"

// maxVisibility is the SQS maximum visibility timeout (12 hours).
const maxVisibility = 12 * time.Hour

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.QueueURL == nil {
		c.QueueURL = QueueURLFromARN
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if !c.ReportBatchItemFailures {
		c.ReportBatchItemFailures, _ = strconv.ParseBool(os.Getenv(EnvReportBatchItemFailures))
	}
	return c
}

// Exponential returns a Backoff policy: base on the first attempt, doubling
// with each attempt, never more than max (nor than SQS's 12-hour limit).
func Exponential(base, max time.Duration) func(attempt int) time.Duration {
	if max <= 0 || max > maxVisibility {
		max = maxVisibility
	}
	return func(attempt int) time.Duration {
		if attempt < 1 {
			attempt = 1
		}
		d := base
		for i := 1; i < attempt && d < max; i++ {
			d *= 2
		}
		return min(d, max)
	}
}

// LazyClient returns a Client that calls load on first use and reuses its
// result, so a function that never needs SQS never loads the AWS
// configuration. When load fails, the calling operation fails and the next
// one tries again. It is safe for concurrent use.
func LazyClient[C Client](load func(ctx context.Context) (C, error)) Client {
	return &lazyClient[C]{load: load}
}

type lazyClient[C Client] struct {
	load func(ctx context.Context) (C, error)
	mu   sync.Mutex
	c    Client
}

func (l *lazyClient[C]) get(ctx context.Context) (Client, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c != nil {
		return l.c, nil
	}
	c, err := l.load(ctx)
	if err != nil {
		return nil, err
	}
	l.c = c
	return c, nil
}

func (l *lazyClient[C]) ChangeMessageVisibilityBatch(ctx context.Context, in *awssqs.ChangeMessageVisibilityBatchInput, optFns ...func(*awssqs.Options)) (*awssqs.ChangeMessageVisibilityBatchOutput, error) {
	c, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return c.ChangeMessageVisibilityBatch(ctx, in, optFns...)
}

func (l *lazyClient[C]) SendMessage(ctx context.Context, in *awssqs.SendMessageInput, optFns ...func(*awssqs.Options)) (*awssqs.SendMessageOutput, error) {
	c, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return c.SendMessage(ctx, in, optFns...)
}
