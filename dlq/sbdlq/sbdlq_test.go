package sbdlq_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/eventfn/eventfn/dlq"
	"github.com/eventfn/eventfn/dlq/sbdlq"
	"github.com/eventfn/eventfn/handler"
)

// fakeEntity is a queue and its dead-letter subqueue: the receiver side
// serves the subqueue in peek-lock mode, the sender side appends to the
// queue. No Service Bus emulator runs here (see the package doc).
type fakeEntity struct {
	mu      sync.Mutex
	dead    []*azservicebus.ReceivedMessage
	locked  map[*azservicebus.ReceivedMessage]bool
	queue   []*azservicebus.Message
	sendErr error
	events  []string
}

func newFake(n int) *fakeEntity {
	f := &fakeEntity{locked: map[*azservicebus.ReceivedMessage]bool{}}
	now := time.Now()
	for i := 0; i < n; i++ {
		reason, desc, sess := "MaxDeliveryCountExceeded", "delivered 10 times", fmt.Sprint("s", i%2)
		f.dead = append(f.dead, &azservicebus.ReceivedMessage{
			MessageID: fmt.Sprint("id-", i), Body: []byte(fmt.Sprint(i)), DeliveryCount: 10,
			ApplicationProperties: map[string]any{"tenant": fmt.Sprint("t", i%2), "n": int64(i)},
			EnqueuedTime:          &now, DeadLetterReason: &reason, DeadLetterErrorDescription: &desc, SessionID: &sess,
		})
	}
	return f
}

func (f *fakeEntity) ReceiveMessages(ctx context.Context, max int, _ *azservicebus.ReceiveMessagesOptions) ([]*azservicebus.ReceivedMessage, error) {
	f.mu.Lock()
	var out []*azservicebus.ReceivedMessage
	for _, m := range f.dead {
		if len(out) < max && !f.locked[m] {
			f.locked[m] = true
			out = append(out, m)
		}
	}
	f.mu.Unlock()
	if len(out) == 0 { // the SDK blocks until a message arrives
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return out, nil
}

func (f *fakeEntity) PeekMessages(_ context.Context, max int, _ *azservicebus.PeekMessagesOptions) ([]*azservicebus.ReceivedMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dead[:min(max, len(f.dead))], nil
}

func (f *fakeEntity) CompleteMessage(_ context.Context, m *azservicebus.ReceivedMessage, _ *azservicebus.CompleteMessageOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.locked[m] {
		return errors.New("lock lost")
	}
	for i, d := range f.dead {
		if d == m {
			f.dead = append(f.dead[:i], f.dead[i+1:]...)
		}
	}
	delete(f.locked, m)
	f.events = append(f.events, "complete "+m.MessageID)
	return nil
}

func (f *fakeEntity) AbandonMessage(_ context.Context, m *azservicebus.ReceivedMessage, _ *azservicebus.AbandonMessageOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.locked, m)
	return nil
}

func (f *fakeEntity) SendMessage(_ context.Context, m *azservicebus.Message, _ *azservicebus.SendMessageOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sendErr != nil {
		return f.sendErr
	}
	f.queue = append(f.queue, m)
	f.events = append(f.events, "send "+fmt.Sprint(m.ApplicationProperties[handler.AttrMessageID]))
	return nil
}

func TestRedriveResendsThenCompletes(t *testing.T) {
	f := newFake(12)
	d := sbdlq.New(f, f, "orders", &sbdlq.Options{WaitTime: 50 * time.Millisecond})
	peeked, err := d.Peek(context.Background(), 3)
	if err != nil || len(peeked) != 3 || peeked[0].Error != "MaxDeliveryCountExceeded: delivered 10 times" || peeked[0].DeliveryCount != 10 || peeked[0].GroupID != "s0" {
		t.Fatalf("Peek: %+v, %v", peeked, err)
	}
	st, err := dlq.Redrive(context.Background(), d, &dlq.RedriveOptions{Filter: &dlq.Filter{Attributes: map[string]string{"tenant": "t1"}}})
	if err != nil || st.Moved != 6 || st.Skipped != 6 || len(f.dead) != 6 || len(f.locked) != 0 {
		t.Fatalf("filtered: %+v, %v, dead %d, locked %d", st, err, len(f.dead), len(f.locked))
	}
	st, err = dlq.Redrive(context.Background(), d, nil)
	if err != nil || st.Moved != 6 || len(f.dead) != 0 || len(f.queue) != 12 {
		t.Fatalf("rest: %+v, %v, dead %d, queue %d", st, err, len(f.dead), len(f.queue))
	}
	for i := 0; i < len(f.events); i += 2 {
		if f.events[i] != "send "+f.events[i+1][len("complete "):] {
			t.Fatalf("events %v: every complete must follow its send", f.events)
		}
	}
	for _, m := range f.queue {
		orig := m.ApplicationProperties[handler.AttrMessageID].(string)
		if *m.MessageID != "eventfn-redrive-"+orig || m.SessionID == nil || m.ApplicationProperties["n"] == nil {
			t.Errorf("copy %s: MessageID %s, session %v, props %v", orig, *m.MessageID, m.SessionID, m.ApplicationProperties)
		}
		if _, ok := m.ApplicationProperties["n"].(int64); !ok {
			t.Errorf("copy %s lost the type of a numeric property: %T", orig, m.ApplicationProperties["n"])
		}
	}
}

func TestSendFailureKeepsTheDeadLetter(t *testing.T) {
	f := newFake(3)
	f.sendErr = &azservicebus.Error{Code: azservicebus.CodeNotFound}
	d := sbdlq.New(f, f, "orders", &sbdlq.Options{WaitTime: 50 * time.Millisecond})
	st, err := dlq.Redrive(context.Background(), d, nil)
	if !errors.Is(err, dlq.ErrNotFound) || st.Moved != 0 || len(f.dead) != 3 || len(f.locked) != 0 {
		t.Fatalf("%+v, %v, dead %d, locked %d", st, err, len(f.dead), len(f.locked))
	}
}

func TestDepthWithoutAdminClientIsUnknown(t *testing.T) {
	f := newFake(1)
	if n, err := sbdlq.New(f, f, "orders", nil).Depth(context.Background()); n != -1 || err != nil {
		t.Fatalf("Depth = %d, %v", n, err)
	}
}
