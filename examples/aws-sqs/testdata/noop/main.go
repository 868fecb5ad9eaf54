// Command noop is the benchmarks' measure of eventfn's own cost: the SQS
// adapter and the idempotency middleware on the Redis store around a
// handler that does nothing. Beyond the barestore baseline (the same event
// decoded and the same two store round trips, without eventfn), what it
// costs is the adapter + idempotency overhead. With NOOP_START=handlerfunc
// it starts through lambda.StartHandlerFunc with Lambda.Invoke instead of
// sqs.Start, for the cost of aws-lambda-go decoding the payload into a
// json.RawMessage first.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

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
	h := idempotency.Middleware(store, &idempotency.Options{Scope: os.Getenv("EVENTFN_SCOPE")})(noop)
	opts := &sqs.Options{ReportBatchItemFailures: true}
	if os.Getenv("NOOP_START") == "handlerfunc" {
		lambda.StartHandlerFunc(sqs.NewLambda(h, opts).Invoke)
	}
	sqs.Start(h, opts)
}
