package middleware

import (
	"context"
	"net/http"

	"github.com/eventfn/eventfn/handler"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Attribute names producers and platforms carry trace context in.
const (
	// AttrTraceparent and AttrTracestate are the W3C Trace Context fields.
	AttrTraceparent = "traceparent"
	AttrTracestate  = "tracestate"
	// AttrPubSubTraceparent is where the Pub/Sub client libraries put the
	// W3C traceparent when their OpenTelemetry tracing is on.
	AttrPubSubTraceparent = "googclient_traceparent"
	attrPubSubTracestate  = "googclient_tracestate"
)

var traceContext = propagation.TraceContext{}

// ProducerSpanContext returns the span context the producer attached to m,
// looked up in this order: the W3C traceparent/tracestate attributes, the
// Pub/Sub client's googclient_traceparent, Service Bus's Diagnostic-Id, the
// AWSTraceHeader of SQS, an X-Cloud-Trace-Context attribute, and the
// headers of the HTTP request behind a Pub/Sub push (traceparent, then
// X-Cloud-Trace-Context). A malformed value is skipped. The result is
// invalid when none is found. It is safe for concurrent use.
func ProducerSpanContext(m *handler.Message) trace.SpanContext {
	if m == nil {
		return trace.SpanContext{}
	}
	a := m.Attributes
	if len(a) > 0 {
		if sc := w3c(a[AttrTraceparent], a[AttrTracestate]); sc.IsValid() {
			return sc
		}
		if sc := w3c(a[AttrPubSubTraceparent], a[attrPubSubTracestate]); sc.IsValid() {
			return sc
		}
		if sc := diagnosticID(a[AttrDiagnosticID]); sc.IsValid() {
			return sc
		}
		if sc := xrayHeader(a[AttrAWSTraceHeader]); sc.IsValid() {
			return sc
		}
		if sc := cloudTraceContext(a[AttrCloudTraceContext]); sc.IsValid() {
			return sc
		}
	}
	var r *http.Request
	if m.As(&r) && r != nil {
		if sc := w3c(r.Header.Get(AttrTraceparent), r.Header.Get(AttrTracestate)); sc.IsValid() {
			return sc
		}
		return cloudTraceContext(r.Header.Get(AttrCloudTraceContext))
	}
	return trace.SpanContext{}
}

// w3c parses a traceparent and its tracestate with the OpenTelemetry
// TraceContext propagator.
func w3c(parent, state string) trace.SpanContext {
	if parent == "" {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(traceContext.Extract(context.Background(), &w3cCarrier{parent, state}))
}

// w3cCarrier holds the two W3C fields without a map.
type w3cCarrier struct{ parent, state string }

func (c *w3cCarrier) Get(key string) string {
	switch key {
	case AttrTraceparent:
		return c.parent
	case AttrTracestate:
		return c.state
	}
	return ""
}

func (c *w3cCarrier) Set(string, string) {}

func (c *w3cCarrier) Keys() []string { return []string{AttrTraceparent, AttrTracestate} }

// Inject writes the W3C traceparent and tracestate of the span in ctx into
// attrs, creating the map when it is nil, and returns it; with no valid
// span in ctx it writes nothing. Use it for Pub/Sub attributes and
// gocloud metadata; see InjectFunc for other shapes. It is safe for
// concurrent use on different maps.
func Inject(ctx context.Context, attrs map[string]string) map[string]string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return attrs
	}
	if attrs == nil {
		attrs = make(map[string]string, 2)
	}
	traceContext.Inject(ctx, propagation.MapCarrier(attrs))
	return attrs
}

// InjectFunc calls set with each trace-context field of the span in ctx
// (traceparent, and tracestate when not empty), for attribute maps of
// other shapes: SQS MessageAttributes (as String values), Service Bus
// ApplicationProperties. Consumers read them back with
// ProducerSpanContext. It is safe for concurrent use.
//
//	middleware.InjectFunc(ctx, func(k, v string) {
//		in.MessageAttributes[k] = types.MessageAttributeValue{
//			DataType: aws.String("String"), StringValue: aws.String(v)}
//	})
func InjectFunc(ctx context.Context, set func(key, value string)) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	c := propagation.MapCarrier{}
	traceContext.Inject(ctx, c)
	for _, k := range []string{AttrTraceparent, AttrTracestate} {
		if v := c[k]; v != "" {
			set(k, v)
		}
	}
}
