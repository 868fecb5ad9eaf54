// Command bare is the benchmarks' baseline: a Go Lambda function that
// decodes an SQS event with aws-lambda-go and reports no failures, doing
// nothing else. What the example costs beyond it is the adapter's and the
// idempotency middleware's (and the store's) share.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.StartHandlerFunc(func(ctx context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
		return events.SQSEventResponse{}, nil
	})
}
