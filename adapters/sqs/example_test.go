package sqs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/config"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/eventfn/eventfn/adapters/sqs"
	"github.com/eventfn/eventfn/handler"
)

type order struct {
	ID          string `json:"id"`
	AmountCents int64  `json:"amount_cents"`
}

var orderHandler = handler.JSON(func(ctx context.Context, m *handler.Message, o order) error {
	if o.AmountCents <= 0 {
		return handler.Permanent(errors.New("amount must be positive"))
	}
	return nil
})

// A Lambda function for an SQS trigger. The SQS client is created on first
// use only (a RetryAfter, a backoff or a dead letter), so cold starts do not
// pay for loading the AWS configuration.
func ExampleStart() {
	client := sqs.LazyClient(func(ctx context.Context) (*awssqs.Client, error) {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, err
		}
		return awssqs.NewFromConfig(cfg), nil
	})
	if os.Getenv("AWS_LAMBDA_RUNTIME_API") == "" {
		return // not running in Lambda
	}
	sqs.Start(orderHandler, &sqs.Options{
		Client:             client,
		Backoff:            sqs.Exponential(10*time.Second, 15*time.Minute),
		DeadLetterQueueURL: os.Getenv("ORDERS_DLQ_URL"),
	})
}

// HandleSQS returns the partial batch response Lambda expects.
func ExampleLambda_HandleSQS() {
	l := sqs.NewLambda(orderHandler, &sqs.Options{ReportBatchItemFailures: true})
	resp, err := l.HandleSQS(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m-1", Body: `{"id":"o-1","amount_cents":1200}`, EventSource: "aws:sqs"},
		{MessageId: "m-2", Body: `{"id":"o-2","amount_cents":-5}`, EventSource: "aws:sqs"},
		{MessageId: "m-3", Body: `not json`, EventSource: "aws:sqs"},
	}})
	fmt.Println(err)
	for _, f := range resp.BatchItemFailures {
		fmt.Println("failed:", f.ItemIdentifier)
	}
	// Output:
	// <nil>
	// failed: m-2
	// failed: m-3
}

// A long-running consumer that stops cleanly on SIGTERM.
func ExampleConsumer() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	queue := os.Getenv("ORDERS_QUEUE_URL")
	if queue == "" {
		return
	}
	c := sqs.NewConsumer(awssqs.NewFromConfig(cfg), queue, orderHandler, &sqs.ConsumerOptions{
		Backoff: sqs.Exponential(time.Second, time.Minute),
	})
	if err := c.Run(ctx); err != nil {
		fmt.Println(err)
	}
}

func ExampleExponential() {
	b := sqs.Exponential(10*time.Second, time.Minute)
	for attempt := 1; attempt <= 4; attempt++ {
		fmt.Println(attempt, b(attempt))
	}
	// Output:
	// 1 10s
	// 2 20s
	// 3 40s
	// 4 1m0s
}
