package pubsubdlq_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/eventfn/eventfn/dlq"
	"github.com/eventfn/eventfn/dlq/internal/dlqtest"
	"github.com/eventfn/eventfn/dlq/pubsubdlq"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/internal/testenv"
)

const project = "eventfn-dlq"

type env struct {
	c              *pubsub.Client
	topic, dlTopic string
	sub, dlSub     string
}

// setup creates a topic with a subscription whose dead-letter policy sends
// a message to a dead-letter topic after 5 deliveries, and a subscription
// on that topic.
func setup(t *testing.T) *env {
	t.Helper()
	testenv.PubSub(t)
	ctx := context.Background()
	c, err := pubsub.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	id := fmt.Sprint(time.Now().UnixNano())
	e := &env{c: c,
		topic: "projects/" + project + "/topics/orders-" + id, dlTopic: "projects/" + project + "/topics/orders-dl-" + id,
		sub: "projects/" + project + "/subscriptions/orders-" + id, dlSub: "projects/" + project + "/subscriptions/orders-dl-" + id}
	for _, tp := range []string{e.topic, e.dlTopic} {
		if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: tp}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: e.dlSub, Topic: e.dlTopic, AckDeadlineSeconds: 30}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: e.sub, Topic: e.topic, AckDeadlineSeconds: 30,
		DeadLetterPolicy: &pubsubpb.DeadLetterPolicy{DeadLetterTopic: e.dlTopic, MaxDeliveryAttempts: 5}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_ = c.SubscriptionAdminClient.DeleteSubscription(ctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: e.sub})
		_ = c.SubscriptionAdminClient.DeleteSubscription(ctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: e.dlSub})
		_ = c.TopicAdminClient.DeleteTopic(ctx, &pubsubpb.DeleteTopicRequest{Topic: e.topic})
		_ = c.TopicAdminClient.DeleteTopic(ctx, &pubsubpb.DeleteTopicRequest{Topic: e.dlTopic})
	})
	return e
}

// failAll builds the dead-letter state of n messages that failed on the
// source subscription, by publishing them to the dead-letter topic the way
// Pub/Sub forwards them: data, attributes (the eventfn ones the adapters
// write, and on every other message the CloudPubSubDeadLetterSourceSubscription
// attribute Pub/Sub adds) and ordering key. pstest enforces dead-letter
// policies, but it acks an exhausted message with its message ID instead of
// its ack ID, which it ignores, so every later pull of the source
// subscription forwards the message again; the policy stays configured for
// List and the source lookup.
func (e *env) failAll(t *testing.T, n int) []string {
	t.Helper()
	var msgs []*pubsubpb.PubsubMessage
	var ids []string
	for i := 0; i < n; i++ {
		id := fmt.Sprint("orig-", i)
		ids = append(ids, id)
		m := &pubsubpb.PubsubMessage{Data: []byte(fmt.Sprint(i)), Attributes: map[string]string{
			"tenant": fmt.Sprint("t", i%2), handler.AttrError: fmt.Sprintf("quota %d exceeded", i),
			handler.AttrMessageID: id, handler.AttrOutcome: "retry"}}
		if i%2 == 0 {
			m.Attributes[pubsubdlq.SourceSubscriptionAttr] = e.sub
		}
		if i%4 == 0 {
			m.OrderingKey = fmt.Sprint("customer-", i%3)
		}
		msgs = append(msgs, m)
	}
	if _, err := e.c.TopicAdminClient.Publish(context.Background(), &pubsubpb.PublishRequest{Topic: e.dlTopic, Messages: msgs}); err != nil {
		t.Fatal(err)
	}
	return ids
}

// consume pulls everything on the source subscription through cons.
func (e *env) consume(t *testing.T, cons *dlqtest.Consumer) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys := map[string]string{}
	for empty := 0; empty < 3; {
		r, err := e.c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: e.sub, MaxMessages: 100, ReturnImmediately: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.ReceivedMessages) == 0 {
			empty++
			continue
		}
		for _, rm := range r.ReceivedMessages {
			m := &handler.Message{ID: rm.Message.MessageId, Body: rm.Message.Data, Attributes: rm.Message.Attributes}
			keys[string(m.Body)] = rm.Message.OrderingKey
			if err := cons.Handle(ctx, m); err != nil {
				t.Fatal(err)
			}
			if err := e.c.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: e.sub, AckIds: []string{rm.AckId}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return keys
}

