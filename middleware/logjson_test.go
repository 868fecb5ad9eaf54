package middleware_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/eventfn/eventfn/middleware"
)

func decodeLine(t *testing.T, b *bytes.Buffer) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatalf("not one JSON object: %q: %v", b.String(), err)
	}
	b.Reset()
	return m
}

func TestLambdaHandlerWritesLambdasJSONShape(t *testing.T) {
	t.Setenv("AWS_LAMBDA_LOG_LEVEL", "WARN")
	var buf bytes.Buffer
	l := slog.New(middleware.NewLambdaHandler(&buf, nil))
	l.Info("hidden")
	if buf.Len() != 0 {
		t.Errorf("an info line passed AWS_LAMBDA_LOG_LEVEL=WARN: %s", buf.String())
	}
	l.Warn("shown", "message_id", "m1")
	m := decodeLine(t, &buf)
	if m["message"] != "shown" || m["level"] != "WARN" || m["timestamp"] == nil || m["message_id"] != "m1" || m["msg"] != nil || m["time"] != nil {
		t.Errorf("line = %v, want timestamp, level, message and the fields", m)
	}
}

func TestCloudLoggingHandlerWritesSeverityAndTrace(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(middleware.NewCloudLoggingHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}, "my-proj"))
	for _, tc := range []struct {
		level slog.Level
		want  string
	}{{slog.LevelDebug, "DEBUG"}, {slog.LevelInfo, "INFO"}, {slog.LevelWarn, "WARNING"}, {slog.LevelError, "ERROR"}} {
		l.Log(context.Background(), tc.level, "x")
		if m := decodeLine(t, &buf); m["severity"] != tc.want || m["message"] != "x" {
			t.Errorf("level %v: line = %v, want severity %s", tc.level, m, tc.want)
		}
	}
	// A trace_id field (as the Logging middleware writes it) becomes the
	// trace Cloud Logging groups by.
	l.With("trace_id", traceID).Info("with field")
	if m := decodeLine(t, &buf); m["logging.googleapis.com/trace"] != "projects/my-proj/traces/"+traceID || m["trace_id"] != nil {
		t.Errorf("line = %v, want logging.googleapis.com/trace from trace_id", m)
	}
	// The span in the context gives trace, span ID and sampling.
	tid, _ := trace.TraceIDFromHex(traceID)
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	l.InfoContext(ctx, "in span")
	m := decodeLine(t, &buf)
	if m["logging.googleapis.com/trace"] != "projects/my-proj/traces/"+traceID || m["logging.googleapis.com/spanId"] != "00f067aa0ba902b7" || m["logging.googleapis.com/trace_sampled"] != true {
		t.Errorf("line = %v, want the context span's trace fields", m)
	}
}

func TestAzureHandlerWritesJSON(t *testing.T) {
	var buf bytes.Buffer
	slog.New(middleware.NewAzureHandler(&buf, nil)).Error("bad", "message_id", "m1")
	if m := decodeLine(t, &buf); m["message"] != "bad" || m["level"] != "ERROR" || m["timestamp"] == nil {
		t.Errorf("line = %v", m)
	}
}

func TestPlatformLoggerFollowsTheEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want string
	}{
		{"AWS_LAMBDA_FUNCTION_NAME", "*slog.JSONHandler"},
		{"K_SERVICE", "*middleware.cloudLogging"},
		{"WEBSITE_SITE_NAME", "*slog.JSONHandler"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			for _, e := range []string{"AWS_LAMBDA_FUNCTION_NAME", "K_SERVICE", "FUNCTION_TARGET", "FUNCTIONS_CUSTOMHANDLER_PORT", "WEBSITE_SITE_NAME"} {
				t.Setenv(e, "")
			}
			t.Setenv(tc.env, "fn")
			if got := typeName(middleware.PlatformLogger().Handler()); got != tc.want {
				t.Errorf("handler = %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("elsewhere", func(t *testing.T) {
		for _, e := range []string{"AWS_LAMBDA_FUNCTION_NAME", "K_SERVICE", "FUNCTION_TARGET", "FUNCTIONS_CUSTOMHANDLER_PORT", "WEBSITE_SITE_NAME"} {
			t.Setenv(e, "")
		}
		if middleware.PlatformLogger() != slog.Default() {
			t.Error("PlatformLogger outside a platform is not slog.Default()")
		}
	})
}
