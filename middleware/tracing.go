package middleware

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/eventfn/eventfn/handler"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of eventfn's tracer and meter.
const ScopeName = "github.com/eventfn/eventfn/middleware"

// AttrOutcome is the span and metric attribute holding the message's
// handler.Outcome ("ack", "retry", "reject").
const AttrOutcome = "eventfn.outcome"

// TracingOptions configure Tracing. The zero value is ready to use.
type TracingOptions struct {
	// TracerProvider creates the tracer. Default: otel.GetTracerProvider().
	// A trace/noop provider turns the middleware off.
	TracerProvider trace.TracerProvider
	// LinkOnly never makes the producer's span the parent: it is always a
	// link. By default the producer's span is the parent when ctx holds no
	// span of its own (an invocation span from the platform's
	// instrumentation), so the consumer continues the producer's trace, and
	// a link as well, as the messaging conventions ask for process spans.
	LinkOnly bool
}

// Tracing returns a middleware that runs each message in an OpenTelemetry
// consumer span named "process <destination>", following the messaging
// semantic conventions: messaging.system, messaging.operation.type and
// messaging.operation.name "process", messaging.destination.name (the
// queue's short name), messaging.message.id, messaging.message.body.size
// and, under handler.Process, messaging.batch.message_count. The producer's
// context (see ProducerSpanContext) is the span's parent and link. The span
// ends with status Error, the error recorded, error.type and
// eventfn.outcome ("retry" or "reject") set when the message is not
// acknowledged, and as it started when it is; a panic is recorded and
// re-raised.
// Exporting happens in the provider's span processor, never on the
// message's path unless that processor is synchronous. The middleware is
// safe for concurrent use.
func Tracing(opts *TracingOptions) handler.Middleware {
	var o TracingOptions
	if opts != nil {
		o = *opts
	}
	tp := o.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if _, ok := tp.(noop.TracerProvider); ok {
		return func(h handler.Handler) handler.Handler { return h }
	}
	t := &tracer{t: tp.Tracer(ScopeName), linkOnly: o.LinkOnly}
	return func(h handler.Handler) handler.Handler {
		return handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error { return t.handle(ctx, h, m) })
	}
}

var consumerKind = trace.WithSpanKind(trace.SpanKindConsumer)

type tracer struct {
	t        trace.Tracer
	linkOnly bool
	last     atomic.Pointer[spanName] // the last queue's span name
}

// startBuf holds what one span start passes the tracer.
type startBuf struct {
	attrs []attribute.KeyValue
	opts  []trace.SpanStartOption
	links [1]trace.Link
}

var startBufs = sync.Pool{New: func() any {
	return &startBuf{attrs: make([]attribute.KeyValue, 0, 8), opts: make([]trace.SpanStartOption, 0, 3)}
}}

type spanName struct{ queue, dest, name string }

// names returns the destination and span name of queue, from the last
// queue seen when it is the same (a function usually consumes one).
func (t *tracer) names(queue string) (dest, name string) {
	if n := t.last.Load(); n != nil && n.queue == queue {
		return n.dest, n.name
	}
	dest = destinationName(queue)
	n := &spanName{queue, dest, "process " + dest}
	t.last.Store(n)
	return n.dest, n.name
}

