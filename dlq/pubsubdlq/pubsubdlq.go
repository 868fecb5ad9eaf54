package pubsubdlq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/eventfn/eventfn/dlq"
	"github.com/eventfn/eventfn/handler"
)

// SourceSubscriptionAttr is the attribute Pub/Sub sets on a dead-lettered
// message naming the subscription it failed on.
const SourceSubscriptionAttr = "CloudPubSubDeadLetterSourceSubscription"

// Options configure Open. The zero value is ready to use.
type Options struct {
	// Topic is the full topic name (projects/P/topics/T) messages are
	// redriven to. Default: the source topic (see the package doc).
	Topic string
	// Lease is the ack deadline of received messages. Default: 10 minutes,
	// Pub/Sub's maximum.
	Lease time.Duration
	// WaitTime bounds a pull that finds nothing. Default: 2 seconds.
	WaitTime time.Duration
}

// Driver is one dead-letter subscription. It is not safe for concurrent
// use.
type Driver struct {
	c       *pubsub.Client
	sub     string // projects/P/subscriptions/S
	topic   string // the dead-letter topic the subscription reads
	project string
	o       Options
	topics  map[string]string // source subscription -> its topic
}

var _ dlq.Driver = (*Driver)(nil)

// classify wraps err, matching dlq.ErrNotFound for NotFound.
func classify(what string, err error) error {
	if status.Code(err) == codes.NotFound {
		return fmt.Errorf("%s: %w: %w", what, dlq.ErrNotFound, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Open checks that subscription (projects/P/subscriptions/S) exists and
// returns its driver.
func Open(ctx context.Context, c *pubsub.Client, subscription string, opts *Options) (*Driver, error) {
	parts := strings.Split(subscription, "/")
	if len(parts) != 4 || parts[0] != "projects" || parts[2] != "subscriptions" {
		return nil, fmt.Errorf("pubsubdlq: subscription %q is not projects/PROJECT/subscriptions/NAME", subscription)
	}
	d := &Driver{c: c, sub: subscription, project: parts[1]}
	if opts != nil {
		d.o = *opts
	}
	if d.o.Lease <= 0 {
		d.o.Lease = 10 * time.Minute
	}
	if d.o.WaitTime <= 0 {
		d.o.WaitTime = 2 * time.Second
	}
	s, err := c.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: subscription})
	if err != nil {
		return nil, classify(fmt.Sprintf("pubsubdlq: subscription %s", subscription), err)
	}
	d.topic = s.Topic
	return d, nil
}

// Depth returns -1: Pub/Sub's API does not report backlogs.
func (d *Driver) Depth(context.Context) (int64, error) { return -1, nil }

func listSubs(ctx context.Context, c *pubsub.Client, project string) ([]*pubsubpb.Subscription, error) {
	it := c.SubscriptionAdminClient.ListSubscriptions(ctx, &pubsubpb.ListSubscriptionsRequest{Project: "projects/" + project})
	var out []*pubsubpb.Subscription
	for {
		s, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, classify("pubsubdlq: list subscriptions of projects/"+project, err)
		}
		out = append(out, s)
	}
}

// List returns the dead-letter subscriptions of project: subscriptions of a
// topic that some subscription's dead-letter policy names, with the
// subscriptions that dead-letter into them as sources.
func List(ctx context.Context, c *pubsub.Client, project string) ([]dlq.Queue, error) {
	subs, err := listSubs(ctx, c, project)
	if err != nil {
		return nil, err
	}
	sources := map[string][]string{} // dead-letter topic -> subscriptions using it
	for _, s := range subs {
		if p := s.GetDeadLetterPolicy(); p.GetDeadLetterTopic() != "" {
			sources[p.DeadLetterTopic] = append(sources[p.DeadLetterTopic], s.Name)
		}
	}
	var out []dlq.Queue
	for _, s := range subs {
		if src, ok := sources[s.Topic]; ok {
			out = append(out, dlq.Queue{Name: s.Name, URL: "gcppubsub://" + s.Name, Depth: -1, Sources: src})
		}
	}
	return out, nil
}

// Sources returns the topics messages go back to when they do not name
// their source subscription, or an error matching dlq.ErrNoSource.
func (d *Driver) Sources(ctx context.Context) ([]string, error) {
	if d.o.Topic != "" {
		return []string{d.o.Topic}, nil
	}
	if err := d.resolve(ctx); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, t := range d.topics {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("pubsubdlq: %s: %w (no subscription's dead-letter policy names %s; pass the topic explicitly)", d.sub, dlq.ErrNoSource, d.topic)
	}
	return out, nil
}

func (d *Driver) resolve(ctx context.Context) error {
	if d.topics != nil {
		return nil
	}
	subs, err := listSubs(ctx, d.c, d.project)
	if err != nil {
		return err
	}
	d.topics = map[string]string{}
	for _, s := range subs {
		if s.GetDeadLetterPolicy().GetDeadLetterTopic() == d.topic {
			d.topics[s.Name] = s.Topic
		}
	}
	return nil
}

