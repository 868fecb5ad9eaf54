package gocloud_test

import (
	"context"
	"log"
	"os"
	"os/signal"

	amqp "github.com/rabbitmq/amqp091-go"
	"gocloud.dev/pubsub"
	_ "gocloud.dev/pubsub/rabbitpubsub"

	"github.com/eventfn/eventfn/adapters/gocloud"
	"github.com/eventfn/eventfn/handler"
)

// A RabbitMQ consumer with native dead-lettering. The queue is a quorum
// queue: a Retry nacks the message with requeue, the queue counts the
// delivery, and after x-delivery-limit redeliveries it routes the message
// through x-dead-letter-exchange into orders-dead (with an x-death header
// naming orders-q, which "eventfn dlq redrive" reads). A Reject goes to the
// same exchange at once through Options.DeadLetter, carrying the eventfn-*
// attributes. Producers set the AMQP message-id (or an "eventfn-id" header):
// it becomes Message.ID, so idempotency keys stay stable across
// redeliveries. rabbit:// URLs dial RABBIT_SERVER_URL.
func ExampleReceive_rabbitMQ() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	conn, err := amqp.Dial(os.Getenv("RABBIT_SERVER_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		log.Fatal(err)
	}
	for _, ex := range []string{"orders", "orders-dlx"} {
		if err := ch.ExchangeDeclare(ex, "fanout", true, false, false, false, nil); err != nil {
			log.Fatal(err)
		}
	}
	if _, err := ch.QueueDeclare("orders-q", true, false, false, false, amqp.Table{
		"x-queue-type":           "quorum",
		"x-dead-letter-exchange": "orders-dlx",
		"x-delivery-limit":       5,
	}); err != nil {
		log.Fatal(err)
	}
	if _, err := ch.QueueDeclare("orders-dead", true, false, false, false, nil); err != nil {
		log.Fatal(err)
	}
	if err := ch.QueueBind("orders-q", "", "orders", false, nil); err != nil {
		log.Fatal(err)
	}
	if err := ch.QueueBind("orders-dead", "", "orders-dlx", false, nil); err != nil {
		log.Fatal(err)
	}

	sub, opts, err := gocloud.Open(ctx, "rabbit://orders-q")
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Shutdown(context.Background())
	dlx, err := pubsub.OpenTopic(ctx, "rabbit://orders-dlx")
	if err != nil {
		log.Fatal(err)
	}
	defer dlx.Shutdown(context.Background())
	opts.DeadLetter = dlx

	h := handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		log.Printf("order %s: %s", m.ID, m.Body)
		return nil
	})
	if err := gocloud.Receive(ctx, sub, h, opts); err != nil {
		log.Fatal(err)
	}
}
