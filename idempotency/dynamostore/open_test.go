package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/dynamostore"
	"github.com/eventfn/eventfn/internal/testenv"
)

// useEndpoint points the default AWS configuration at endpoint for the
// test.
func useEndpoint(t *testing.T, endpoint string) {
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// silentListener accepts connections and never answers, as a server that
// stopped (SIGSTOP) does.
func silentListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				for _, c := range conns {
					c.Close()
				}
				close(done)
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return "http://" + l.Addr().String()
}

func TestOpenChecksTheTable(t *testing.T) {
	endpoint, table := sharedTable(t)
	useEndpoint(t, endpoint)
	ctx := context.Background()

	s, err := dynamostore.Open(ctx, table, nil)
	if err != nil {
		t.Fatalf("Open of the test table: %v", err)
	}
	k := randKey(t)
	tok := mustClaim(t, s, k)
	if err := s.Complete(ctx, k, tok, nil, time.Hour); err != nil {
		t.Fatal(err)
	}

	missing := "eventfn-missing-" + randHex()
	_, err = dynamostore.Open(ctx, missing, nil)
	checkOpenErr(t, err, missing, endpoint, "does not exist", "CreateTable")

	_, err = dynamostore.Open(ctx, table, &dynamostore.Options{KeyAttribute: "id"})
	checkOpenErr(t, err, table, endpoint, `partition key "pk"`, `"id"`)

	if _, err := dynamostore.Open(ctx, "", nil); err == nil || !strings.Contains(err.Error(), "table name is empty") {
		t.Errorf("Open with no table name: err = %v", err)
	}
}

func TestOpenNamesAnUnreachableEndpoint(t *testing.T) {
	for _, tt := range []struct{ name, endpoint string }{
		{"nothing listens", fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))},
		{"nothing answers", silentListener(t)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			useEndpoint(t, tt.endpoint)
			start := time.Now()
			_, err := dynamostore.Open(context.Background(), "orders-idempotency", nil)
			t.Logf("Open: %v (after %v)", err, time.Since(start))
			checkOpenErr(t, err, "orders-idempotency", tt.endpoint, "cannot describe table", "AWS_ENDPOINT_URL_DYNAMODB")
			if d := time.Since(start); d > dynamostore.OpenTimeout+5*time.Second {
				t.Errorf("Open took %v, want about OpenTimeout (%v) at most", d, dynamostore.OpenTimeout)
			}
		})
	}
}

func checkOpenErr(t *testing.T, err error, table, endpoint string, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Open of %q at %s succeeded", table, endpoint)
	}
	if !errors.Is(err, idempotency.ErrStore) {
		t.Errorf("Open error %v does not match ErrStore", err)
	}
	for _, w := range append([]string{fmt.Sprintf("%q", table), endpoint, `region "us-east-1"`}, want...) {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Open error %q does not mention %s", err, w)
		}
	}
}
