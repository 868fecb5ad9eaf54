package reliability_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/dynamostore"
	"github.com/eventfn/eventfn/idempotency/redisstore"
	"github.com/eventfn/eventfn/internal/testenv"
)

// A handler that runs 3 s under a 2 s lease keeps its key: copies that
// arrive while it runs, after its first lease would have ended, are held
// off by the heartbeat's extensions instead of running concurrently.
func TestHeartbeatKeepsALongHandlerExclusive(t *testing.T) {
	stores := map[string]func(t *testing.T) idempotency.Store{
		"redis": func(t *testing.T) idempotency.Store {
			s, err := redisstore.Open(startRedis(t).url(), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"dynamodb": func(t *testing.T) idempotency.Store {
			client := dynamodb.New(dynamodb.Options{
				Region:       "us-east-1",
				BaseEndpoint: aws.String(testenv.DynamoDB(t)),
				Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
			})
			b := make([]byte, 6)
			_, _ = rand.Read(b)
			table := "reliability-heartbeat-" + hex.EncodeToString(b)
			if err := dynamostore.CreateTable(context.Background(), client, table, nil); err != nil {
				t.Fatal(err)
			}
			return dynamostore.New(client, table, nil)
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := open(t)
			const lease = 2 * time.Second
			var runs atomic.Int32
			h := idempotency.Middleware(store, &idempotency.Options{Scope: "heartbeat", MinLease: lease, MaxLease: lease, DefaultLease: lease, CacheSize: -1})(
				handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
					runs.Add(1)
					select {
					case <-time.After(3 * time.Second):
						return nil
					case <-ctx.Done():
						return context.Cause(ctx)
					}
				}))
			// Five copies of one message, one every 600 ms: all but the
			// first arrive while it runs, three of them after its first
			// lease would have ended.
			var wg sync.WaitGroup
			errs := make([]error, 5)
			for i := range errs {
				wg.Go(func() {
					time.Sleep(time.Duration(i) * 600 * time.Millisecond)
					errs[i] = h.Handle(context.Background(), &handler.Message{ID: "long", Body: []byte("x"), DeliveryAttempt: i + 1})
				})
			}
			wg.Wait()
			if n := runs.Load(); n != 1 {
				t.Fatalf("the handler ran %d times for five concurrent copies, want once", n)
			}
			if errs[0] != nil {
				t.Fatalf("the long run: %v", errs[0])
			}
			for i, err := range errs[1:] {
				if handler.Classify(err) != handler.Retry {
					t.Errorf("copy %d: %v, want a retry (in progress)", i+2, err)
				}
			}
		})
	}
}
