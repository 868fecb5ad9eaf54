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
// looked up in this order: the Pub/Sub client's googclient_traceparent, the
// W3C traceparent/tracestate attributes, Service Bus's Diagnostic-Id, the
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
		// The Pub/Sub client's attribute comes first: the push adapter copies
		// the push request's traceparent header (the push service's span)
		// into a traceparent attribute when the message has none.
		if sc := w3c(a[AttrPubSubTraceparent], a[attrPubSubTracestate]); sc.IsValid() {
			return sc
		}
		if sc := w3c(a[AttrTraceparent], a[AttrTracestate]); sc.IsValid() {
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

// w3c parses a traceparent and its tracestate the way the OpenTelemetry
// TraceContext propagator does (TestW3CMatchesThePropagator holds them
// equal), without the contexts and carrier Extract allocates: it runs for
// every message.
func w3c(parent, state string) trace.SpanContext {
	// version "-" trace-id "-" parent-id "-" flags, then, for versions
	// after 00 only, more fields after a "-".
	if len(parent) < 55 || parent[2] != '-' || parent[35] != '-' || parent[52] != '-' || (len(parent) > 55 && parent[55] != '-') {
		return trace.SpanContext{}
	}
	var ver, flags [1]byte
	var cfg trace.SpanContextConfig
	if !lowerHex(ver[:], parent[:2]) || ver[0] == 0xff || !lowerHex(cfg.TraceID[:], parent[3:35]) ||
		!lowerHex(cfg.SpanID[:], parent[36:52]) || !lowerHex(flags[:], parent[53:55]) {
		return trace.SpanContext{}
	}
	if ver[0] == 0 && (len(parent) != 55 || flags[0] > 3) {
		return trace.SpanContext{} // version 00 has no more fields and no other flags
	}
	cfg.TraceFlags = trace.TraceFlags(flags[0]) & (trace.FlagsSampled | trace.FlagsRandom)
	if state != "" {
		cfg.TraceState, _ = trace.ParseTraceState(state) // a bad tracestate never voids the traceparent
	}
	cfg.Remote = true
	sc := trace.NewSpanContext(cfg)
	if !sc.IsValid() {
		return trace.SpanContext{}
	}
	return sc
}

// lowerHex decodes the lower-case hex digits of s into dst (W3C trace
// context forbids upper case).
func lowerHex(dst []byte, s string) bool {
	for i := range dst {
		hi, ok1 := hexVal(s[2*i])
		lo, ok2 := hexVal(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

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
