package rabbitdlq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/eventfn/eventfn/dlq"
	"github.com/eventfn/eventfn/handler"
)

// Options configure Open. The zero value is ready to use.
type Options struct {
	// Exchange is where messages are redriven to. Default: the default
	// exchange, with the source queue from x-death as routing key.
	Exchange string
	// RoutingKey is the routing key used with Exchange. Default: the source
	// queue from x-death.
	RoutingKey string
	// ConfirmTimeout bounds the wait for a publisher confirm. Default: 30s.
	ConfirmTimeout time.Duration
}

// Driver is one RabbitMQ dead-letter queue. It is not safe for concurrent
// use.
type Driver struct {
	conn    *amqp.Connection
	queue   string
	o       Options
	rch     *amqp.Channel // gets, acks, nacks
	pch     *amqp.Channel // confirmed publishes
	returns chan amqp.Return
	checked map[string]bool // targets known to exist
}

var _ dlq.Driver = (*Driver)(nil)

// Open checks that queue exists on conn and returns its driver. Close the
// driver before the connection.
func Open(ctx context.Context, conn *amqp.Connection, queue string, opts *Options) (*Driver, error) {
	d := &Driver{conn: conn, queue: queue, checked: map[string]bool{}}
	if opts != nil {
		d.o = *opts
	}
	if d.o.ConfirmTimeout <= 0 {
		d.o.ConfirmTimeout = 30 * time.Second
	}
	if _, err := d.Depth(ctx); err != nil {
		return nil, err
	}
	rch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("rabbitdlq: channel: %w", err)
	}
	d.rch = rch
	return d, nil
}

// inspect runs f on a throwaway channel, since a failed passive declare
// closes the channel it ran on.
func (d *Driver) inspect(f func(ch *amqp.Channel) error) error {
	ch, err := d.conn.Channel()
	if err != nil {
		return fmt.Errorf("rabbitdlq: channel: %w", err)
	}
	defer ch.Close()
	err = f(ch)
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.NotFound {
		return fmt.Errorf("%w: %w", dlq.ErrNotFound, err)
	}
	return err
}

func queueDepth(d *Driver, name string) (int64, error) {
	var n int64
	err := d.inspect(func(ch *amqp.Channel) error {
		q, err := ch.QueueDeclarePassive(name, false, false, false, false, nil)
		n = int64(q.Messages)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("rabbitdlq: queue %q: %w", name, err)
	}
	return n, nil
}

// Depth returns the number of ready messages in the queue.
func (d *Driver) Depth(ctx context.Context) (int64, error) { return queueDepth(d, d.queue) }

// List returns depth and sources (the queues named by the x-death headers
// of the first messages) of each of the named queues on conn.
func List(ctx context.Context, conn *amqp.Connection, queues ...string) ([]dlq.Queue, error) {
	var out []dlq.Queue
	for _, q := range queues {
		d, err := Open(ctx, conn, q, nil)
		if err != nil {
			return nil, err
		}
		n, _ := d.Depth(ctx)
		msgs, err := d.Peek(ctx, 10)
		d.Close()
		if err != nil {
			return nil, err
		}
		srcs := map[string]bool{}
		for _, m := range msgs {
			if m.Source != "" {
				srcs[m.Source] = true
			}
		}
		dq := dlq.Queue{Name: q, URL: "rabbit://" + q, Depth: n}
		for s := range srcs {
			dq.Sources = append(dq.Sources, s)
		}
		sort.Strings(dq.Sources)
		out = append(out, dq)
	}
	return out, nil
}

func get(ch *amqp.Channel, queue string, n int) ([]*dlq.Message, error) {
	var msgs []*dlq.Message
	for len(msgs) < n {
		del, ok, err := ch.Get(queue, false)
		if err != nil {
			return msgs, fmt.Errorf("rabbitdlq: get from %q: %w", queue, err)
		}
		if !ok {
			break
		}
		msgs = append(msgs, toMessage(del))
	}
	return msgs, nil
}

// Peek gets up to max messages and requeues them by closing the channel.
func (d *Driver) Peek(ctx context.Context, max int) ([]*dlq.Message, error) {
	ch, err := d.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("rabbitdlq: channel: %w", err)
	}
	msgs, err := get(ch, d.queue, max)
	if cerr := ch.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("rabbitdlq: close peek channel: %w", cerr)
	}
	for _, m := range msgs {
		m.Handle = nil // not leased any more
	}
	return msgs, err
}

