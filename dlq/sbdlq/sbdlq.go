package sbdlq

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus/admin"

	"github.com/eventfn/eventfn/dlq"
	"github.com/eventfn/eventfn/handler"
)

// Receiver is the part of *azservicebus.Receiver the driver uses.
type Receiver interface {
	ReceiveMessages(ctx context.Context, maxMessages int, options *azservicebus.ReceiveMessagesOptions) ([]*azservicebus.ReceivedMessage, error)
	PeekMessages(ctx context.Context, maxMessageCount int, options *azservicebus.PeekMessagesOptions) ([]*azservicebus.ReceivedMessage, error)
	CompleteMessage(ctx context.Context, message *azservicebus.ReceivedMessage, options *azservicebus.CompleteMessageOptions) error
	AbandonMessage(ctx context.Context, message *azservicebus.ReceivedMessage, options *azservicebus.AbandonMessageOptions) error
}

// Sender is the part of *azservicebus.Sender the driver uses.
type Sender interface {
	SendMessage(ctx context.Context, message *azservicebus.Message, options *azservicebus.SendMessageOptions) error
}

var (
	_ Receiver = (*azservicebus.Receiver)(nil)
	_ Sender   = (*azservicebus.Sender)(nil)
)

// Options configure New. The zero value is ready to use.
type Options struct {
	// WaitTime bounds a receive that finds nothing. Default: 2 seconds.
	WaitTime time.Duration
	// Depth, if set, reports the dead-letter message count (OpenQueue sets
	// it from the admin client). Default: Depth returns -1.
	Depth func(ctx context.Context) (int64, error)
}

// Driver is one dead-letter subqueue. It is not safe for concurrent use.
type Driver struct {
	r      Receiver
	s      Sender
	name   string
	o      Options
	closer func() error
}

var _ dlq.Driver = (*Driver)(nil)

// New returns a driver receiving dead letters of the entity name from r
// (a receiver on its dead-letter subqueue, in peek-lock mode) and resending
// them through s (a sender to the queue or topic).
func New(r Receiver, s Sender, name string, opts *Options) *Driver {
	d := &Driver{r: r, s: s, name: name}
	if opts != nil {
		d.o = *opts
	}
	if d.o.WaitTime <= 0 {
		d.o.WaitTime = 2 * time.Second
	}
	return d
}

// OpenQueue returns the driver of queue's dead-letter subqueue. adm may be
// nil (Depth then returns -1).
func OpenQueue(c *azservicebus.Client, adm *admin.Client, queue string) (*Driver, error) {
	r, err := c.NewReceiverForQueue(queue, &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter, ReceiveMode: azservicebus.ReceiveModePeekLock})
	if err != nil {
		return nil, fmt.Errorf("sbdlq: receiver for %s/$deadletterqueue: %w", queue, err)
	}
	s, err := c.NewSender(queue, nil)
	if err != nil {
		r.Close(context.Background())
		return nil, fmt.Errorf("sbdlq: sender for %s: %w", queue, err)
	}
	var o Options
	if adm != nil {
		o.Depth = func(ctx context.Context) (int64, error) {
			p, err := adm.GetQueueRuntimeProperties(ctx, queue, nil)
			if err != nil {
				return 0, fmt.Errorf("sbdlq: runtime properties of %s: %w", queue, err)
			}
			if p == nil {
				return 0, fmt.Errorf("sbdlq: queue %s: %w", queue, dlq.ErrNotFound)
			}
			return int64(p.DeadLetterMessageCount), nil
		}
	}
	d := New(r, s, queue, &o)
	d.closer = func() error {
		ctx := context.Background()
		return errors.Join(r.Close(ctx), s.Close(ctx))
	}
	return d, nil
}

// OpenSubscription returns the driver of a topic subscription's
// dead-letter subqueue; messages are resent to the topic.
func OpenSubscription(c *azservicebus.Client, topic, subscription string) (*Driver, error) {
	r, err := c.NewReceiverForSubscription(topic, subscription, &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter, ReceiveMode: azservicebus.ReceiveModePeekLock})
	if err != nil {
		return nil, fmt.Errorf("sbdlq: receiver for %s/subscriptions/%s/$deadletterqueue: %w", topic, subscription, err)
	}
	s, err := c.NewSender(topic, nil)
	if err != nil {
		r.Close(context.Background())
		return nil, fmt.Errorf("sbdlq: sender for %s: %w", topic, err)
	}
	d := New(r, s, topic+"/subscriptions/"+subscription, nil)
	d.closer = func() error {
		ctx := context.Background()
		return errors.Join(r.Close(ctx), s.Close(ctx))
	}
	return d, nil
}

// List returns the queues of the namespace with dead letters waiting.
func List(ctx context.Context, adm *admin.Client) ([]dlq.Queue, error) {
	var out []dlq.Queue
	p := adm.NewListQueuesRuntimePropertiesPager(nil)
	for p.More() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("sbdlq: list queues: %w", err)
		}
		for _, q := range page.QueueRuntimeProperties {
			out = append(out, dlq.Queue{Name: q.QueueName + "/$deadletterqueue", URL: "azuresb://" + q.QueueName, Depth: int64(q.DeadLetterMessageCount), Sources: []string{q.QueueName}})
		}
	}
	return out, nil
}

