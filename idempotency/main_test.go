package idempotency_test

import (
	"io"
	"log/slog"
	"os"
	"testing"
)

const testScope = "idempotency-test"

// TestMain silences the middleware's default logger: these tests provoke
// the errors it logs on purpose.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	// The default scope is the platform's function name; these tests run as
	// one function.
	os.Setenv("AWS_LAMBDA_FUNCTION_NAME", testScope)
	os.Exit(m.Run())
}
