// Command consumer is the test program of eventfn run: a handler that
// appends each body it applies to $EVENTFN_TEST_OUT, fails "fail-once" on its
// first attempt and rejects "poison", run by gocloud.Run.
package main

import (
	"context"
	"errors"
	"log"
	"os"
	"sync"

	_ "gocloud.dev/pubsub/gcppubsub"
	_ "gocloud.dev/pubsub/mempubsub"

	"github.com/eventfn/eventfn/adapters/gocloud"
	"github.com/eventfn/eventfn/handler"
)

func main() {
	var mu sync.Mutex
	out := os.Getenv("EVENTFN_TEST_OUT")
	h := handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		switch body := string(m.Body); {
		case body == "poison":
			return handler.Permanent(errors.New("poison message"))
		case body == "fail-once" && m.DeliveryAttempt <= 1:
			return errors.New("injected transient failure")
		}
		mu.Lock()
		defer mu.Unlock()
		f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.Write(append(m.Body, '\n'))
		return err
	})
	st, err := gocloud.Run(context.Background(), h, nil)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("consumer: %+v", st)
}
