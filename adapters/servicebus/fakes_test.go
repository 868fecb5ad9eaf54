package servicebus_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// fakeClock is a manual clock: After channels fire only when Advance moves
// the time past them.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	changed chan struct{} // closed and replaced whenever waiters change
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), changed: make(chan struct{})}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), ch: ch})
	close(c.changed)
	c.changed = make(chan struct{})
	return ch
}

// Advance moves the clock and fires the channels that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
			continue
		}
		kept = append(kept, w)
	}
	c.waiters = kept
}

// waitWaiters blocks until at least n channels are pending; it only guards
// against a hang, it asserts nothing about time.
func (c *fakeClock) waitWaiters(t *testing.T, n int) {
	t.Helper()
	guard := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		got, ch := len(c.waiters), c.changed
		c.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-guard:
			t.Fatalf("fake clock: %d pending timers, want %d", got, n)
		}
	}
}

// settlement is one call the fake receiver recorded.
type settlement struct {
	action      string // complete, abandon, dead-letter
	id          string
	reason      string
	description string
	props       map[string]any
	err         error
}

// fakeReceiver serves scripted batches, then blocks until the context ends.
// It records settlements and renewals; a settle or renew after the lock's
// expiry (by the fake clock) fails with CodeLockLost, as Service Bus does.
type fakeReceiver struct {
	clock   *fakeClock
	lockFor time.Duration

	mu          sync.Mutex
	batches     [][]*azservicebus.ReceivedMessage
	settled     []settlement
	settledCh   chan settlement
	renewed     []string
	renewCh     chan string
	settleErr   error // returned by every settlement when set
	sessionLock time.Time
}

func newFakeReceiver(clock *fakeClock, lockFor time.Duration, batches ...[]*azservicebus.ReceivedMessage) *fakeReceiver {
	return &fakeReceiver{clock: clock, lockFor: lockFor, batches: batches, settledCh: make(chan settlement, 100), renewCh: make(chan string, 100)}
}

func (f *fakeReceiver) ReceiveMessages(ctx context.Context, max int, _ *azservicebus.ReceiveMessagesOptions) ([]*azservicebus.ReceivedMessage, error) {
	f.mu.Lock()
	if len(f.batches) > 0 {
		b := f.batches[0]
		f.batches = f.batches[1:]
		until := f.clock.Now().Add(f.lockFor)
		for _, m := range b {
			if m != nil {
				u := until
				m.LockedUntil = &u
			}
		}
		f.sessionLock = until
		f.mu.Unlock()
		return b, nil
	}
	f.mu.Unlock()
	<-ctx.Done()
	return nil, ctx.Err()
}

func (f *fakeReceiver) settle(m *azservicebus.ReceivedMessage, s settlement) error {
	f.mu.Lock()
	switch {
	case f.settleErr != nil:
		s.err = f.settleErr
	case m.LockedUntil != nil && f.clock.Now().After(*m.LockedUntil):
		s.err = &azservicebus.Error{Code: azservicebus.CodeLockLost}
	}
	s.id = m.MessageID
	f.settled = append(f.settled, s)
	f.mu.Unlock()
	f.settledCh <- s
	return s.err
}

func (f *fakeReceiver) CompleteMessage(_ context.Context, m *azservicebus.ReceivedMessage, _ *azservicebus.CompleteMessageOptions) error {
	return f.settle(m, settlement{action: "complete"})
}

func (f *fakeReceiver) AbandonMessage(_ context.Context, m *azservicebus.ReceivedMessage, _ *azservicebus.AbandonMessageOptions) error {
	return f.settle(m, settlement{action: "abandon"})
}

func (f *fakeReceiver) DeadLetterMessage(_ context.Context, m *azservicebus.ReceivedMessage, o *azservicebus.DeadLetterOptions) error {
	s := settlement{action: "dead-letter"}
	if o != nil && o.Reason != nil {
		s.reason = *o.Reason
	}
	if o != nil && o.ErrorDescription != nil {
		s.description = *o.ErrorDescription
	}
	if o != nil {
		s.props = o.PropertiesToModify
	}
	return f.settle(m, s)
}

func (f *fakeReceiver) settlements() map[string]settlement {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]settlement{}
	for _, s := range f.settled {
		out[s.id] = s
	}
	return out
}

func (f *fakeReceiver) renewals() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.renewed)
}

// messageRenewer adds per-message lock renewal, like *azservicebus.Receiver.
type messageRenewer struct{ *fakeReceiver }

func (f messageRenewer) RenewMessageLock(_ context.Context, m *azservicebus.ReceivedMessage, _ *azservicebus.RenewMessageLockOptions) error {
	f.mu.Lock()
	now := f.clock.Now()
	if m.LockedUntil != nil && now.After(*m.LockedUntil) {
		f.mu.Unlock()
		return &azservicebus.Error{Code: azservicebus.CodeLockLost}
	}
	until := now.Add(f.lockFor)
	m.LockedUntil = &until
	f.renewed = append(f.renewed, m.MessageID)
	f.mu.Unlock()
	f.renewCh <- m.MessageID
	return nil
}

// sessionRenewer adds session lock renewal, like *azservicebus.SessionReceiver.
type sessionRenewer struct{ *fakeReceiver }

func (f sessionRenewer) RenewSessionLock(context.Context, *azservicebus.RenewSessionLockOptions) error {
	f.mu.Lock()
	f.sessionLock = f.clock.Now().Add(f.lockFor)
	f.renewed = append(f.renewed, "session")
	f.mu.Unlock()
	f.renewCh <- "session"
	return nil
}

func (f sessionRenewer) LockedUntil() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sessionLock
}

func received(id string, count uint32, body string) *azservicebus.ReceivedMessage {
	return &azservicebus.ReceivedMessage{MessageID: id, DeliveryCount: count, Body: []byte(body)}
}

func receivedInSession(id, session, body string) *azservicebus.ReceivedMessage {
	m := received(id, 1, body)
	m.SessionID = &session
	return m
}