// Depth returns Options.Depth's count, or -1.
func (d *Driver) Depth(ctx context.Context) (int64, error) {
	if d.o.Depth == nil {
		return -1, nil
	}
	return d.o.Depth(ctx)
}

func toMessage(r *azservicebus.ReceivedMessage, leased bool) *dlq.Message {
	m := &dlq.Message{ID: r.MessageID, Body: r.Body, Attributes: map[string]string{}, DeliveryCount: int(r.DeliveryCount)}
	if leased {
		m.Handle = r
	}
	for k, v := range r.ApplicationProperties {
		m.Attributes[k] = fmt.Sprint(v)
	}
	if r.EnqueuedTime != nil {
		m.Timestamp = *r.EnqueuedTime
	}
	if r.SessionID != nil {
		m.GroupID = *r.SessionID
	}
	if r.DeadLetterSource != nil {
		m.Source = *r.DeadLetterSource
	}
	m.Error = m.Attributes[handler.AttrError]
	if m.Error == "" && r.DeadLetterReason != nil {
		m.Error = *r.DeadLetterReason
		if r.DeadLetterErrorDescription != nil {
			m.Error += ": " + *r.DeadLetterErrorDescription
		}
	}
	return m
}

// Peek browses up to max messages without locking them.
func (d *Driver) Peek(ctx context.Context, max int) ([]*dlq.Message, error) {
	rs, err := d.r.PeekMessages(ctx, max, nil)
	if err != nil {
		return nil, fmt.Errorf("sbdlq: peek %s/$deadletterqueue: %w", d.name, err)
	}
	out := make([]*dlq.Message, 0, len(rs))
	for _, r := range rs {
		out = append(out, toMessage(r, false))
	}
	return out, nil
}

// Receive locks up to max messages.
func (d *Driver) Receive(ctx context.Context, max int) ([]*dlq.Message, error) {
	rctx, cancel := context.WithTimeout(ctx, d.o.WaitTime)
	defer cancel()
	rs, err := d.r.ReceiveMessages(rctx, max, nil)
	if err != nil && !(ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded)) {
		return nil, fmt.Errorf("sbdlq: receive from %s/$deadletterqueue: %w", d.name, err)
	}
	out := make([]*dlq.Message, 0, len(rs))
	for _, r := range rs {
		out = append(out, toMessage(r, true))
	}
	return out, nil
}

// RedriveMessageID is the MessageID a copy of m is sent with.
func RedriveMessageID(m *dlq.Message) string { return "eventfn-redrive-" + m.ID }

func received(m *dlq.Message) (*azservicebus.ReceivedMessage, error) {
	r, ok := m.Handle.(*azservicebus.ReceivedMessage)
	if !ok {
		return nil, fmt.Errorf("sbdlq: message %s was not received by this driver", m.ID)
	}
	return r, nil
}

// Send resends a copy of m to the queue or topic.
func (d *Driver) Send(ctx context.Context, m *dlq.Message) error {
	r, err := received(m)
	if err != nil {
		return err
	}
	props := make(map[string]any, len(r.ApplicationProperties)+1)
	for k, v := range r.ApplicationProperties {
		props[k] = v
	}
	for k, v := range m.Attributes {
		if _, ok := props[k]; !ok {
			props[k] = v
		}
	}
	id := RedriveMessageID(m)
	msg := &azservicebus.Message{
		Body: r.Body, ApplicationProperties: props, MessageID: &id,
		SessionID: r.SessionID, PartitionKey: r.PartitionKey, Subject: r.Subject, ContentType: r.ContentType,
		CorrelationID: r.CorrelationID, ReplyTo: r.ReplyTo, ReplyToSessionID: r.ReplyToSessionID, To: r.To, TimeToLive: r.TimeToLive,
	}
	if err := d.s.SendMessage(ctx, msg, nil); err != nil {
		var se *azservicebus.Error
		if errors.As(err, &se) && se.Code == azservicebus.CodeNotFound {
			return fmt.Errorf("sbdlq: send %s to %s: %w: %w", m.ID, d.name, dlq.ErrNotFound, err)
		}
		return fmt.Errorf("sbdlq: send %s to %s: %w", m.ID, d.name, err)
	}
	return nil
}

// Delete completes a locked message.
func (d *Driver) Delete(ctx context.Context, m *dlq.Message) error {
	r, err := received(m)
	if err != nil {
		return err
	}
	if err := d.r.CompleteMessage(ctx, r, nil); err != nil {
		return fmt.Errorf("sbdlq: complete %s in %s/$deadletterqueue: %w", m.ID, d.name, err)
	}
	return nil
}

// Release abandons a locked message.
func (d *Driver) Release(ctx context.Context, m *dlq.Message) error {
	r, err := received(m)
	if err != nil {
		return err
	}
	if err := d.r.AbandonMessage(ctx, r, nil); err != nil {
		return fmt.Errorf("sbdlq: abandon %s in %s/$deadletterqueue: %w", m.ID, d.name, err)
	}
	return nil
}

// Close closes the receiver and sender OpenQueue or OpenSubscription
// created; for New it does nothing.
func (d *Driver) Close() error {
	if d.closer == nil {
		return nil
	}
	return d.closer()
}
