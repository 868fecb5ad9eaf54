package middleware

import (
	"context"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// MetricsOptions configure NewMetrics. The zero value is ready to use.
type MetricsOptions struct {
	// MeterProvider creates the OpenTelemetry instruments. Default:
	// otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// EMF receives CloudWatch Embedded Metric Format lines. Default: stdout
	// on AWS Lambda (AWS_LAMBDA_FUNCTION_NAME set), none elsewhere. See
	// DisableEMF.
	EMF io.Writer
	// DisableEMF writes no EMF lines, on Lambda too.
	DisableEMF bool
	// Namespace is the EMF metrics' CloudWatch namespace. Default:
	// "eventfn".
	Namespace string
	// Service is the EMF "Service" dimension. Default: the Lambda function
	// name (AWS_LAMBDA_FUNCTION_NAME), else K_SERVICE, else
	// WEBSITE_SITE_NAME, else "eventfn".
	Service string
	// EMFWriteTimeout bounds how long a flush waits for the EMF writer; a
	// line the writer takes longer to accept is written later or dropped.
	// Default: 100ms.
	EMFWriteTimeout time.Duration
}

// Metric names of the OpenTelemetry instruments. Each carries
// messaging.system and messaging.destination.name; the counters of
// messages carry eventfn.outcome, the idempotency counter "event", the
// settlement counter "settlement", the breaker's "breaker" and "state".
const (
	MetricProcessed    = "eventfn.messages.processed"
	MetricFailed       = "eventfn.messages.failed"
	MetricDuration     = "messaging.process.duration"
	MetricBatchSize    = "eventfn.batch.size"
	MetricIdempotency  = "eventfn.idempotency.events"
	MetricSettled      = "eventfn.messages.settled"
	MetricDeadLettered = "eventfn.messages.dead_lettered"
	MetricBreakerState = "eventfn.breaker.state"
	MetricBreakerTrans = "eventfn.breaker.transitions"
)

// Metrics records eventfn's metrics: processed and failed messages by
// outcome, handler duration and batch size (Middleware), idempotency
// decisions (IdempotencyEvent), settlements and dead letters
// (ResultHook), and circuit-breaker states (BreakerStateChange), through
// the OpenTelemetry metrics API and, on Lambda, as CloudWatch EMF. A
// Metrics is safe for concurrent use; create one per process.
type Metrics struct {
	processed, failed, idem, settled, dead, trans metric.Int64Counter
	duration, batch                               metric.Float64Histogram
	state                                         metric.Int64Gauge
	emf                                           *emfSink
	sets                                          sync.Map // setKey → metric.MeasurementOption
	last                                          atomic.Pointer[queueSets]
}

type setKey struct{ source, queue, outcome, extraKey, extra string }

// queueSets are the measurement options of one source and queue, built
// once: a message's metrics then cost no attribute hashing or boxing.
type queueSets struct {
	source, queue string
	outcome       [3][]metric.AddOption // by handler.Outcome
	plain         []metric.RecordOption
}

// queue returns the options of msg's source and queue. The last one used
// is checked first: a function usually consumes one queue.
func (m *Metrics) queue(msg *handler.Message) *queueSets {
	if q := m.last.Load(); q != nil && q.source == msg.Source && q.queue == msg.Queue {
		return q
	}
	q := &queueSets{source: msg.Source, queue: msg.Queue, plain: []metric.RecordOption{m.attrs(msg.Source, msg.Queue, "", "", "")}}
	for o := handler.Ack; o <= handler.Reject; o++ {
		q.outcome[o] = []metric.AddOption{m.attrs(msg.Source, msg.Queue, o.String(), "", "")}
	}
	m.last.Store(q)
	return q
}

// NewMetrics returns a Metrics configured by opts. Instruments the
// provider fails to create record nothing.
func NewMetrics(opts *MetricsOptions) *Metrics {
	var o MetricsOptions
	if opts != nil {
		o = *opts
	}
	mp := o.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	mt := mp.Meter(ScopeName)
	m := &Metrics{}
	m.processed, _ = mt.Int64Counter(MetricProcessed, metric.WithUnit("{message}"), metric.WithDescription("Messages handled, by outcome."))
	m.failed, _ = mt.Int64Counter(MetricFailed, metric.WithUnit("{message}"), metric.WithDescription("Messages not acknowledged, by outcome (retry, reject)."))
	m.duration, _ = mt.Float64Histogram(MetricDuration, metric.WithUnit("s"), metric.WithDescription("Time to handle one message, retries included."))
	m.batch, _ = mt.Float64Histogram(MetricBatchSize, metric.WithUnit("{message}"), metric.WithDescription("Messages per batch."))
	m.idem, _ = mt.Int64Counter(MetricIdempotency, metric.WithUnit("{event}"), metric.WithDescription("Idempotency decisions: duplicate, in_progress, complete_failed, ..."))
	m.settled, _ = mt.Int64Counter(MetricSettled, metric.WithUnit("{message}"), metric.WithDescription("Messages settled by the adapter, by settlement."))
	m.dead, _ = mt.Int64Counter(MetricDeadLettered, metric.WithUnit("{message}"), metric.WithDescription("Messages eventfn sent to a dead-letter destination."))
	m.state, _ = mt.Int64Gauge(MetricBreakerState, metric.WithDescription("Circuit breaker state: 0 closed, 1 half-open, 2 open."))
	m.trans, _ = mt.Int64Counter(MetricBreakerTrans, metric.WithUnit("{transition}"), metric.WithDescription("Circuit breaker state changes, by new state."))
	if w := o.EMF; !o.DisableEMF && (w != nil || os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "") {
		if w == nil {
			w = os.Stdout
		}
		m.emf = newEMFSink(w, o)
	}
	return m
}

// attrs returns the cached attribute set of one combination.
func (m *Metrics) attrs(source, queue, outcome, extraKey, extra string) metric.MeasurementOption {
	k := setKey{source, queue, outcome, extraKey, extra}
	if s, ok := m.sets.Load(k); ok {
		return s.(metric.MeasurementOption)
	}
	kv := []attribute.KeyValue{messagingSystem(source), semconv.MessagingDestinationName(destinationName(queue))}
	if outcome != "" {
		kv = append(kv, attribute.String(AttrOutcome, outcome))
	}
	if extraKey != "" {
		kv = append(kv, attribute.String(extraKey, extra))
	}
	opt := metric.WithAttributeSet(attribute.NewSet(kv...))
	m.sets.Store(k, opt)
	return opt
}

// Middleware returns a middleware that counts each message by outcome and
// records its duration, and each batch's size once. Put it outside
// Timeout, Breaker and Retry so it sees the outcome the platform is told.
// With EMF, the batch's metrics are flushed once when the batch finishes
// (or, when ResultHook is in use, once its last message is settled).
func (m *Metrics) Middleware() handler.Middleware {
	return func(h handler.Handler) handler.Handler {
		return handler.HandlerFunc(func(ctx context.Context, msg *handler.Message) (err error) {
			if msg == nil {
				return h.Handle(ctx, msg)
			}
			if b := handler.BatchFrom(ctx); b != nil {
				// The first message of a batch starts it; outside Value,
				// which holds the batch's lock that OnFinish takes.
				first := false
				b.Value(m, func() any { first = true; return struct{}{} })
				if first {
					m.startBatch(ctx, b, msg)
				}
			}
			start := monotonic()
			defer func() {
				if v := recover(); v != nil {
					m.record(ctx, msg, &handler.PanicError{Value: v}, monotonic()-start)
					panic(v)
				}
				m.record(ctx, msg, err, monotonic()-start)
			}()
			return h.Handle(ctx, msg)
		})
	}
}

func (m *Metrics) startBatch(ctx context.Context, b *handler.Batch, first *handler.Message) {
	n := len(b.Messages())
	m.batch.Record(ctx, float64(n), m.attrs(first.Source, first.Queue, "", "", ""))
	if m.emf != nil {
		m.emf.batchStarted(first.Queue, b.Messages())
		b.OnFinish(func(context.Context) { m.emf.batchFinished() })
	}
}

func (m *Metrics) record(ctx context.Context, msg *handler.Message, err error, d time.Duration) {
	out := handler.Classify(err)
	q := m.queue(msg)
	set := q.outcome[out]
	m.processed.Add(ctx, 1, set...)
	if out != handler.Ack {
		m.failed.Add(ctx, 1, set...)
	}
	m.duration.Record(ctx, d.Seconds(), q.plain...)
	if m.emf != nil {
		m.emf.message(msg.Queue, out, d)
	}
}

// IdempotencyEvent counts an idempotency decision; its signature fits
// idempotency.Options.OnEvent. Events are counted by their String, so
// events added later are counted too.
func (m *Metrics) IdempotencyEvent(ctx context.Context, e idempotency.Event, msg *handler.Message) {
	var src, q string
	if msg != nil {
		src, q = msg.Source, msg.Queue
	}
	name := e.String()
	m.idem.Add(ctx, 1, m.attrs(src, q, "", "event", name))
	if m.emf != nil {
		m.emf.count(q, emfEventMetric(name), 1)
	}
}

// ResultHook returns a handler.ResultHook that counts each settled message
// by settlement and the ones eventfn dead-lettered itself. Pass it to the
// adapter's options. Once it has been asked for, EMF flushes a batch's
// metrics after the batch's last settlement, so they go out in the same
// line; a batch whose settlements never all come is flushed when the next
// one starts.
func (m *Metrics) ResultHook() handler.ResultHook {
	if m.emf != nil {
		m.emf.hooked()
	}
	return func(ctx context.Context, r handler.Report) {
		var src, q string
		if msg := r.Result.Message; msg != nil {
			src, q = msg.Source, msg.Queue
		}
		m.settled.Add(ctx, 1, m.attrs(src, q, "", "settlement", r.Settlement.String()))
		if r.Settlement == handler.SettledDeadLetter {
			m.dead.Add(ctx, 1, m.attrs(src, q, "", "", ""))
		}
		if m.emf != nil {
			m.emf.settled(r.Result.Message, r.Settlement)
		}
	}
}

// BreakerStateChange records a circuit breaker's new state; its signature
// fits BreakerOptions.OnStateChange.
func (m *Metrics) BreakerStateChange(name string, _, to gobreaker.State) {
	ctx := context.Background()
	set := metric.WithAttributes(attribute.String("breaker", name))
	m.state.Record(ctx, int64(to), set)
	m.trans.Add(ctx, 1, metric.WithAttributes(attribute.String("breaker", name), attribute.String("state", to.String())))
	if m.emf != nil && to == gobreaker.StateOpen {
		m.emf.count("", "BreakerOpened", 1)
	}
}

// Flush writes the EMF metrics gathered so far, if any. The middleware
// flushes by itself once per batch; call Flush from a handler run outside
// handler.Process.
func (m *Metrics) Flush() {
	if m.emf != nil {
		m.emf.flush()
	}
}
