package awslambda_test

import (
	"context"
	"os"

	"github.com/eventfn/eventfn/adapters/sqs"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/middleware"
	"github.com/eventfn/eventfn/middleware/awslambda"
)

// A Lambda function with the recommended stack: JSON logs carrying the
// request ID, function name and cold start, EMF metrics on stdout.
func ExampleDefaults() {
	metrics := middleware.NewMetrics(nil)
	orders := handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		middleware.LoggerFrom(ctx).InfoContext(ctx, "order received")
		return nil
	})
	h := handler.Chain(orders, awslambda.Defaults(&middleware.Options{Metrics: metrics}))
	if os.Getenv("AWS_LAMBDA_RUNTIME_API") == "" {
		return // not running in Lambda
	}
	sqs.Start(h, &sqs.Options{ReportBatchItemFailures: true})
}