// Receive gets up to max messages without acking them.
func (d *Driver) Receive(ctx context.Context, max int) ([]*dlq.Message, error) {
	return get(d.rch, d.queue, max)
}

func toMessage(del amqp.Delivery) *dlq.Message {
	m := &dlq.Message{Body: del.Body, Attributes: map[string]string{}, Handle: &del}
	for k, v := range del.Headers {
		switch v.(type) {
		case string, int, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64, bool, time.Time:
			m.Attributes[k] = fmt.Sprint(v)
		}
	}
	m.ID = firstOf(del.MessageId, del.CorrelationId, m.Attributes["eventfn-id"])
	if m.ID == "" {
		h := sha256.New()
		h.Write(del.Body)
		keys := make([]string, 0, len(m.Attributes))
		for k := range m.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(h, "\x00%s=%s", k, m.Attributes[k])
		}
		m.ID = "sha256:" + hex.EncodeToString(h.Sum(nil))[:32]
	}
	m.Timestamp = del.Timestamp
	reason := ""
	if deaths, ok := del.Headers["x-death"].([]any); ok && len(deaths) > 0 {
		if t, ok := deaths[0].(amqp.Table); ok {
			m.Source, _ = t["queue"].(string)
			reason, _ = t["reason"].(string)
			if c, ok := t["count"].(int64); ok {
				m.DeliveryCount = int(c)
			}
			if ts, ok := t["time"].(time.Time); ok && m.Timestamp.IsZero() {
				m.Timestamp = ts
			}
		}
	}
	if c, ok := del.Headers["x-delivery-count"]; ok {
		switch c := c.(type) {
		case int64:
			m.DeliveryCount = int(c) + 1
		case int32:
			m.DeliveryCount = int(c) + 1
		}
	}
	if m.Source == "" { // published to the dead-letter exchange by an adapter
		m.Source = m.Attributes[handler.AttrQueue]
	}
	m.Error = m.Attributes[handler.AttrError]
	if m.Error == "" && reason != "" {
		m.Error = "rabbitmq: dead-lettered: " + reason
	}
	return m
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func delivery(m *dlq.Message) (*amqp.Delivery, error) {
	del, ok := m.Handle.(*amqp.Delivery)
	if !ok {
		return nil, fmt.Errorf("rabbitdlq: message %s was not received by this driver", m.ID)
	}
	return del, nil
}

// target returns the exchange and routing key m is redriven to, having
// checked once that they exist.
func (d *Driver) target(m *dlq.Message) (exchange, key string, err error) {
	exchange, key = d.o.Exchange, d.o.RoutingKey
	if key == "" && exchange == "" {
		key = m.Source
	}
	if exchange == "" && key == "" {
		return "", "", fmt.Errorf("rabbitdlq: %q: message %s has no x-death header naming its queue; pass the target exchange or queue: %w", d.queue, m.ID, dlq.ErrNoSource)
	}
	if d.o.Exchange == "" && d.o.RoutingKey == "" && key == d.queue {
		return "", "", fmt.Errorf("rabbitdlq: message %s would be redriven to %q, the dead-letter queue itself: %w", m.ID, key, dlq.ErrNoSource)
	}
	id := exchange + "\x00" + key
	if !d.checked[id] {
		err := d.inspect(func(ch *amqp.Channel) error {
			if exchange != "" {
				return ch.ExchangeDeclarePassive(exchange, "", false, false, false, false, nil)
			}
			_, err := ch.QueueDeclarePassive(key, false, false, false, false, nil)
			return err
		})
		if err != nil {
			return "", "", fmt.Errorf("rabbitdlq: redrive target exchange %q, queue or key %q: %w", exchange, key, err)
		}
		d.checked[id] = true
	}
	return exchange, key, nil
}

