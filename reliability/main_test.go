package reliability_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"testing"

	"github.com/redis/go-redis/v9"
)

// children are the modes the test binary runs in when a test re-executes it
// as a separate process (a second function, a process to kill).
var children = map[string]func() error{}

// TestMain runs a child mode when RELIABILITY_CHILD names one.
func TestMain(m *testing.M) {
	if mode := os.Getenv("RELIABILITY_CHILD"); mode != "" {
		run, ok := children[mode]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown child mode %q\n", mode)
			os.Exit(2)
		}
		if err := run(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// The middleware logs the store errors these tests provoke on purpose.
	if os.Getenv("RELIABILITY_VERBOSE") == "" {
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
		redis.SetLogger(quietRedis{})
	}
	os.Exit(m.Run())
}

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// child returns a command that runs this test binary in mode with env.
func child(t *testing.T, mode string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "RELIABILITY_CHILD="+mode), env...)
	return cmd
}
