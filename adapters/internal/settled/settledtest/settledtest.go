// Package settledtest records what an adapter reports through its result
// hook and logs through slog, for the adapters' tests of the convention in
// package settled.
package settledtest

import (
	"context"
	"log/slog"
	"sync"

	"github.com/eventfn/eventfn/handler"
)

// Logs is a slog.Handler that keeps every record with its attributes as
// strings (the message under "msg"). It is safe for concurrent use.
type Logs struct {
	mu   sync.Mutex
	recs []map[string]string
}

// Enabled implements slog.Handler: every level is kept.
func (l *Logs) Enabled(context.Context, slog.Level) bool { return true }

// WithAttrs implements slog.Handler.
func (l *Logs) WithAttrs([]slog.Attr) slog.Handler { return l }

// WithGroup implements slog.Handler.
func (l *Logs) WithGroup(string) slog.Handler { return l }

// Handle implements slog.Handler.
func (l *Logs) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	l.mu.Lock()
	l.recs = append(l.recs, m)
	l.mu.Unlock()
	return nil
}

// ByMessage returns the records that name a message ID, by ID.
func (l *Logs) ByMessage() map[string][]map[string]string {
	return l.filter(func(map[string]string) bool { return true })
}

// Settled returns the settlement lines (records with a "settlement"
// attribute), by message ID.
func (l *Logs) Settled() map[string][]map[string]string {
	return l.filter(func(r map[string]string) bool { _, ok := r["settlement"]; return ok })
}

func (l *Logs) filter(keep func(map[string]string) bool) map[string][]map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]map[string]string{}
	for _, r := range l.recs {
		if id, ok := r["message_id"]; ok && keep(r) {
			out[id] = append(out[id], r)
		}
	}
	return out
}

// Hooks is a handler.ResultHook (its Hook method) that keeps every report.
// It is safe for concurrent use.
type Hooks struct {
	mu      sync.Mutex
	reports map[string][]handler.Report
}

// Hook records r; pass it as an adapter's OnResult.
func (h *Hooks) Hook(_ context.Context, r handler.Report) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.reports == nil {
		h.reports = map[string][]handler.Report{}
	}
	h.reports[r.Result.Message.ID] = append(h.reports[r.Result.Message.ID], r)
}

// Get returns a copy of the reports by message ID.
func (h *Hooks) Get() map[string][]handler.Report {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][]handler.Report{}
	for k, v := range h.reports {
		out[k] = append([]handler.Report(nil), v...)
	}
	return out
}
