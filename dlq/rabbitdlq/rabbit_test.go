package rabbitdlq_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/eventfn/eventfn/dlq"
	"github.com/eventfn/eventfn/dlq/internal/dlqtest"
	"github.com/eventfn/eventfn/dlq/rabbitdlq"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/internal/testenv"
)

// RabbitURL is exported by scripts/services/rabbitmq.sh.
const rabbitURL = "EVENTFN_RABBIT_URL"

type env struct {
	conn *amqp.Connection
	ch   *amqp.Channel
	name string // exchange; name-q the quorum queue, name-dead the dead-letter queue
}

func setup(t *testing.T) *env {
	t.Helper()
	url := testenv.Getenv(t, rabbitURL)
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{conn: conn, ch: ch, name: fmt.Sprint("orders-", time.Now().UnixNano())}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(ch.ExchangeDeclare(e.name, "fanout", true, false, false, false, nil))
	must(ch.ExchangeDeclare(e.name+"-dlx", "fanout", true, false, false, false, nil))
	_, err = ch.QueueDeclare(e.name+"-q", true, false, false, false, amqp.Table{"x-queue-type": "quorum", "x-dead-letter-exchange": e.name + "-dlx", "x-delivery-limit": 1})
	must(err)
	must(ch.QueueBind(e.name+"-q", "", e.name, false, nil))
	_, err = ch.QueueDeclare(e.name+"-dead", true, false, false, false, nil)
	must(err)
	must(ch.QueueBind(e.name+"-dead", "", e.name+"-dlx", false, nil))
	t.Cleanup(func() {
		c, err := conn.Channel()
		if err != nil {
			return
		}
		_, _ = c.QueueDelete(e.name+"-q", false, false, false)
		_, _ = c.QueueDelete(e.name+"-dead", false, false, false)
		_ = c.ExchangeDelete(e.name, false, false)
		_ = c.ExchangeDelete(e.name+"-dlx", false, false)
		c.Close()
	})
	return e
}

