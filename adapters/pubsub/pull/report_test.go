package pull_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	gpubsub "cloud.google.com/go/pubsub/v2"

	"github.com/eventfn/eventfn/adapters/internal/settled/settledtest"
	"github.com/eventfn/eventfn/adapters/pubsub/pull"
	"github.com/eventfn/eventfn/handler"
)

func TestReceiveReportsEveryMessageOnPstest(t *testing.T) {
	c := newClient(t)
	topic := newTopic(t, c)
	dlTopic := newTopic(t, c)
	sub := newSub(t, c, topic, nil)
	dl := c.Publisher(dlTopic)
	defer dl.Stop()
	logs := &settledtest.Logs{}
	hooks := &settledtest.Hooks{}
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
	stop := startReceive(t, c, sub, h, &pull.ReceiveOptions{Logger: slog.New(logs), OnResult: hooks.Hook, DeadLetter: pull.PublishDeadLetters(dl)})
	waitFor(t, "every message to settle", func() bool {
		r := hooks.Get()
		return len(r[ids[0]]) == 1 && len(r[ids[1]]) == 2 && len(r[ids[2]]) == 1
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	r := hooks.Get()
	if r[ids[0]][0].Settlement != handler.SettledAck || r[ids[2]][0].Settlement != handler.SettledDeadLetter {
		t.Errorf("ok %v, poison %v", r[ids[0]], r[ids[2]])
	}
	if f := r[ids[1]]; f[0].Settlement != handler.SettledRetry || f[1].Settlement != handler.SettledAck {
		t.Errorf("flaky reports %v, want retry then ack", f)
	}
	lines := logs.Settled()
	if len(lines[ids[1]]) != 1 || !strings.Contains(lines[ids[1]][0]["error"], "transient") ||
		len(lines[ids[2]]) != 1 || lines[ids[2]][0]["settlement"] != "dead_letter" || len(lines[ids[0]]) != 0 {
		t.Errorf("log lines %v", lines)
	}
}
