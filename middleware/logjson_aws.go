package middleware

import (
	"io"
	"log/slog"
	"os"
	"strings"
)

// NewLambdaHandler returns a slog JSON handler writing the shape AWS
// Lambda's JSON log format reads: "timestamp", "level" and "message" keys,
// so the function's log-level filter and CloudWatch Logs Insights apply.
// When opts sets no Level, the level comes from AWS_LAMBDA_LOG_LEVEL
// (Lambda's advanced logging controls), else Info. The handler is safe for
// concurrent use.
func NewLambdaHandler(w io.Writer, opts *slog.HandlerOptions) slog.Handler {
	o := renamed(opts, "timestamp", "level", "message", nil)
	if o.Level == nil {
		o.Level = lambdaLevel(os.Getenv("AWS_LAMBDA_LOG_LEVEL"))
	}
	return slog.NewJSONHandler(w, o)
}

func lambdaLevel(s string) slog.Level {
	switch strings.ToUpper(s) {
	case "TRACE", "DEBUG":
		return slog.LevelDebug
	case "WARN":
		return slog.LevelWarn
	case "ERROR", "FATAL":
		return slog.LevelError
	}
	return slog.LevelInfo
}