func (e *env) depth(t *testing.T, q string) int {
	t.Helper()
	c, err := e.conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	qi, err := c.QueueDeclarePassive(q, false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return qi.Messages
}

// failAll publishes n messages and nacks them until the quorum queue's
// delivery limit dead-lettered all of them.
func (e *env) failAll(t *testing.T, n int) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for i := 0; i < n; i++ {
		id := fmt.Sprint("msg-", i)
		ids = append(ids, id)
		if err := e.ch.PublishWithContext(ctx, e.name, "", false, false, amqp.Publishing{MessageId: id, Body: []byte(fmt.Sprint(i)),
			Headers: amqp.Table{"tenant": fmt.Sprint("t", i%2), handler.AttrError: fmt.Sprintf("stock %d missing", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for e.depth(t, e.name+"-dead") < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages dead-lettered", e.depth(t, e.name+"-dead"), n)
		}
		d, ok, err := e.ch.Get(e.name+"-q", false)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if err := d.Nack(false, true); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// consume gets everything on the source queue through cons and acks it.
func (e *env) consume(t *testing.T, cons *dlqtest.Consumer) {
	t.Helper()
	for {
		d, ok, err := e.ch.Get(e.name+"-q", false)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return
		}
		m := &handler.Message{ID: d.MessageId, Body: d.Body, Attributes: map[string]string{}}
		for k, v := range d.Headers {
			if s, ok := v.(string); ok {
				m.Attributes[k] = s
			}
		}
		if err := cons.Handle(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		if err := d.Ack(false); err != nil {
			t.Fatal(err)
		}
	}
}

func TestListPeekAndRedriveOnRabbitMQ(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const n = 17
	ids := e.failAll(t, n)

	qs, err := rabbitdlq.List(ctx, e.conn, e.name+"-dead")
	if err != nil || len(qs) != 1 || qs[0].Depth != n || len(qs[0].Sources) != 1 || qs[0].Sources[0] != e.name+"-q" {
		t.Fatalf("List: %+v, %v", qs, err)
	}
	d, err := rabbitdlq.Open(ctx, e.conn, e.name+"-dead", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	peeked, err := d.Peek(ctx, 4)
	if err != nil || len(peeked) != 4 {
		t.Fatalf("Peek: %d, %v", len(peeked), err)
	}
	for _, m := range peeked {
		if m.ID == "" || m.Attributes["tenant"] == "" || m.Error == "" || m.DeliveryCount < 1 || m.Source != e.name+"-q" || m.Timestamp.IsZero() {
			t.Errorf("peeked %+v", m)
		}
	}
	if got := e.depth(t, e.name+"-dead"); got != n {
		t.Fatalf("depth after Peek %d, want %d", got, n)
	}
	dry, err := dlq.Redrive(ctx, d, &dlq.RedriveOptions{DryRun: true})
	if err != nil || dry.Selected != n || e.depth(t, e.name+"-dead") != n {
		t.Fatalf("dry run %+v, %v", dry, err)
	}
	some, err := dlq.Redrive(ctx, d, &dlq.RedriveOptions{Filter: &dlq.Filter{Attributes: map[string]string{"tenant": "t1"}}})
	if err != nil || some.Moved != n/2 || some.Skipped != n-n/2 {
		t.Fatalf("filtered redrive %+v, %v", some, err)
	}
	rest, err := dlq.Redrive(ctx, d, &dlq.RedriveOptions{Rate: 500})
	if err != nil || rest.Moved != n-n/2 {
		t.Fatalf("redrive %+v, %v", rest, err)
	}
	if got := e.depth(t, e.name+"-dead"); got != 0 {
		t.Fatalf("dead-letter queue holds %d after the redrive", got)
	}
	cons := dlqtest.NewConsumer()
	e.consume(t, cons)
	effects, handled := cons.Effects()
	if handled != n {
		t.Errorf("consumer handled %d, want %d", handled, n)
	}
	for _, id := range ids {
		if effects[id] != 1 {
			t.Errorf("%s: %d effects", id, effects[id])
		}
	}
}

func TestRedriveTargetsThatDoNotExist(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.failAll(t, 3)
	if _, err := rabbitdlq.Open(ctx, e.conn, "no-such-queue-"+e.name, nil); !errors.Is(err, dlq.ErrNotFound) {
		t.Fatalf("Open of a missing queue: %v", err)
	}
	d, err := rabbitdlq.Open(ctx, e.conn, e.name+"-dead", &rabbitdlq.Options{Exchange: "no-such-exchange"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := dlq.Redrive(ctx, d, nil)
	d.Close()
	if !errors.Is(err, dlq.ErrNotFound) || st.Moved != 0 || e.depth(t, e.name+"-dead") != 3 {
		t.Fatalf("redrive to a missing exchange: %+v, %v, depth %d", st, err, e.depth(t, e.name+"-dead"))
	}
	// The source queue disappears after the driver checked it: the copy
	// is returned unroutable and the dead letter stays.
	d, err = rabbitdlq.Open(ctx, e.conn, e.name+"-dead", &rabbitdlq.Options{Exchange: e.name})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := e.ch.QueueDelete(e.name+"-q", false, false, false); err != nil {
		t.Fatal(err)
	}
	st, err = dlq.Redrive(ctx, d, nil)
	if !errors.Is(err, dlq.ErrNotFound) || st.Moved != 0 {
		t.Fatalf("redrive to an unbound exchange: %+v, %v", st, err)
	}
	d.Close()
	if got := e.depth(t, e.name+"-dead"); got != 3 {
		t.Fatalf("dead-letter depth %d, want 3: nothing may be lost", got)
	}
}

func TestMessageWithoutXDeathHasNoSource(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	if err := e.ch.PublishWithContext(ctx, e.name+"-dlx", "", false, false, amqp.Publishing{MessageId: "stray", Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	for e.depth(t, e.name+"-dead") < 1 {
		time.Sleep(10 * time.Millisecond)
	}
	d, err := rabbitdlq.Open(ctx, e.conn, e.name+"-dead", nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := dlq.Redrive(ctx, d, nil)
	d.Close()
	if !errors.Is(err, dlq.ErrNoSource) || st.Moved != 0 || e.depth(t, e.name+"-dead") != 1 {
		t.Fatalf("%+v, %v", st, err)
	}
}

// A message the gocloud adapter published to the dead-letter exchange
// itself has no x-death header; its eventfn-queue header names the source.
func TestAdapterDeadLetterGoesBackToItsQueue(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	err := e.ch.PublishWithContext(ctx, e.name+"-dlx", "", false, false, amqp.Publishing{MessageId: "rejected", Body: []byte("x"),
		Headers: amqp.Table{handler.AttrQueue: e.name + "-q", handler.AttrError: "cannot parse", handler.AttrOutcome: "reject"}})
	if err != nil {
		t.Fatal(err)
	}
	for e.depth(t, e.name+"-dead") < 1 {
		time.Sleep(10 * time.Millisecond)
	}
	d, err := rabbitdlq.Open(ctx, e.conn, e.name+"-dead", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	st, err := dlq.Redrive(ctx, d, nil)
	if err != nil || st.Moved != 1 || e.depth(t, e.name+"-q") != 1 || e.depth(t, e.name+"-dead") != 0 {
		t.Fatalf("%+v, %v; source %d, dead %d", st, err, e.depth(t, e.name+"-q"), e.depth(t, e.name+"-dead"))
	}
}
