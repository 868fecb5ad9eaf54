package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventfn/eventfn/idempotency"
)

// TableAPI is the part of *dynamodb.Client that CreateTable uses.
type TableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	DescribeTimeToLive(ctx context.Context, in *dynamodb.DescribeTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// CreateTable creates table for a Store with opts (nil for the defaults):
// on-demand capacity (PAY_PER_REQUEST), the string partition key
// Options.KeyAttribute, and TTL on Options.ExpiryAttribute. It waits until
// the table is ACTIVE. It is idempotent: an existing table is kept, and TTL
// is enabled on it if it is not yet. It fails if the existing table's TTL is
// on another attribute. Production tables are better declared in
// infrastructure code; see the package doc.
func CreateTable(ctx context.Context, client TableAPI, table string, opts *Options) error {
	o := opts.withDefaults()
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            &table,
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: &o.KeyAttribute, AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: &o.KeyAttribute, KeyType: types.KeyTypeHash}},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("%w: dynamostore: create table %q: %w", idempotency.ErrStore, table, err)
	}
	waiter := dynamodb.NewTableExistsWaiter(client, func(w *dynamodb.TableExistsWaiterOptions) {
		w.MinDelay, w.MaxDelay = time.Second, 5*time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: &table}, 5*time.Minute); err != nil {
		return fmt.Errorf("%w: dynamostore: wait for table %q: %w", idempotency.ErrStore, table, err)
	}
	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &table})
	if err != nil {
		return fmt.Errorf("%w: dynamostore: describe TTL of %q: %w", idempotency.ErrStore, table, err)
	}
	if d := ttl.TimeToLiveDescription; d != nil {
		switch d.TimeToLiveStatus {
		case types.TimeToLiveStatusEnabled, types.TimeToLiveStatusEnabling:
			if aws.ToString(d.AttributeName) == o.ExpiryAttribute {
				return nil
			}
			return fmt.Errorf("%w: dynamostore: table %q has TTL on %q, not %q", idempotency.ErrStore, table, aws.ToString(d.AttributeName), o.ExpiryAttribute)
		}
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               &table,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: &o.ExpiryAttribute, Enabled: aws.Bool(true)},
	})
	if err != nil {
		return fmt.Errorf("%w: dynamostore: enable TTL on %q: %w", idempotency.ErrStore, table, err)
	}
	return nil
}
