package dynamostore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventfn/eventfn/idempotency/dynamostore"
	"github.com/eventfn/eventfn/internal/testenv"
)

// newClient returns a client for endpoint. The SDK's standard retryer is
// kept (3 attempts) but without backoff or retry quota, so fault tests are
// quick and independent.
func newClient(endpoint string, rt http.RoundTripper) *dynamodb.Client {
	o := dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
			o.RateLimiter = ratelimit.None
		}),
	}
	if rt != nil {
		o.HTTPClient = &http.Client{Transport: rt}
	}
	return dynamodb.New(o)
}

var (
	tableOnce sync.Once
	tableName string
	tableErr  error
)

// sharedTable returns the table, created once per test binary, that tests
// share with random keys.
func sharedTable(t testing.TB) (endpoint, table string) {
	t.Helper()
	endpoint = testenv.DynamoDB(t)
	tableOnce.Do(func() {
		tableName = "eventfn-dynamostore-test-" + randHex()
		tableErr = dynamostore.CreateTable(context.Background(), newClient(endpoint, nil), tableName, nil)
	})
	if tableErr != nil {
		t.Fatalf("create test table: %v", tableErr)
	}
	return endpoint, tableName
}

// freshTable creates a table of its own for t with opts.
func freshTable(t testing.TB, opts *dynamostore.Options) (client *dynamodb.Client, table string) {
	t.Helper()
	client = newClient(testenv.DynamoDB(t), nil)
	table = "eventfn-dynamostore-test-" + randHex()
	if err := dynamostore.CreateTable(context.Background(), client, table, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &table})
	})
	return client, table
}

func randHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func randKey(t testing.TB) string { return fmt.Sprintf("%s/%s", t.Name(), randHex()) }

// counter is an http.RoundTripper that counts requests by DynamoDB operation.
type counter struct {
	next http.RoundTripper
	mu   sync.Mutex
	ops  map[string]int
	all  atomic.Int32
}

func newCounter() *counter { return &counter{next: http.DefaultTransport, ops: map[string]int{}} }

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.all.Add(1)
	c.mu.Lock()
	c.ops[operation(r)]++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

func (c *counter) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	ops := c.ops
	c.ops = map[string]int{}
	c.all.Store(0)
	return ops
}

// operation is the DynamoDB operation of a request: "PutItem", ...
func operation(r *http.Request) string {
	const prefix = "DynamoDB_20120810."
	op := r.Header.Get("X-Amz-Target")
	if len(op) > len(prefix) {
		return op[len(prefix):]
	}
	return op
}

// clock is a settable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
