package idempotency_test

import (
	"io"
	"log/slog"
	"os"
	"testing"
)

// TestMain silences the middleware's default logger: these tests provoke
// the errors it logs on purpose.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	os.Exit(m.Run())
}
