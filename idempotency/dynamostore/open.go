package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventfn/eventfn/idempotency"
)

// OpenTimeout bounds the DescribeTable with which Open checks the table,
// retries included, when ctx allows longer.
const OpenTimeout = 5 * time.Second

// Open loads the default AWS configuration (environment, shared files,
// AWS_ENDPOINT_URL_DYNAMODB or AWS_ENDPOINT_URL for DynamoDB Local),
// checks with one DescribeTable, bounded by OpenTimeout, that table exists
// with Options.KeyAttribute as its partition key, and returns a Store on
// it. It fails with an error that names the table, the endpoint and the
// region in use and what to check. Open needs dynamodb:DescribeTable on the
// table besides what the Store uses; New makes no call.
//
// Call it when the Store is first needed, not at process start, so
// functions that do not use DynamoDB do not pay for loading the
// configuration.
func Open(ctx context.Context, table string, opts *Options) (*Store, error) {
	if table == "" {
		return nil, fmt.Errorf("%w: dynamostore: the table name is empty", idempotency.ErrStore)
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: dynamostore: load AWS config: %w", idempotency.ErrStore, err)
	}
	client := dynamodb.NewFromConfig(cfg)
	s := New(client, table, opts)
	if err := s.check(ctx, client); err != nil {
		return nil, err
	}
	return s, nil
}

// check verifies that s's table exists with s's partition key.
func (s *Store) check(ctx context.Context, client *dynamodb.Client) error {
	co := client.Options()
	where := fmt.Sprintf("at endpoint %s, region %q", endpointOf(co), co.Region)
	ctx, cancel := context.WithTimeout(ctx, OpenTimeout)
	defer cancel()
	out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.table})
	var notFound *types.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
		return fmt.Errorf("%w: dynamostore: table %q does not exist %s: create it (dynamostore.CreateTable, or the infrastructure code in the package doc), or check the table name, region and endpoint: %w",
			idempotency.ErrStore, s.table, where, err)
	case err != nil:
		return fmt.Errorf("%w: dynamostore: cannot describe table %q %s: %w (check that the endpoint is reachable, AWS_ENDPOINT_URL_DYNAMODB or AWS_ENDPOINT_URL for DynamoDB Local, AWS_REGION, the credentials, and dynamodb:DescribeTable permission)",
			idempotency.ErrStore, s.table, where, err)
	}
	if out.Table != nil {
		for _, k := range out.Table.KeySchema {
			if k.KeyType == types.KeyTypeHash && aws.ToString(k.AttributeName) != s.o.KeyAttribute {
				return fmt.Errorf("%w: dynamostore: table %q %s has partition key %q, but Options.KeyAttribute is %q",
					idempotency.ErrStore, s.table, where, aws.ToString(k.AttributeName), s.o.KeyAttribute)
			}
		}
	}
	return nil
}

// endpointOf names the endpoint a client with options o calls.
func endpointOf(o dynamodb.Options) string {
	if o.BaseEndpoint != nil && *o.BaseEndpoint != "" {
		return *o.BaseEndpoint
	}
	if o.Region == "" {
		return "(none: no region is set and no AWS_ENDPOINT_URL_DYNAMODB)"
	}
	return "the AWS default for the region (AWS_ENDPOINT_URL_DYNAMODB overrides it)"
}
