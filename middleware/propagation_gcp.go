package middleware

import (
	"encoding/hex"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// AttrCloudTraceContext is Google Cloud's legacy trace header,
// "TRACE_ID/SPAN_ID;o=1", which Pub/Sub push and Cloud Run requests carry.
const AttrCloudTraceContext = "X-Cloud-Trace-Context"

// cloudTraceContext parses an X-Cloud-Trace-Context value: a 32-digit hex
// trace ID, a decimal span ID and an optional ";o=1" sampled flag.
func cloudTraceContext(h string) trace.SpanContext {
	if h == "" {
		return trace.SpanContext{}
	}
	ids, opts, _ := strings.Cut(h, ";")
	t, s, ok := strings.Cut(ids, "/")
	if !ok || len(t) != 32 {
		return trace.SpanContext{}
	}
	var tid trace.TraceID
	if _, err := hex.Decode(tid[:], []byte(t)); err != nil {
		return trace.SpanContext{}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return trace.SpanContext{}
	}
	var sid trace.SpanID
	for i := 7; i >= 0; i-- {
		sid[i] = byte(n)
		n >>= 8
	}
	cfg := trace.SpanContextConfig{TraceID: tid, SpanID: sid, Remote: true}
	if strings.TrimSpace(opts) == "o=1" {
		cfg.TraceFlags = trace.FlagsSampled
	}
	return trace.NewSpanContext(cfg)
}
