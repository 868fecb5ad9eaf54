package middleware_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/middleware"
)

const (
	traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	traceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
)

func TestLoggingPutsTheMessagesFieldsInTheContextLogger(t *testing.T) {
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "")
	t.Setenv("K_SERVICE", "orders-svc")
	rec := newRecorder(slog.LevelDebug)
	h := middleware.Logging(&middleware.LoggingOptions{
		Logger: slog.New(rec),
		Attrs: func(context.Context, *handler.Message) []slog.Attr {
			return []slog.Attr{slog.String("aws_request_id", "req-1")}
		},
	})(handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		middleware.LoggerFrom(ctx).InfoContext(ctx, "working")
		return nil
	}))
	m := msg("m1")
	m.OrderingKey = "group-a"
	m.DeliveryAttempt = 3
	m.Attributes = map[string]string{"correlation_id": "corr-9", "traceparent": traceparent}
	if err := h.Handle(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	logs := rec.all()
	if len(logs) != 2 {
		t.Fatalf("logged %d lines, want the handler's and the success line: %+v", len(logs), logs)
	}
	want := map[string]string{
		"message_id": "m1", "source": "aws:sqs", "queue": "arn:aws:sqs:us-east-1:000000000000:orders",
		"delivery_attempt": "3", "ordering_key": "group-a", "correlation_id": "corr-9", "trace_id": traceID,
		"aws_request_id": "req-1", "function_name": "orders-svc",
	}
	for _, l := range logs {
		for k, v := range want {
			if got := l.Attrs[k].String(); got != v {
				t.Errorf("line %q: %s = %q, want %q", l.Msg, k, got, v)
			}
		}
		if _, ok := l.Attrs["body"]; ok {
			t.Errorf("line %q logged the body without LogBody", l.Msg)
		}
	}
	if logs[1].Level != slog.LevelDebug || logs[1].Attrs["outcome"].String() != "ack" {
		t.Errorf("success line = %+v, want debug with outcome=ack", logs[1])
	}
}

func TestLoggingCorrelationFallsBackToTheTraceID(t *testing.T) {
	rec := newRecorder(slog.LevelDebug)
	h := middleware.Logging(&middleware.LoggingOptions{Logger: slog.New(rec), CorrelationAttribute: "x-request-id"})(
		handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }))
	m := msg("m1")
	m.Attributes = map[string]string{"correlation_id": "not-this-one", "traceparent": traceparent}
	_ = h.Handle(context.Background(), m)
	if got := rec.all()[0].Attrs["correlation_id"].String(); got != traceID {
		t.Errorf("correlation_id = %q, want the trace ID %s", got, traceID)
	}
}

func TestLoggingLogsFailuresAtTheirLevel(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		level slog.Level
		class string
		out   string
	}{
		{"a transient error is a warning", errBlip, slog.LevelWarn, "transient", "retry"},
		{"a permanent error is an error", handler.Permanent(errBlip), slog.LevelError, "permanent", "reject"},
		{"a retry-after is a warning", handler.RetryAfter(5e9, errBlip), slog.LevelWarn, "retry_after", "retry"},
		{"a recovered panic is an error", &handler.PanicError{Value: "x"}, slog.LevelError, "panic", "retry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(slog.LevelInfo)
			h := middleware.Logging(&middleware.LoggingOptions{Logger: slog.New(rec)})(
				handler.HandlerFunc(func(context.Context, *handler.Message) error { return tc.err }))
			if err := h.Handle(context.Background(), msg("m1")); !errors.Is(err, tc.err) {
				t.Fatalf("Handle = %v, want the handler's error unchanged", err)
			}
			logs := rec.all()
			if len(logs) != 1 {
				t.Fatalf("logged %d lines, want 1", len(logs))
			}
			l := logs[0]
			if l.Level != tc.level || l.Attrs["error_class"].String() != tc.class || l.Attrs["outcome"].String() != tc.out ||
				l.Attrs["error"].String() != tc.err.Error() || l.Attrs["message_id"].String() != "m1" {
				t.Errorf("line = %+v, want level %v class %s outcome %s with the error and message ID", l, tc.level, tc.class, tc.out)
			}
		})
	}
}

func TestLoggingSuccessIsQuietAboveDebug(t *testing.T) {
	rec := newRecorder(slog.LevelInfo)
	h := middleware.Logging(&middleware.LoggingOptions{Logger: slog.New(rec)})(
		handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }))
	_ = h.Handle(context.Background(), msg("m1"))
	if n := len(rec.all()); n != 0 {
		t.Errorf("logged %d lines for a success at info level, want 0", n)
	}
}

func TestLoggingBodyOnlyWhenAskedAndTruncated(t *testing.T) {
	rec := newRecorder(slog.LevelDebug)
	h := middleware.Logging(&middleware.LoggingOptions{Logger: slog.New(rec), LogBody: true, MaxBody: 8})(
		handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }))
	m := msg("m1")
	m.Body = []byte(strings.Repeat("é", 20))
	_ = h.Handle(context.Background(), m)
	b := rec.all()[0].Attrs["body"].String()
	if b == "" || len(b) > 8 || !utf8.ValidString(b) || !strings.HasPrefix(string(m.Body), b) {
		t.Errorf("body = %q, want at most 8 bytes of valid UTF-8 from the body", b)
	}
}

func TestLoggingLogsAPanicAndReraisesIt(t *testing.T) {
	rec := newRecorder(slog.LevelInfo)
	h := middleware.Logging(&middleware.LoggingOptions{Logger: slog.New(rec)})(handler.HandlerFunc(boom))
	res := handler.Process(context.Background(), h, []*handler.Message{msg("m1")}, nil)
	var pe *handler.PanicError
	if !errors.As(res[0].Err, &pe) {
		t.Fatalf("result = %v, want Process to see the panic", res[0].Err)
	}
	logs := rec.all()
	if len(logs) != 1 || logs[0].Level != slog.LevelError || !strings.Contains(logs[0].Attrs["stack"].String(), "boom") {
		t.Errorf("logs = %+v, want one error line with the stack", logs)
	}
}

func TestLoggerFromOutsideLoggingIsTheDefault(t *testing.T) {
	if middleware.LoggerFrom(context.Background()) != slog.Default() {
		t.Error("LoggerFrom without Logging is not slog.Default()")
	}
}