func TestListPeekAndRedriveOnPstest(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const n = 14
	ids := e.failAll(t, n)

	qs, err := pubsubdlq.List(ctx, e.c, project)
	if err != nil {
		t.Fatal(err)
	}
	var found *dlq.Queue
	for i := range qs {
		if qs[i].Name == e.dlSub {
			found = &qs[i]
		}
	}
	if found == nil || len(found.Sources) != 1 || found.Sources[0] != e.sub || found.Depth != -1 {
		t.Fatalf("List: %+v, want %s with source %s", qs, e.dlSub, e.sub)
	}
	d, err := pubsubdlq.Open(ctx, e.c, e.dlSub, nil)
	if err != nil {
		t.Fatal(err)
	}
	peeked, err := d.Peek(ctx, 5)
	if err != nil || len(peeked) == 0 {
		t.Fatalf("Peek: %d, %v", len(peeked), err)
	}
	for _, m := range peeked {
		if m.ID == "" || m.Attributes["tenant"] == "" || m.Error == "" || m.Timestamp.IsZero() {
			t.Errorf("peeked %+v", m)
		}
	}
	dry, err := dlq.Redrive(ctx, d, &dlq.RedriveOptions{DryRun: true})
	if err != nil || dry.Selected != n {
		t.Fatalf("dry run after Peek: %+v, %v; want all %d still there", dry, err, n)
	}
	some, err := dlq.Redrive(ctx, d, &dlq.RedriveOptions{Filter: &dlq.Filter{ErrorContains: "quota 1"}}) // 1, 10-13
	if err != nil || some.Moved != 5 {
		t.Fatalf("filtered redrive: %+v, %v", some, err)
	}
	rest, err := dlq.Redrive(ctx, d, nil)
	if err != nil || rest.Moved != n-5 {
		t.Fatalf("redrive: %+v, %v", rest, err)
	}
	if left, err := dlq.Redrive(ctx, d, &dlq.RedriveOptions{DryRun: true}); err != nil || left.Received != 0 {
		t.Fatalf("dead-letter subscription after the redrive: %+v, %v", left, err)
	}
	cons := dlqtest.NewConsumer()
	keys := e.consume(t, cons)
	effects, handled := cons.Effects()
	if handled != n {
		t.Errorf("consumer handled %d, want %d", handled, n)
	}
	for _, id := range ids {
		if effects[id] != 1 {
			t.Errorf("%s: %d effects", id, effects[id])
		}
	}
	for i := 0; i < n; i += 4 {
		if keys[fmt.Sprint(i)] != fmt.Sprint("customer-", i%3) {
			t.Errorf("message %d redriven with ordering key %q", i, keys[fmt.Sprint(i)])
		}
	}
}

func TestNoSourceAndMissingTargets(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	if _, err := pubsubdlq.Open(ctx, e.c, "projects/"+project+"/subscriptions/no-such-sub", nil); !errors.Is(err, dlq.ErrNotFound) {
		t.Fatalf("Open of a missing subscription: %v", err)
	}
	if _, err := pubsubdlq.Open(ctx, e.c, "orders", nil); err == nil {
		t.Fatal("Open accepted a subscription that is not a full name")
	}
	// The source subscription itself has no dead-letter policy pointing at
	// its topic: nothing to redrive to.
	d, err := pubsubdlq.Open(ctx, e.c, e.sub, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Sources(ctx); !errors.Is(err, dlq.ErrNoSource) {
		t.Fatalf("Sources of a plain subscription: %v", err)
	}
	e.failAll(t, 3)
	d, err = pubsubdlq.Open(ctx, e.c, e.dlSub, &pubsubdlq.Options{Topic: "projects/" + project + "/topics/deleted"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := dlq.Redrive(ctx, d, nil)
	if !errors.Is(err, dlq.ErrNotFound) || st.Moved != 0 {
		t.Fatalf("redrive to a missing topic: %+v, %v", st, err)
	}
	if left, err := dlq.Redrive(ctx, d, &dlq.RedriveOptions{DryRun: true}); err != nil || left.Selected != 3 {
		t.Fatalf("dead letters after the failed redrive: %+v, %v; want 3", left, err)
	}
}
