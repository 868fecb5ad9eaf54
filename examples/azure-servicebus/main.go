// Command azure-servicebus is the orders example as an Azure Functions
// custom handler with Service Bus triggers: the shared order handler
// (examples/orders), made exactly-once with the idempotency middleware, served
// as two functions, ProcessOrder (one message per invocation) and
// ProcessOrderBatch ("cardinality": "many").
//
// Environment:
//
//	FUNCTIONS_CUSTOMHANDLER_PORT  port to serve on (set by the Functions host)
//	EVENTFN_REDIS_URL             idempotency store (redis:// or rediss://);
//	                              unset: an in-memory store (one instance only)
//	ORDERS_IDEMPOTENCY_SCOPE      idempotency scope (default "orders")
//	ORDERS_QUEUE                  reported as Message.Queue (default "orders")
//	ORDERS_LEDGER_FILE, ORDERS_FAIL_FIRST_ATTEMPT  see examples/orders
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/eventfn/eventfn/adapters/servicebus"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/memstore"
	"github.com/eventfn/eventfn/idempotency/redisstore"
	"github.com/eventfn/eventfn/middleware"

	"github.com/eventfn/eventfn/examples/orders"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		slog.Error("azure-servicebus: exiting", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	store, closeStore, err := openStore()
	if err != nil {
		return err
	}
	defer closeStore()

	// The recommended stack: recover, logs, traces, metrics, breaker, then
	// idempotency. In-process retries are off: Service Bus redelivers up to
	// the queue's MaxDeliveryCount.
	ttl, err := orders.IdempotencyTTL()
	if err != nil {
		return err
	}
	h := handler.Chain(orders.NewHandler(orders.ConfigFromEnv()),
		middleware.Defaults(&middleware.Options{
			DisableRetry: true,
			Idempotency:  idempotency.Middleware(store, &idempotency.Options{Scope: getenv("ORDERS_IDEMPOTENCY_SCOPE", "orders"), TTL: ttl}),
		}))
	queue := getenv("ORDERS_QUEUE", "orders")

	mux := http.NewServeMux()
	// The names match ProcessOrder/function.json and
	// ProcessOrderBatch/function.json.
	mux.Handle("/ProcessOrder", servicebus.NewFunction(h, &servicebus.FunctionOptions{
		Binding: "order", Queue: queue, RejectedOutput: "rejected",
	}))
	mux.Handle("/ProcessOrderBatch", servicebus.NewFunction(h, &servicebus.FunctionOptions{
		Binding: "orders", Many: true, Queue: getenv("ORDERS_BULK_QUEUE", "orders-bulk"), RejectedOutput: "rejected",
	}))
	addr, err := servicebus.Addr()
	if err != nil {
		return err
	}
	slog.Info("azure-servicebus: serving", "addr", addr)
	return servicebus.ListenAndServe(ctx, mux)
}

// openStore returns the Redis store named by EVENTFN_REDIS_URL, or an
// in-memory store when it is unset.
func openStore() (idempotency.Store, func(), error) {
	url := os.Getenv("EVENTFN_REDIS_URL")
	if url == "" {
		slog.Warn("azure-servicebus: EVENTFN_REDIS_URL is unset; using an in-memory idempotency store (duplicates across instances are not caught)")
		return memstore.New(nil), func() {}, nil
	}
	s, err := redisstore.Open(url, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("azure-servicebus: idempotency store: %w", err)
	}
	return s, func() { _ = s.Close() }, nil
}

func getenv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
