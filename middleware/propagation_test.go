package middleware_test

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/middleware"
)

func TestProducerSpanContextReadsEveryCarrier(t *testing.T) {
	req, _ := http.NewRequest(http.MethodPost, "http://x/push", nil)
	req.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	gcpReq, _ := http.NewRequest(http.MethodPost, "http://x/push", nil)
	gcpReq.Header.Set("X-Cloud-Trace-Context", "105445aa7843bc8bf206b12000100000/1;o=1")
	withRaw := func(m *handler.Message, raw any) *handler.Message { m.SetRaw(raw); return m }
	for _, tc := range []struct {
		name          string
		m             *handler.Message
		trace, span   string
		sampled, want bool
	}{
		{"W3C traceparent attribute", &handler.Message{Attributes: map[string]string{"traceparent": traceparent, "tracestate": "k=v"}}, traceID, "00f067aa0ba902b7", true, true},
		{"the Pub/Sub client's attribute", &handler.Message{Attributes: map[string]string{"googclient_traceparent": traceparent}}, traceID, "00f067aa0ba902b7", true, true},
		{"Service Bus Diagnostic-Id", &handler.Message{Attributes: map[string]string{"Diagnostic-Id": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"}}, traceID, "00f067aa0ba902b7", false, true},
		{"SQS AWSTraceHeader", &handler.Message{Attributes: map[string]string{"AWSTraceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}}, "5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8", true, true},
		{"X-Cloud-Trace-Context attribute", &handler.Message{Attributes: map[string]string{"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1;o=1"}}, "105445aa7843bc8bf206b12000100000", "0000000000000001", true, true},
		{"the push request's traceparent header", withRaw(&handler.Message{}, req), "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", true, true},
		{"the push request's X-Cloud-Trace-Context header", withRaw(&handler.Message{}, gcpReq), "105445aa7843bc8bf206b12000100000", "0000000000000001", true, true},
		{"traceparent wins over AWSTraceHeader", &handler.Message{Attributes: map[string]string{"traceparent": traceparent, "AWSTraceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}}, traceID, "00f067aa0ba902b7", true, true},
		{"a malformed traceparent falls through to AWSTraceHeader", &handler.Message{Attributes: map[string]string{"traceparent": "00-nothex-00f067aa0ba902b7-01", "AWSTraceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"}}, "5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8", false, true},
		{"no trace context", &handler.Message{Attributes: map[string]string{"a": "b"}}, "", "", false, false},
		{"a nil message", nil, "", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := middleware.ProducerSpanContext(tc.m)
			if sc.IsValid() != tc.want {
				t.Fatalf("valid = %v, want %v", sc.IsValid(), tc.want)
			}
			if !tc.want {
				return
			}
			if sc.TraceID().String() != tc.trace || sc.SpanID().String() != tc.span || sc.IsSampled() != tc.sampled || !sc.IsRemote() {
				t.Errorf("span context = %s/%s sampled=%v remote=%v, want %s/%s sampled=%v remote", sc.TraceID(), sc.SpanID(), sc.IsSampled(), sc.IsRemote(), tc.trace, tc.span, tc.sampled)
			}
		})
	}
}

func TestProducerSpanContextSkipsMalformedValues(t *testing.T) {
	for _, v := range []map[string]string{
		{"traceparent": "garbage"},
		{"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"},
		{"traceparent": "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"},
		{"AWSTraceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793"},
		{"AWSTraceHeader": "Root=1-zzzzzzzz-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"},
		{"AWSTraceHeader": "Root=2;Parent=53995c3f42cd8ad8"},
		{"AWSTraceHeader": ";;;="},
		{"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/notanumber"},
		{"X-Cloud-Trace-Context": "short/1"},
		{"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/0"},
		{"Diagnostic-Id": "|4bf92f3577b34da6.1."},
	} {
		if sc := middleware.ProducerSpanContext(&handler.Message{Attributes: v}); sc.IsValid() {
			t.Errorf("%v gave a valid span context %v", v, sc)
		}
	}
}

func TestInjectRoundTrips(t *testing.T) {
	tid, _ := trace.TraceIDFromHex(traceID)
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ts, _ := trace.ParseTraceState("vendor=x")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: ts}))
	attrs := middleware.Inject(ctx, nil)
	if attrs["traceparent"] != traceparent || attrs["tracestate"] != "vendor=x" {
		t.Fatalf("Inject = %v", attrs)
	}
	sc := middleware.ProducerSpanContext(&handler.Message{Attributes: attrs})
	if sc.TraceID() != tid || sc.SpanID() != sid || sc.TraceState().Get("vendor") != "x" {
		t.Errorf("round trip = %v", sc)
	}
	got := map[string]string{}
	middleware.InjectFunc(ctx, func(k, v string) { got[k] = v })
	if got["traceparent"] != traceparent || got["tracestate"] != "vendor=x" {
		t.Errorf("InjectFunc set %v", got)
	}
	if a := middleware.Inject(context.Background(), nil); a != nil {
		t.Errorf("Inject without a span = %v, want nil", a)
	}
}
