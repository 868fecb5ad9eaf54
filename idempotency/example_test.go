package idempotency_test

import (
	"context"
	"fmt"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/memstore"
)

func ExampleMiddleware() {
	store := memstore.New(nil) // redisstore.Open(url, nil) or dynamostore.New(...) in production
	charges := 0
	h := handler.Chain(
		handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
			charges++ // the side effect that must happen once
			return nil
		}),
		idempotency.Middleware(store, &idempotency.Options{Scope: "billing"}),
	)
	// The platform delivers the same message three times.
	m := &handler.Message{ID: "msg-1", Body: []byte(`{"amount":5}`)}
	for i := 0; i < 3; i++ {
		res := handler.Process(context.Background(), h, []*handler.Message{m}, nil)
		fmt.Println(res[0].Outcome)
	}
	fmt.Println("charges:", charges)
	// Output:
	// ack
	// ack
	// ack
	// charges: 1
}

func ExampleDo() {
	store := memstore.New(nil)
	pay := func(ctx context.Context) (string, error) { return "receipt-1", nil }
	for i := 0; i < 2; i++ {
		receipt, err := idempotency.Do(context.Background(), store, "order-7/payment", pay, nil)
		fmt.Println(receipt, err)
	}
	// Output:
	// receipt-1 <nil>
	// receipt-1 <nil>
}