func (d *Driver) publisher() (*amqp.Channel, error) {
	if d.pch != nil && !d.pch.IsClosed() {
		return d.pch, nil
	}
	ch, err := d.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("rabbitdlq: channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, fmt.Errorf("rabbitdlq: confirm mode: %w", err)
	}
	d.returns = ch.NotifyReturn(make(chan amqp.Return, 1))
	d.pch = ch
	return ch, nil
}

// Send publishes a copy of m and waits for the broker's confirm.
func (d *Driver) Send(ctx context.Context, m *dlq.Message) error {
	del, err := delivery(m)
	if err != nil {
		return err
	}
	exchange, key, err := d.target(m)
	if err != nil {
		return err
	}
	ch, err := d.publisher()
	if err != nil {
		return err
	}
	headers := amqp.Table{}
	for k, v := range del.Headers {
		headers[k] = v
	}
	for k, v := range m.Attributes {
		if _, ok := headers[k]; !ok {
			headers[k] = v
		}
	}
	pub := amqp.Publishing{
		Headers: headers, ContentType: del.ContentType, ContentEncoding: del.ContentEncoding,
		DeliveryMode: del.DeliveryMode, Priority: del.Priority, CorrelationId: del.CorrelationId,
		ReplyTo: del.ReplyTo, Expiration: del.Expiration, MessageId: del.MessageId, Timestamp: del.Timestamp,
		Type: del.Type, UserId: del.UserId, AppId: del.AppId, Body: del.Body,
	}
	cctx, cancel := context.WithTimeout(ctx, d.o.ConfirmTimeout)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(cctx, exchange, key, true, false, pub)
	if err != nil {
		return fmt.Errorf("rabbitdlq: publish %s to exchange %q key %q: %w", m.ID, exchange, key, err)
	}
	acked, err := dc.WaitContext(cctx)
	if err != nil {
		return fmt.Errorf("rabbitdlq: confirm of %s: %w", m.ID, err)
	}
	// A mandatory message that could not be routed is returned before its
	// confirm arrives.
	select {
	case r, ok := <-d.returns:
		if ok {
			return fmt.Errorf("rabbitdlq: %s returned by exchange %q key %q: %s: %w", m.ID, exchange, key, r.ReplyText, dlq.ErrNotFound)
		}
		return fmt.Errorf("rabbitdlq: publish channel closed before the confirm of %s", m.ID)
	default:
	}
	if !acked {
		return fmt.Errorf("rabbitdlq: broker nacked the copy of %s", m.ID)
	}
	return nil
}

// Delete acks a received message.
func (d *Driver) Delete(ctx context.Context, m *dlq.Message) error {
	del, err := delivery(m)
	if err != nil {
		return err
	}
	if err := del.Ack(false); err != nil {
		return fmt.Errorf("rabbitdlq: ack %s: %w", m.ID, err)
	}
	return nil
}

// Release requeues a received message.
func (d *Driver) Release(ctx context.Context, m *dlq.Message) error {
	del, err := delivery(m)
	if err != nil {
		return err
	}
	if err := del.Nack(false, true); err != nil {
		return fmt.Errorf("rabbitdlq: requeue %s: %w", m.ID, err)
	}
	return nil
}

// Close closes the driver's channels (requeuing what it still leases), not
// the connection.
func (d *Driver) Close() error {
	var errs []error
	if d.pch != nil {
		errs = append(errs, ignoreClosed(d.pch.Close()))
	}
	if d.rch != nil {
		errs = append(errs, ignoreClosed(d.rch.Close()))
	}
	return errors.Join(errs...)
}

func ignoreClosed(err error) error {
	if errors.Is(err, amqp.ErrClosed) {
		return nil
	}
	return err
}
