package servicebus

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

type logsKey struct{}

type invocationLogs struct {
	mu sync.Mutex
	l  []string
}

func (il *invocationLogs) add(s string) {
	il.mu.Lock()
	il.l = append(il.l, s)
	il.mu.Unlock()
}

func (il *invocationLogs) lines() []string {
	il.mu.Lock()
	defer il.mu.Unlock()
	return append([]string(nil), il.l...)
}

// Logf adds a line to the Logs of the custom-handler invocation that ctx
// belongs to; the Functions host writes each line to the function's log
// (Application Insights) when the invocation succeeds. Outside an invocation
// it logs with slog.Default. It is safe for concurrent use.
func Logf(ctx context.Context, format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if il, ok := ctx.Value(logsKey{}).(*invocationLogs); ok {
		il.add(s)
		return
	}
	slog.Default().InfoContext(ctx, s)
}
