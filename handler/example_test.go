package handler_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/eventfn/eventfn/handler"
)

func ExampleProcess() {
	h := handler.JSON(func(ctx context.Context, m *handler.Message, p struct{ Amount int }) error {
		switch {
		case p.Amount < 0:
			return handler.Permanent(errors.New("negative amount")) // dead-letter
		case p.Amount == 0:
			return errors.New("ledger busy") // retry
		}
		return nil
	})
	batch := []*handler.Message{
		{ID: "1", Body: []byte(`{"Amount": 5}`)},
		{ID: "2", Body: []byte(`{"Amount": 0}`)},
		{ID: "3", Body: []byte(`{"Amount": -1}`)},
		{ID: "4", Body: []byte(`not json`)},
	}
	for _, r := range handler.Process(context.Background(), h, batch, nil) {
		fmt.Println(r.Message.ID, r.Outcome)
	}
	// Output:
	// 1 ack
	// 2 retry
	// 3 reject
	// 4 reject
}

func ExampleChain() {
	logging := func(next handler.Handler) handler.Handler {
		return handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
			err := next.Handle(ctx, m)
			fmt.Printf("message %s: %v\n", m.ID, handler.Classify(err))
			return err
		})
	}
	h := handler.Chain(handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }), logging)
	_ = h.Handle(context.Background(), &handler.Message{ID: "42"})
	// Output: message 42: ack
}
