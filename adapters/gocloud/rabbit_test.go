package gocloud_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"gocloud.dev/pubsub/rabbitpubsub"

	"github.com/eventfn/eventfn/adapters/gocloud"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/internal/testenv"
)

// rabbitURLEnv is exported by scripts/services/rabbitmq.sh.
const rabbitURLEnv = "EVENTFN_RABBIT_URL"

// declareRabbitDLQ declares, for name: a fanout exchange name, a quorum
// queue name-q with a delivery limit of limit dead-lettering to the fanout
// exchange name-dlx, and the classic queue name-dead bound to it.
func declareRabbitDLQ(t *testing.T, ch *amqp.Channel, name string, limit int) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(ch.ExchangeDeclare(name, "fanout", true, false, false, false, nil))
	must(ch.ExchangeDeclare(name+"-dlx", "fanout", true, false, false, false, nil))
	_, err := ch.QueueDeclare(name+"-q", true, false, false, false, amqp.Table{
		"x-queue-type":           "quorum",
		"x-dead-letter-exchange": name + "-dlx",
		"x-delivery-limit":       limit,
	})
	must(err)
	must(ch.QueueBind(name+"-q", "", name, false, nil))
	_, err = ch.QueueDeclare(name+"-dead", true, false, false, false, nil)
	must(err)
	must(ch.QueueBind(name+"-dead", "", name+"-dlx", false, nil))
	t.Cleanup(func() {
		_, _ = ch.QueueDelete(name+"-q", false, false, false)
		_, _ = ch.QueueDelete(name+"-dead", false, false, false)
		_ = ch.ExchangeDelete(name, false, false)
		_ = ch.ExchangeDelete(name+"-dlx", false, false)
	})
}

// The consumer on a real RabbitMQ node: Retry nacks with requeue, so the
// quorum queue counts the delivery and dead-letters the message through its
// dead-letter exchange after x-delivery-limit; Reject with Options.DeadLetter
// set to that exchange publishes the copy (with the eventfn attributes) at
// once and acks the original.
func TestConsumerOnRabbitMQDeadLettersAfterDeliveryLimit(t *testing.T) {
	url := testenv.Getenv(t, rabbitURLEnv)
	ctx := context.Background()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	name := fmt.Sprint("orders-", time.Now().UnixNano())
	const limit = 2
	declareRabbitDLQ(t, ch, name, limit)
	for _, id := range []string{"ok-1", "ok-2", "always", "poison"} {
		err := ch.PublishWithContext(ctx, name, "", false, false, amqp.Publishing{MessageId: id, Body: []byte(id), Headers: amqp.Table{"tenant": "t1"}})
		if err != nil {
			t.Fatal(err)
		}
	}

	subConn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer subConn.Close()
	sub := rabbitpubsub.OpenSubscription(subConn, name+"-q", nil)
	defer sub.Shutdown(ctx)
	dlx := rabbitpubsub.OpenTopic(subConn, name+"-dlx", nil)
	defer dlx.Shutdown(ctx)

	var mu sync.Mutex
	runs := map[string]int{}
	h := handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		mu.Lock()
		runs[m.ID]++
		mu.Unlock()
		switch m.ID {
		case "always":
			return errors.New("still down")
		case "poison":
			return handler.Permanent(errors.New("cannot parse"))
		}
		return nil
	})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- gocloud.Receive(rctx, sub, h, &gocloud.Options{DeadLetter: dlx, BatchSize: 1}) }()

	dead := map[string]amqp.Delivery{}
	deadline := time.Now().Add(30 * time.Second)
	for len(dead) < 2 && time.Now().Before(deadline) {
		d, ok, err := ch.Get(name+"-dead", true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		dead[d.MessageId+string(d.Body)] = d
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Receive: %v", err)
	}
	always, ok := dead["alwaysalways"]
	if !ok {
		t.Fatalf("the always-failing message is not in %s-dead: %v", name, keys(dead))
	}
	if deaths, _ := always.Headers["x-death"].([]any); len(deaths) == 0 {
		t.Errorf("broker dead letter has no x-death header: %v", always.Headers)
	} else if d, _ := deaths[0].(amqp.Table); d["reason"] != "delivery_limit" || d["queue"] != name+"-q" {
		t.Errorf("x-death = %v, want reason delivery_limit from %s-q", d, name)
	}
	poison, ok := dead["poison"]
	if !ok {
		t.Fatalf("the rejected message is not in %s-dead: %v", name, keys(dead))
	}
	if poison.Headers[handler.AttrError] == nil || poison.Headers["tenant"] != "t1" {
		t.Errorf("adapter dead letter headers = %v, want %s and the original tenant", poison.Headers, handler.AttrError)
	}
	mu.Lock()
	defer mu.Unlock()
	if runs["ok-1"] != 1 || runs["ok-2"] != 1 || runs["poison"] != 1 || runs["always"] != limit+1 {
		t.Errorf("runs = %v, want ok-1, ok-2 and poison once, always %d times", runs, limit+1)
	}
	if q, err := ch.QueueDeclarePassive(name+"-q", true, false, false, false, amqp.Table{"x-queue-type": "quorum", "x-dead-letter-exchange": name + "-dlx", "x-delivery-limit": limit}); err != nil || q.Messages != 0 {
		t.Errorf("source queue after the run: %+v, %v; want empty", q, err)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
