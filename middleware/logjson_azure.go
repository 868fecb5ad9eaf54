package middleware

import (
	"io"
	"log/slog"
)

// NewAzureHandler returns a slog JSON handler for an Azure Functions
// custom handler, whose stdout the Functions host forwards to Application
// Insights as traces: one JSON object per line with "timestamp", "level"
// and "message" keys. The handler is safe for concurrent use.
func NewAzureHandler(w io.Writer, opts *slog.HandlerOptions) slog.Handler {
	return slog.NewJSONHandler(w, renamed(opts, "timestamp", "level", "message", nil))
}
