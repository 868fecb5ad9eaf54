package pull_test

import (
	"context"
	"log"
	"os"
	"os/signal"

	gpubsub "cloud.google.com/go/pubsub/v2"

	"github.com/eventfn/eventfn/adapters/pubsub/pull"
	"github.com/eventfn/eventfn/handler"
)

type order struct {
	ID          string `json:"id"`
	AmountCents int64  `json:"amount_cents"`
}

var orderHandler = handler.JSON(func(ctx context.Context, m *handler.Message, o order) error {
	log.Printf("order %s (message %s, attempt %d)", o.ID, m.ID, m.DeliveryAttempt)
	return nil
})

// A long-running pull consumer that dead-letters permanent failures itself
// and stops gracefully on Ctrl-C.
func ExampleReceive() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	client, err := gpubsub.NewClient(ctx, "my-project") // honours PUBSUB_EMULATOR_HOST
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	dead := client.Publisher("orders-dead-letter")
	defer dead.Stop()
	err = pull.Receive(ctx, client, "orders-worker", orderHandler, &pull.ReceiveOptions{
		Process:    &handler.ProcessOptions{Concurrency: 20},
		DeadLetter: pull.PublishDeadLetters(dead),
	})
	if err != nil {
		log.Fatal(err)
	}
}
