// Command noop is the benchmarks' measure of eventfn's own cost: the SQS
// adapter and the idempotency middleware on the Redis store around a
// handler that does nothing. Beyond the barestore baseline (the same event
// decoded and the same two store round trips, without eventfn), what it
// costs is the adapter + idempotency overhead.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/eventfn/eventfn/adapters/sqs"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/redisstore"
)

func main() {
	store, err := redisstore.Open(os.Getenv("EVENTFN_REDIS_URL"), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	noop := handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil })
	sqs.Start(idempotency.Middleware(store, &idempotency.Options{Scope: os.Getenv("EVENTFN_SCOPE")})(noop),
		&sqs.Options{ReportBatchItemFailures: true})
}
