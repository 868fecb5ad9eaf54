package middleware

import (
	"context"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Cloud Logging's special fields in a structured log line.
const (
	gcpTrace        = "logging.googleapis.com/trace"
	gcpSpanID       = "logging.googleapis.com/spanId"
	gcpTraceSampled = "logging.googleapis.com/trace_sampled"
)

// NewCloudLoggingHandler returns a slog JSON handler writing the fields
// Cloud Logging reads from a Cloud Functions or Cloud Run process's stdout:
// "severity" (DEBUG, INFO, WARNING, ERROR), "message", "time", and
// "logging.googleapis.com/trace" ("projects/PROJECT/traces/TRACE_ID", from
// a trace_id field such as Logging's, or the span in the context), with
// "logging.googleapis.com/spanId" and "trace_sampled" from the context's
// span, so lines group under their trace. project is the Google Cloud
// project (GOOGLE_CLOUD_PROJECT); when empty the trace field holds the bare
// trace ID. The handler is safe for concurrent use.
func NewCloudLoggingHandler(w io.Writer, opts *slog.HandlerOptions, project string) slog.Handler {
	o := renamed(opts, "time", "severity", "message", severity)
	inner := o.ReplaceAttr
	o.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == LogTraceID {
			a = slog.String(gcpTrace, traceName(project, a.Value.String()))
		}
		return inner(groups, a)
	}
	return &cloudLogging{Handler: slog.NewJSONHandler(w, o), project: project}
}

type cloudLogging struct {
	slog.Handler
	project  string
	hasTrace bool // a trace_id field was added with WithAttrs
}

func (h *cloudLogging) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		if !h.hasTrace {
			r.AddAttrs(slog.String(LogTraceID, sc.TraceID().String()))
		}
		r.AddAttrs(slog.String(gcpSpanID, sc.SpanID().String()), slog.Bool(gcpTraceSampled, sc.IsSampled()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h *cloudLogging) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.Handler = h.Handler.WithAttrs(as)
	for _, a := range as {
		if a.Key == LogTraceID {
			c.hasTrace = true
		}
	}
	return &c
}

func (h *cloudLogging) WithGroup(name string) slog.Handler {
	c := *h
	c.Handler = h.Handler.WithGroup(name)
	return &c
}

func traceName(project, id string) string {
	if project == "" {
		return id
	}
	return "projects/" + project + "/traces/" + id
}

func severity(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	}
	return "DEBUG"
}