func (t *tracer) handle(ctx context.Context, h handler.Handler, m *handler.Message) (err error) {
	if m == nil {
		return h.Handle(ctx, m)
	}
	dest, name := t.names(m.Queue)
	// The SDK copies attributes and options while starting the span, so
	// the buffers holding them go back to the pool once Start returns.
	sb := startBufs.Get().(*startBuf)
	sb.attrs = append(sb.attrs[:0],
		messagingSystem(m.Source),
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingOperationName("process"),
		semconv.MessagingDestinationName(dest),
		semconv.MessagingMessageID(m.ID),
		semconv.MessagingMessageBodySize(len(m.Body)),
	)
	if b := handler.BatchFrom(ctx); b != nil {
		sb.attrs = append(sb.attrs, semconv.MessagingBatchMessageCount(len(b.Messages())))
	}
	sb.opts = append(sb.opts[:0], consumerKind, trace.WithAttributes(sb.attrs...))
	parent := ctx
	if pc := ProducerSpanContext(m); pc.IsValid() {
		sb.links[0] = trace.Link{SpanContext: pc}
		sb.opts = append(sb.opts, trace.WithLinks(sb.links[:]...))
		if !t.linkOnly && !trace.SpanContextFromContext(ctx).IsValid() {
			parent = trace.ContextWithRemoteSpanContext(ctx, pc)
		}
	}
	ctx, span := t.t.Start(parent, name, sb.opts...)
	clear(sb.opts)
	clear(sb.attrs)
	sb.links[0] = trace.Link{}
	startBufs.Put(sb)
	defer func() {
		if v := recover(); v != nil {
			perr := &handler.PanicError{Value: v}
			span.RecordError(perr, trace.WithStackTrace(true))
			span.SetStatus(codes.Error, perr.Error())
			span.SetAttributes(semconv.ErrorTypeKey.String("panic"), attribute.String(AttrOutcome, handler.Retry.String()))
			span.End()
			panic(v)
		}
		if err != nil && span.IsRecording() {
			// An acknowledged message's span is left as it started: status
			// Unset and no eventfn.outcome, which saves growing its
			// attributes on the common path.
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			span.SetAttributes(attribute.String(AttrOutcome, handler.Classify(err).String()), semconv.ErrorTypeKey.String(errorClass(err)))
		}
		span.End()
	}()
	return h.Handle(ctx, m)
}

// destinationName returns the short name of a queue: the last part of an
// ARN ("arn:aws:sqs:r:acct:orders" → "orders") or of a resource path
// ("projects/p/subscriptions/orders-sub" → "orders-sub").
func destinationName(q string) string {
	if i := strings.LastIndexAny(q, ":/"); i >= 0 && i+1 < len(q) {
		return q[i+1:]
	}
	return q
}

// messagingSystem maps Message.Source to messaging.system.
func messagingSystem(source string) attribute.KeyValue {
	switch source {
	case handler.SourceSQS:
		return semconv.MessagingSystemAWSSQS
	case handler.SourceSNS:
		return semconv.MessagingSystemAWSSNS
	case handler.SourcePubSub:
		return semconv.MessagingSystemGCPPubSub
	case handler.SourceServiceBus:
		return semconv.MessagingSystemServiceBus
	}
	if s, ok := strings.CutPrefix(source, handler.SourceGoCloudPrefix); ok {
		switch s {
		case "kafka":
			return semconv.MessagingSystemKafka
		case "rabbit":
			return semconv.MessagingSystemRabbitMQ
		case "awssqs":
			return semconv.MessagingSystemAWSSQS
		case "gcppubsub":
			return semconv.MessagingSystemGCPPubSub
		case "azuresb":
			return semconv.MessagingSystemServiceBus
		}
		return semconv.MessagingSystemKey.String(s)
	}
	if source == "" {
		return semconv.MessagingSystemKey.String("unknown")
	}
	return semconv.MessagingSystemKey.String(source)
}

// errorClass names the kind of a failure with a low-cardinality word, for
// error.type, log lines and metrics.
func errorClass(err error) string {
	var pe *handler.PanicError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &pe):
		return "panic"
	case errors.Is(err, ErrBreakerOpen):
		return "breaker_open"
	case handler.IsPermanent(err):
		return "permanent"
	case errors.Is(err, handler.ErrDeadline), errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	case errors.Is(err, handler.ErrOrderingKeyFailed):
		return "ordering"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	if _, ok := handler.RetryDelay(err); ok {
		return "retry_after"
	}
	return "transient"
}
