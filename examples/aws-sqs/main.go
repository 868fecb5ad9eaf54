// Command aws-sqs runs the orders handler (examples/orders) as an AWS Lambda
// function behind an SQS queue, made idempotent with a Redis or DynamoDB
// store. Build it for provided.al2023 as a file named bootstrap:
//
//	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags='-s -w' -o bootstrap .
//
// Configuration, from the environment:
//
//	EVENTFN_STORE           redis or dynamodb (default: dynamodb when
//	                        EVENTFN_DYNAMODB_TABLE is set, else redis)
//	EVENTFN_REDIS_URL       redis:// or rediss:// URL of the store
//	EVENTFN_DYNAMODB_TABLE  table of the store (see dynamostore.CreateTable);
//	                        AWS_ENDPOINT_URL_DYNAMODB points it at DynamoDB Local
//	EVENTFN_SCOPE           idempotency scope (default: the function name)
//	EVENTFN_CONCURRENCY     records handled at once (default 10)
//	EVENTFN_BACKOFF         first visibility backoff of a failed record,
//	                        doubling per attempt up to 15m (default: none, the
//	                        queue's visibility timeout)
//	ORDERS_DLQ_URL          explicit dead-letter queue for permanent failures
//	                        (default: none, the queue's redrive policy)
//	ORDERS_QUEUE_URL        the source queue's URL, for emulators whose URLs
//	                        are not AWS's (default: derived from the ARN)
//	ORDERS_LEDGER_FILE, ORDERS_FAIL_FIRST_ATTEMPT: see orders.ConfigFromEnv
//	ORDERS_SLOW_MESSAGES    fault injection for the end-to-end tests: message
//	                        IDs whose handler blocks until its deadline
//
// Only the store's client is created at start; the SQS client (for backoff
// and the dead-letter queue) loads the AWS configuration on first use.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/eventfn/eventfn/adapters/sqs"
	"github.com/eventfn/eventfn/examples/orders"
	"github.com/redis/go-redis/v9"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/dynamostore"
	"github.com/eventfn/eventfn/idempotency/redisstore"
	"github.com/eventfn/eventfn/middleware"
	"github.com/eventfn/eventfn/middleware/awslambda"
)

func main() {
	h, opts, err := setup(context.Background(), os.Getenv)
	if err != nil {
		slog.Error("aws-sqs: setup", slog.Any("error", err))
		os.Exit(1)
	}
	sqs.Start(h, opts)
}

// setup builds the function's handler and adapter options from env.
func setup(ctx context.Context, env func(string) string) (handler.Handler, *sqs.Options, error) {
	store, err := openStore(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	scope := env("EVENTFN_SCOPE")
	if scope == "" {
		scope = env("AWS_LAMBDA_FUNCTION_NAME")
	}
	ttl, err := orders.IdempotencyTTL()
	if err != nil {
		return nil, nil, err
	}
	h := handler.Chain(orders.NewHandler(orders.ConfigFromEnv()),
		// The recommended stack: recover, logs, traces, metrics (EMF on
		// stdout), breaker, then idempotency. In-process retries are off:
		// SQS redelivers a failed message with the visibility backoff, so
		// retrying here too would multiply the attempts.
		awslambda.Defaults(&middleware.Options{
			DisableRetry: true,
			Idempotency: idempotency.Middleware(store, &idempotency.Options{
				Scope: scope,
				TTL:   ttl,
				// A producer that publishes one order twice gets two
				// message IDs: key on the order instead.
				Key: idempotency.FromJSONField("id"),
			}),
		}),
		slowMessages(env("ORDERS_SLOW_MESSAGES")),
	)

	opts := &sqs.Options{
		Client: sqs.LazyClient(func(ctx context.Context) (*awssqs.Client, error) {
			cfg, err := config.LoadDefaultConfig(ctx)
			if err != nil {
				return nil, fmt.Errorf("aws-sqs: AWS config: %w", err)
			}
			return awssqs.NewFromConfig(cfg), nil
		}),
		DeadLetterQueueURL: env("ORDERS_DLQ_URL"),
	}
	if u := env("ORDERS_QUEUE_URL"); u != "" {
		opts.QueueURL = func(string) string { return u }
	}
	if n, _ := strconv.Atoi(env("EVENTFN_CONCURRENCY")); n > 0 {
		opts.Process = &handler.ProcessOptions{Concurrency: n}
	}
	if v := env("EVENTFN_BACKOFF"); v != "" {
		base, err := time.ParseDuration(v)
		if err != nil {
			return nil, nil, fmt.Errorf("aws-sqs: EVENTFN_BACKOFF: %w", err)
		}
		opts.Backoff = sqs.Exponential(base, 15*time.Minute)
	}
	return h, opts, nil
}

// openStore opens the idempotency store EVENTFN_STORE names.
func openStore(ctx context.Context, env func(string) string) (idempotency.Store, error) {
	kind := env("EVENTFN_STORE")
	if kind == "" {
		kind = "redis"
		if env("EVENTFN_DYNAMODB_TABLE") != "" {
			kind = "dynamodb"
		}
	}
	switch kind {
	case "redis":
		url := env("EVENTFN_REDIS_URL")
		if url == "" {
			return nil, fmt.Errorf("aws-sqs: EVENTFN_REDIS_URL is not set")
		}
		// Connect on first use, not at init: with Redis down the function
		// still starts and reports each message failed, so SQS redelivers.
		o, err := redisstore.ParseURL(url)
		if err != nil {
			return nil, err
		}
		return redisstore.New(redis.NewClient(o), nil), nil
	case "dynamodb":
		table := env("EVENTFN_DYNAMODB_TABLE")
		if table == "" {
			return nil, fmt.Errorf("aws-sqs: EVENTFN_DYNAMODB_TABLE is not set")
		}
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("aws-sqs: AWS config: %w", err)
		}
		return dynamostore.New(dynamodb.NewFromConfig(cfg), table, nil), nil
	}
	return nil, fmt.Errorf("aws-sqs: EVENTFN_STORE=%q, want redis or dynamodb", kind)
}

// slowMessages is fault injection for the end-to-end tests: the handler of
// each listed message ID blocks until its context ends.
func slowMessages(list string) handler.Middleware {
	if list == "" {
		return nil
	}
	ids := strings.Split(list, ",")
	return func(next handler.Handler) handler.Handler {
		return handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
			if slices.Contains(ids, m.ID) {
				<-ctx.Done()
				return fmt.Errorf("aws-sqs: slow message: %w", ctx.Err())
			}
			return next.Handle(ctx, m)
		})
	}
}
