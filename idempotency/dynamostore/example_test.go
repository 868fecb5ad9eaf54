package dynamostore_test

import (
	"context"
	"log"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/dynamostore"
)

func ExampleNew() {
	// The default configuration honours AWS_ENDPOINT_URL_DYNAMODB, so the
	// same code runs against DynamoDB Local.
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	store := dynamostore.New(dynamodb.NewFromConfig(cfg), "idempotency", nil)
	orders := handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		// charge the card, once
		return nil
	})
	h := idempotency.Middleware(store, &idempotency.Options{Scope: "orders"})(orders)
	_ = h // lambda.Start(sqs.Handler(h)), say
}

func ExampleCreateTable() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	// Idempotent: safe to run on every deploy or test start.
	if err := dynamostore.CreateTable(ctx, dynamodb.NewFromConfig(cfg), "idempotency", nil); err != nil {
		log.Fatal(err)
	}
}
