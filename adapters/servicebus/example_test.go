package servicebus_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/eventfn/eventfn/adapters/servicebus"
	"github.com/eventfn/eventfn/handler"
)

// An Azure Functions custom handler: one http.Handler per function, mounted
// at /<FunctionName>, served on FUNCTIONS_CUSTOMHANDLER_PORT.
func ExampleNewFunction() {
	h := handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		servicebus.Logf(ctx, "order %s, attempt %d", m.ID, m.DeliveryAttempt)
		return nil
	})
	mux := http.NewServeMux()
	// function.json: {"type": "serviceBusTrigger", "name": "order", "queueName": "orders", ...}
	mux.Handle("/ProcessOrder", servicebus.NewFunction(h, &servicebus.FunctionOptions{Binding: "order", Queue: "orders"}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := servicebus.ListenAndServe(ctx, mux); err != nil {
		log.Fatal(err)
	}
}

// A long-running consumer in a container: receive in batches, renew locks
// while handlers run, settle by outcome, stop gracefully on SIGTERM.
func ExampleNewConsumer() {
	client, err := azservicebus.NewClientFromConnectionString(os.Getenv("SERVICEBUS_CONNECTION_STRING"), nil)
	if err != nil {
		log.Fatal(err)
	}
	receiver, err := client.NewReceiverForQueue("orders", nil)
	if err != nil {
		log.Fatal(err)
	}
	h := handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error { return nil })
	c := servicebus.NewConsumer(receiver, h, &servicebus.ConsumerOptions{Queue: "orders", BatchSize: 20})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := c.Run(ctx); err != nil {
		log.Fatal(err)
	}
	_ = receiver.Close(context.Background())
}