func (d *Driver) target(ctx context.Context, m *dlq.Message) (string, error) {
	if d.o.Topic != "" {
		return d.o.Topic, nil
	}
	if err := d.resolve(ctx); err != nil {
		return "", err
	}
	if t, ok := d.topics[m.Source]; ok {
		return t, nil
	}
	srcs, err := d.Sources(ctx)
	if err != nil {
		return "", err
	}
	if len(srcs) > 1 {
		return "", fmt.Errorf("pubsubdlq: %s: message %s: %d source topics (%s) and the message names none; pass the topic explicitly: %w", d.sub, m.ID, len(srcs), strings.Join(srcs, ", "), dlq.ErrNoSource)
	}
	return srcs[0], nil
}

func (d *Driver) pull(ctx context.Context, n int) ([]*dlq.Message, error) {
	pctx, cancel := context.WithTimeout(ctx, d.o.WaitTime)
	defer cancel()
	resp, err := d.c.SubscriptionAdminClient.Pull(pctx, &pubsubpb.PullRequest{Subscription: d.sub, MaxMessages: int32(max(n, 1))})
	if err != nil {
		if ctx.Err() == nil && (pctx.Err() != nil || status.Code(err) == codes.DeadlineExceeded) {
			return nil, nil // nothing arrived in WaitTime
		}
		return nil, classify(fmt.Sprintf("pubsubdlq: pull from %s", d.sub), err)
	}
	msgs := make([]*dlq.Message, 0, len(resp.ReceivedMessages))
	for _, r := range resp.ReceivedMessages {
		pm := r.GetMessage()
		m := &dlq.Message{ID: pm.GetMessageId(), Body: pm.GetData(), Attributes: map[string]string{}, DeliveryCount: int(r.GetDeliveryAttempt()),
			GroupID: pm.GetOrderingKey(), Handle: r}
		for k, v := range pm.GetAttributes() {
			m.Attributes[k] = v
		}
		if pt := pm.GetPublishTime(); pt != nil {
			m.Timestamp = pt.AsTime()
		}
		m.Error = m.Attributes[handler.AttrError]
		m.Source = m.Attributes[SourceSubscriptionAttr]
		msgs = append(msgs, m)
	}
	return msgs, nil
}

func ackIDs(msgs []*dlq.Message) ([]string, error) {
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		r, ok := m.Handle.(*pubsubpb.ReceivedMessage)
		if !ok {
			return nil, fmt.Errorf("pubsubdlq: message %s was not received by this driver", m.ID)
		}
		ids = append(ids, r.AckId)
	}
	return ids, nil
}

func (d *Driver) modack(ctx context.Context, msgs []*dlq.Message, deadline time.Duration) error {
	if len(msgs) == 0 {
		return nil
	}
	ids, err := ackIDs(msgs)
	if err != nil {
		return err
	}
	err = d.c.SubscriptionAdminClient.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{Subscription: d.sub, AckIds: ids, AckDeadlineSeconds: int32(deadline / time.Second)})
	if err != nil {
		return classify(fmt.Sprintf("pubsubdlq: modify ack deadline on %s", d.sub), err)
	}
	return nil
}

// Peek pulls up to max messages and nacks them.
func (d *Driver) Peek(ctx context.Context, max int) ([]*dlq.Message, error) {
	msgs, err := d.pull(ctx, max)
	if err != nil {
		return nil, err
	}
	return msgs, d.modack(ctx, msgs, 0)
}

// Receive pulls up to max messages and extends their ack deadline to
// Options.Lease.
func (d *Driver) Receive(ctx context.Context, max int) ([]*dlq.Message, error) {
	msgs, err := d.pull(ctx, max)
	if err != nil {
		return nil, err
	}
	if err := d.modack(ctx, msgs, d.o.Lease); err != nil {
		_ = d.modack(context.WithoutCancel(ctx), msgs, 0)
		return nil, err
	}
	return msgs, nil
}

// Send publishes a copy of m to its source topic and returns once Pub/Sub
// assigned it a message ID.
func (d *Driver) Send(ctx context.Context, m *dlq.Message) error {
	topic, err := d.target(ctx, m)
	if err != nil {
		return err
	}
	attrs := make(map[string]string, len(m.Attributes))
	for k, v := range m.Attributes {
		attrs[k] = v
	}
	resp, err := d.c.TopicAdminClient.Publish(ctx, &pubsubpb.PublishRequest{Topic: topic, Messages: []*pubsubpb.PubsubMessage{{
		Data: m.Body, Attributes: attrs, OrderingKey: m.GroupID,
	}}})
	if err != nil {
		return classify(fmt.Sprintf("pubsubdlq: publish %s to %s", m.ID, topic), err)
	}
	if len(resp.GetMessageIds()) != 1 {
		return fmt.Errorf("pubsubdlq: publish %s to %s: %d message IDs returned", m.ID, topic, len(resp.GetMessageIds()))
	}
	return nil
}

// Delete acks a received message.
func (d *Driver) Delete(ctx context.Context, m *dlq.Message) error {
	ids, err := ackIDs([]*dlq.Message{m})
	if err != nil {
		return err
	}
	if err := d.c.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: d.sub, AckIds: ids}); err != nil {
		return classify(fmt.Sprintf("pubsubdlq: ack %s on %s", m.ID, d.sub), err)
	}
	return nil
}

// Release nacks a received message (ack deadline 0).
func (d *Driver) Release(ctx context.Context, m *dlq.Message) error {
	return d.modack(ctx, []*dlq.Message{m}, 0)
}

// Close does nothing; the client is the caller's.
func (d *Driver) Close() error { return nil }
