package middleware

import (
	"encoding/hex"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// AttrAWSTraceHeader is the SQS system attribute that carries the
// producer's X-Ray trace header.
const AttrAWSTraceHeader = "AWSTraceHeader"

// xrayHeader parses an X-Ray trace header,
// "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
// into the equivalent W3C span context (X-Ray trace IDs are W3C trace IDs
// with the epoch and random parts joined).
func xrayHeader(h string) trace.SpanContext {
	if h == "" {
		return trace.SpanContext{}
	}
	var root, parent string
	sampled := false
	for part := range strings.SplitSeq(h, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Root":
			root = v
		case "Parent":
			parent = v
		case "Sampled":
			sampled = v == "1"
		}
	}
	// Root: "1-" + 8 hex digits + "-" + 24 hex digits.
	if len(root) != 35 || root[:2] != "1-" || root[10] != '-' {
		return trace.SpanContext{}
	}
	var tid trace.TraceID
	var sid trace.SpanID
	if _, err := hex.Decode(tid[:4], []byte(root[2:10])); err != nil {
		return trace.SpanContext{}
	}
	if _, err := hex.Decode(tid[4:], []byte(root[11:])); err != nil {
		return trace.SpanContext{}
	}
	if len(parent) != 16 {
		return trace.SpanContext{}
	}
	if _, err := hex.Decode(sid[:], []byte(parent)); err != nil {
		return trace.SpanContext{}
	}
	cfg := trace.SpanContextConfig{TraceID: tid, SpanID: sid, Remote: true}
	if sampled {
		cfg.TraceFlags = trace.FlagsSampled
	}
	return trace.NewSpanContext(cfg) // invalid when an ID is all zeros
}
