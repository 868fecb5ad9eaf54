package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/dynamostore"
	"github.com/eventfn/eventfn/internal/testenv"
)

// An endpoint that stops answering, or is gone, makes every call of a
// Store on the SDK's default client (its standard retryer, with backoff)
// return by the context's deadline with a store error: the retries never
// outlive it.
func TestCallsEndByTheirDeadlineWhenDynamoDBHangsOrIsGone(t *testing.T) {
	const deadline = 300 * time.Millisecond
	const slack = 2 * time.Second // a loaded CPU, never a hanging server
	for _, tt := range []struct{ name, endpoint string }{
		{"nothing answers", silentListener(t)},
		{"nothing listens", fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			useEndpoint(t, tt.endpoint)
			cfg, err := config.LoadDefaultConfig(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			s := dynamostore.New(dynamodb.NewFromConfig(cfg), "orders-idempotency", nil)
			lease := time.Minute
			calls := []struct {
				name string
				call func(ctx context.Context) error
			}{
				{"Claim", func(ctx context.Context) error {
					_, err := s.Claim(ctx, idempotency.ClaimRequest{Key: randKey(t), Fingerprint: "fp", Lease: lease})
					return err
				}},
				{"Complete", func(ctx context.Context) error { return s.Complete(ctx, randKey(t), "tok", nil, time.Hour) }},
				{"Extend", func(ctx context.Context) error { return s.Extend(ctx, randKey(t), "tok", lease) }},
				{"Release", func(ctx context.Context) error { return s.Release(ctx, randKey(t), "tok") }},
				{"Get", func(ctx context.Context) error { _, err := s.Get(ctx, randKey(t)); return err }},
				{"ClaimBatch", func(ctx context.Context) error {
					reqs := make([]idempotency.ClaimRequest, 10)
					for i := range reqs {
						reqs[i] = idempotency.ClaimRequest{Key: randKey(t), Fingerprint: "fp", Lease: lease}
					}
					_, errs := s.ClaimBatch(ctx, reqs)
					return allErr(errs)
				}},
				{"CompleteBatch", func(ctx context.Context) error {
					items := make([]idempotency.Completion, 10)
					for i := range items {
						items[i] = idempotency.Completion{Key: randKey(t), Token: "tok", TTL: time.Hour}
					}
					return allErr(s.CompleteBatch(ctx, items))
				}},
			}
			for _, c := range calls {
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				start := time.Now()
				err := c.call(ctx)
				took := time.Since(start)
				cancel()
				t.Logf("%s: %v after %v", c.name, err, took)
				if !errors.Is(err, idempotency.ErrStore) {
					t.Errorf("%s: err = %v, want ErrStore", c.name, err)
				}
				if took > deadline+slack {
					t.Errorf("%s returned after %v, want by its %v deadline", c.name, took, deadline)
				}
			}
		})
	}
}

// allErr returns an error unless every item of a batch failed with
// ErrStore: then it returns the first.
func allErr(errs []error) error {
	for i, err := range errs {
		if !errors.Is(err, idempotency.ErrStore) {
			return fmt.Errorf("item %d: %v", i, err)
		}
	}
	return errs[0]
}
