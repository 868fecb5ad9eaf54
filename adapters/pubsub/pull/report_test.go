package pull_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	gpubsub "cloud.google.com/go/pubsub/v2"

	"github.com/eventfn/eventfn/adapters/pubsub/pull"
	"github.com/eventfn/eventfn/handler"
)

// recordingHandler is a slog.Handler that keeps every record with its
// attributes as strings.
type recordingHandler struct {
	mu   sync.Mutex
	recs []map[string]string
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	h.mu.Lock()
	h.recs = append(h.recs, m)
	h.mu.Unlock()
	return nil
}

// settledLines returns the settlement log lines by message ID.
func (h *recordingHandler) settledLines() map[string][]map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][]map[string]string{}
	for _, r := range h.recs {
		if _, ok := r["settlement"]; ok {
			out[r["message_id"]] = append(out[r["message_id"]], r)
		}
	}
	return out
}

type hookRecorder struct {
	mu      sync.Mutex
	reports map[string][]handler.Report
}

func (h *hookRecorder) hook(_ context.Context, r handler.Report) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.reports == nil {
		h.reports = map[string][]handler.Report{}
	}
	h.reports[r.Result.Message.ID] = append(h.reports[r.Result.Message.ID], r)
}

func (h *hookRecorder) get() map[string][]handler.Report {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][]handler.Report{}
	for k, v := range h.reports {
		out[k] = append([]handler.Report(nil), v...)
	}
	return out
}

func TestReceiveReportsEveryMessageOnPstest(t *testing.T) {
	c := newClient(t)
	topic := newTopic(t, c)
	dlTopic := newTopic(t, c)
	sub := newSub(t, c, topic, nil)
	dl := c.Publisher(dlTopic)
	defer dl.Stop()
	logs := &recordingHandler{}
	hooks := &hookRecorder{}
	var mu sync.Mutex
	runs := map[string]int{}
	h := handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		mu.Lock()
		runs[string(m.Body)]++
		n := runs[string(m.Body)]
		mu.Unlock()
		switch string(m.Body) {
		case "flaky":
			if n == 1 {
				return errors.New("transient")
			}
		case "poison":
			return handler.Permanent(errors.New("never"))
		}
		return nil
	})
	p := c.Publisher(topic)
	defer p.Stop()
	ids := publish(t, p, &gpubsub.Message{Data: []byte("ok")}, &gpubsub.Message{Data: []byte("flaky")}, &gpubsub.Message{Data: []byte("poison")})
	stop := startReceive(t, c, sub, h, &pull.ReceiveOptions{Logger: slog.New(logs), OnResult: hooks.hook, DeadLetter: pull.PublishDeadLetters(dl)})
	waitFor(t, "every message to settle", func() bool {
		r := hooks.get()
		return len(r[ids[0]]) == 1 && len(r[ids[1]]) == 2 && len(r[ids[2]]) == 1
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	r := hooks.get()
	if r[ids[0]][0].Settlement != handler.SettledAck || r[ids[2]][0].Settlement != handler.SettledDeadLetter {
		t.Errorf("ok %v, poison %v", r[ids[0]], r[ids[2]])
	}
	if f := r[ids[1]]; f[0].Settlement != handler.SettledRetry || f[1].Settlement != handler.SettledAck {
		t.Errorf("flaky reports %v, want retry then ack", f)
	}
	lines := logs.settledLines()
	if len(lines[ids[1]]) != 1 || !strings.Contains(lines[ids[1]][0]["error"], "transient") ||
		len(lines[ids[2]]) != 1 || lines[ids[2]][0]["settlement"] != "dead_letter" || len(lines[ids[0]]) != 0 {
		t.Errorf("log lines %v", lines)
	}
}
