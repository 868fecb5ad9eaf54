package middleware

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

var w3cCases = []struct{ parent, state string }{
	{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""},
	{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "a=1,b=2"},
	{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03", "=bad="},
	{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-04", ""},
	{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", ""},
	{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-extra", ""},
	{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09", ""},
	{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09x", ""},
	{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""},
	{"fe-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""},
	{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", ""},
	{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", ""},
	{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", ""},
	{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0", ""},
	{"0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""},
	{"00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01", ""},
	{"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", ""},
	{"zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""},
	{"", ""},
	{"garbage", ""},
}

// reference parses with the OpenTelemetry propagator.
func reference(parent, state string) trace.SpanContext {
	c := propagation.MapCarrier{}
	if parent != "" {
		c["traceparent"] = parent
	}
	if state != "" {
		c["tracestate"] = state
	}
	return trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), c))
}

func TestW3CMatchesThePropagator(t *testing.T) {
	for _, tc := range w3cCases {
		if got, want := w3c(tc.parent, tc.state), reference(tc.parent, tc.state); !got.Equal(want) {
			t.Errorf("w3c(%q, %q) = %v, the propagator says %v", tc.parent, tc.state, got, want)
		}
	}
}

func FuzzW3CMatchesThePropagator(f *testing.F) {
	for _, tc := range w3cCases {
		f.Add(tc.parent, tc.state)
	}
	f.Fuzz(func(t *testing.T, parent, state string) {
		if got, want := w3c(parent, state), reference(parent, state); !got.Equal(want) {
			t.Errorf("w3c(%q, %q) = %v, the propagator says %v", parent, state, got, want)
		}
	})
}
