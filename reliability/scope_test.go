package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/redisstore"
)

func init() { children["fanout"] = fanoutChild }

// fanoutChild is one function of a fan-out: it handles event "evt-1" with
// nil idempotency options, its scope coming from AWS_LAMBDA_FUNCTION_NAME,
// and counts its effect in Redis under its function name.
func fanoutChild() error {
	url := os.Getenv("RELIABILITY_REDIS_URL")
	store, err := redisstore.Open(url, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	name := os.Getenv("AWS_LAMBDA_FUNCTION_NAME")
	h := idempotency.Middleware(store, nil)(handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		return store.Client().Incr(ctx, "effects:"+name+":"+m.ID).Err()
	}))
	for _, r := range handler.Process(context.Background(), h, []*handler.Message{{ID: "evt-1", Body: []byte(`{"to":"a@example.com"}`), DeliveryAttempt: 1}}, nil) {
		if r.Err != nil {
			return fmt.Errorf("%s: %w", name, r.Err)
		}
	}
	return nil
}

// Two functions consuming the same events on one Redis, both with nil
// options, each run their own effect: the default scope is the function's
// name, never a shared constant.
func TestTwoFunctionsOnOneRedisEachRunTheirEffect(t *testing.T) {
	srv := startRedis(t)
	for _, name := range []string{"emails", "ledger", "emails"} { // emails twice: a redelivery
		out, err := child(t, "fanout", "RELIABILITY_REDIS_URL="+srv.url(), "AWS_LAMBDA_FUNCTION_NAME="+name).CombinedOutput()
		if err != nil {
			t.Fatalf("function %s: %v\n%s", name, err, out)
		}
	}
	rc := redis.NewClient(&redis.Options{Addr: srv.addr()})
	defer rc.Close()
	for _, name := range []string{"emails", "ledger"} {
		n, err := rc.Get(context.Background(), "effects:"+name+":evt-1").Int()
		if err != nil || n != 1 {
			t.Errorf("%s ran its effect %d times (%v), want once", name, n, err)
		}
	}
}

// In one process the two handlers get the same platform name: the second
// middleware on the same store is refused at construction, naming the fix.
func TestTwoHandlersInOneProcessAreRefusedASharedScope(t *testing.T) {
	srv := startRedis(t)
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "fanout")
	store, err := redisstore.Open(srv.url(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := idempotency.New(store, nil); err != nil {
		t.Fatal(err)
	}
	_, err = idempotency.New(store, nil)
	if !errors.Is(err, idempotency.ErrScope) || !strings.Contains(err.Error(), "Options.Scope") {
		t.Fatalf("second handler on the same store and scope: %v, want ErrScope naming Options.Scope", err)
	}
}
