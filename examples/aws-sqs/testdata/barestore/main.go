// Command barestore is the benchmarks' baseline with the store: a bare
// aws-lambda-go function that decodes an SQS event and makes the Redis
// store's two round trips for it (one batch claim of the records' message
// IDs, one batch complete), reporting no failures and doing nothing else.
// What the example costs beyond it, less the orders handler's own work, is
// the adapter's and the idempotency middleware's overhead, measured under
// the same emulator, process and connection conditions as the round trips.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/redisstore"
)

func main() {
	store, err := redisstore.Open(os.Getenv("EVENTFN_REDIS_URL"), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	scope := os.Getenv("EVENTFN_SCOPE")
	lambda.StartHandlerFunc(func(ctx context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
		if len(e.Records) == 0 {
			return events.SQSEventResponse{}, nil
		}
		reqs := make([]idempotency.ClaimRequest, len(e.Records))
		for i, r := range e.Records {
			reqs[i] = idempotency.ClaimRequest{Key: scope + r.MessageId, Fingerprint: "fp", Lease: time.Minute}
		}
		claims, errs := store.ClaimBatch(ctx, reqs)
		items := make([]idempotency.Completion, len(reqs))
		for i, c := range claims {
			if errs[i] != nil || !c.Acquired {
				return events.SQSEventResponse{}, fmt.Errorf("claim %s: %v", reqs[i].Key, errs[i])
			}
			items[i] = idempotency.Completion{Key: reqs[i].Key, Token: c.Token, TTL: time.Minute}
		}
		for i, err := range store.CompleteBatch(ctx, items) {
			if err != nil {
				return events.SQSEventResponse{}, fmt.Errorf("complete %s: %w", items[i].Key, err)
			}
		}
		return events.SQSEventResponse{}, nil
	})
}
