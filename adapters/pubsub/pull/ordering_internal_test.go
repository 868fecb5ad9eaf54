package pull

// A white-box test: keyGate decides what pstest cannot show, because pstest
// delivers one message per ordering key at a time, while Pub/Sub may have
// delivered later messages of a key before an earlier one fails.

import (
	"testing"
	"time"

	"github.com/eventfn/eventfn/handler"
)

func TestKeyGate(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	msg := func(id string, pub int, attempt int) *handler.Message {
		return &handler.Message{ID: id, OrderingKey: "k", PublishedAt: t0.Add(time.Duration(pub) * time.Second), DeliveryAttempt: attempt}
	}
	type step struct {
		m      *handler.Message
		admit  bool
		acked  bool // how it settles when admitted
		at     time.Duration
		reason string
	}
	tests := []struct {
		name        string
		maxAttempts int
		steps       []step
	}{
		{"later messages wait behind a failure until it succeeds", 0, []step{
			{m: msg("m1", 1, 0), admit: true, acked: false},
			{m: msg("m2", 2, 0), admit: false, reason: "m1 failed"},
			{m: msg("m1", 1, 0), admit: true, acked: true},
			{m: msg("m2", 2, 0), admit: true, acked: true},
		}},
		{"a failure on the last attempt lets the key move on", 5, []step{
			{m: msg("m1", 1, 4), admit: true, acked: false},
			{m: msg("m2", 2, 1), admit: false},
			{m: msg("m1", 1, 5), admit: true, acked: false},
			{m: msg("m2", 2, 2), admit: true, acked: true},
		}},
		{"an earlier message still runs", 0, []step{
			{m: msg("m2", 2, 0), admit: true, acked: false},
			{m: msg("m1", 1, 0), admit: true, acked: true},
			{m: msg("m3", 3, 0), admit: false},
		}},
		{"a block not refreshed within the timeout is lifted", 0, []step{
			{m: msg("m1", 1, 0), admit: true, acked: false},
			{m: msg("m2", 2, 0), admit: false, at: time.Minute},
			{m: msg("m2", 2, 0), admit: true, acked: true, at: 2 * time.Hour},
		}},
		{"messages without a key are never held", 0, []step{
			{m: &handler.Message{ID: "a"}, admit: true, acked: false},
			{m: &handler.Message{ID: "b"}, admit: true, acked: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &keyGate{maxAttempts: tt.maxAttempts, timeout: time.Hour}
			for i, s := range tt.steps {
				now := t0.Add(time.Minute + s.at)
				if got := g.admit(s.m, now); got != s.admit {
					t.Fatalf("step %d (%s): admit = %v, want %v", i, s.m.ID, got, s.admit)
				}
				if s.admit {
					g.settled(s.m, s.acked, now)
				}
			}
		})
	}
}
