package pull

import (
	"sync"
	"time"

	"github.com/eventfn/eventfn/handler"
)

// keyGate keeps ordering keys in order across redeliveries. Receive's
// client already runs the messages of one key one at a time; keyGate adds
// what a batch engine cannot see across callbacks: once a message of a key
// fails, later messages of that key that were already delivered are nacked
// without running until the failed one is redelivered and succeeds (or is
// dead-lettered, or the block times out). It is safe for concurrent use.
type keyGate struct {
	maxAttempts int           // the subscription's max delivery attempts; 0 unknown
	timeout     time.Duration // a block not refreshed for this long is lifted

	mu      sync.Mutex
	blocked map[string]keyBlock
}

type keyBlock struct {
	id        string    // the failed message
	published time.Time // its publish time
	since     time.Time // when it last failed
}

// admit reports whether m may run now.
func (g *keyGate) admit(m *handler.Message, now time.Time) bool {
	if m.OrderingKey == "" {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	b, ok := g.blocked[m.OrderingKey]
	switch {
	case !ok, b.id == m.ID:
		return true
	case now.Sub(b.since) > g.timeout:
		delete(g.blocked, m.OrderingKey)
		return true
	case !m.PublishedAt.IsZero() && m.PublishedAt.Before(b.published):
		return true // an earlier message than the one that failed
	}
	return false
}

// settled records how an admitted message ended.
func (g *keyGate) settled(m *handler.Message, acked bool, now time.Time) {
	if m.OrderingKey == "" {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	b, ok := g.blocked[m.OrderingKey]
	if acked || (g.maxAttempts > 0 && m.DeliveryAttempt >= g.maxAttempts) {
		// Done, or about to move to the dead-letter topic: Pub/Sub now
		// delivers the next message of the key.
		if ok && b.id == m.ID {
			delete(g.blocked, m.OrderingKey)
		}
		return
	}
	if ok && b.id != m.ID && !b.published.After(m.PublishedAt) {
		return // an earlier failure already holds the key
	}
	if g.blocked == nil {
		g.blocked = make(map[string]keyBlock)
	}
	g.blocked[m.OrderingKey] = keyBlock{id: m.ID, published: m.PublishedAt, since: now}
}
