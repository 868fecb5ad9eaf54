// Command run is the orders handler as a local consumer of any gocloud.dev
// subscription URL, for eventfn run, which builds it and sets the
// subscription in the environment:
//
//	eventfn run --sub gcppubsub://projects/eventfn-local/subscriptions/orders-worker ./cmd/run
//
// Ctrl-C stops it gracefully, and eventfn run prints how many messages were
// acked, retried and dead-lettered.
package main

import (
	"context"
	"log"

	_ "gocloud.dev/pubsub/gcppubsub" // gcppubsub:// URLs (PUBSUB_EMULATOR_HOST for the emulator)

	"github.com/eventfn/eventfn/adapters/gocloud"

	orderfn "github.com/eventfn/eventfn/examples/gcp-pubsub"
)

func main() {
	if _, err := gocloud.Run(context.Background(), orderfn.Handler(), nil); err != nil {
		log.Fatalf("run: %v", err)
	}
}
