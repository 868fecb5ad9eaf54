package reliability_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/redisstore"
)

func init() { children["crash"] = crashChild }

const crashLease = time.Second

// crashBatch is ten messages of which "slow" never finishes in the child.
func crashBatch() []*handler.Message {
	msgs := []*handler.Message{{ID: "slow", Body: []byte("s"), DeliveryAttempt: 1}}
	for i := range 9 {
		msgs = append(msgs, &handler.Message{ID: fmt.Sprintf("quick-%d", i), Body: []byte("q"), DeliveryAttempt: 1})
	}
	return msgs
}

// effectHandler records each message's effect in Redis (INCR), durable
// across the process's death; block, when not nil, holds the slow message.
func effectHandler(rc redis.UniversalClient, block <-chan struct{}) handler.Handler {
	return handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		if m.ID == "slow" && block != nil {
			<-block
		}
		return rc.Incr(ctx, "effects:"+m.ID).Err()
	})
}

func crashGuard(url string) (*redisstore.Store, handler.Handler, error) {
	store, err := redisstore.Open(url, nil)
	if err != nil {
		return nil, nil, err
	}
	g, err := idempotency.New(store, &idempotency.Options{Scope: "crash", CacheSize: -1, MinLease: crashLease, MaxLease: crashLease, ShareScope: true})
	if err != nil {
		return nil, nil, err
	}
	return store, g.Wrap(effectHandler(store.Client(), nil)), nil
}

// crashChild runs the batch with the slow message blocked forever: the
// parent kills it with SIGKILL while the slow handler runs.
func crashChild() error {
	store, err := redisstore.Open(os.Getenv("RELIABILITY_REDIS_URL"), nil)
	if err != nil {
		return err
	}
	g, err := idempotency.New(store, &idempotency.Options{Scope: "crash", CacheSize: -1, MinLease: crashLease, MaxLease: crashLease})
	if err != nil {
		return err
	}
	handler.Process(context.Background(), g.Wrap(effectHandler(store.Client(), make(chan struct{}))), crashBatch(), nil)
	return nil
}

// A process killed while one handler of its batch still runs has already
// completed the records of the messages that finished: their redelivery is
// a duplicate, not a second effect.
func TestKillAfterTheEffectDoesNotRunItAgain(t *testing.T) {
	srv := startRedis(t)
	rc := redis.NewClient(&redis.Options{Addr: srv.addr()})
	defer rc.Close()
	ctx := context.Background()

	cmd := child(t, "crash", "RELIABILITY_REDIS_URL="+srv.url())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait for the nine quick effects, then a little: the crash comes after
	// the effects, while the slow handler still runs.
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		n := 0
		for i := range 9 {
			if v, _ := rc.Get(ctx, fmt.Sprintf("effects:quick-%d", i)).Int(); v > 0 {
				n++
			}
		}
		if n == 9 {
			break
		}
		if time.Now().After(end) {
			_ = cmd.Process.Kill()
			t.Fatalf("the child ran %d quick effects in 20s\n%s", n, stderr.String())
		}
	}
	time.Sleep(100 * time.Millisecond)
	_ = cmd.Process.Kill() // SIGKILL: no deferred function runs
	_ = cmd.Wait()

	// The platform redelivers the whole batch once the leases are over.
	time.Sleep(crashLease + 200*time.Millisecond)
	store, h, err := crashGuard(srv.url())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, r := range handler.Process(ctx, h, crashBatch(), nil) {
		if r.Err != nil {
			t.Fatalf("redelivery of %s: %v", r.Message.ID, r.Err)
		}
	}
	for _, m := range crashBatch() {
		if n, _ := rc.Get(ctx, "effects:"+m.ID).Int(); n != 1 {
			t.Errorf("message %s: effect ran %d times, want once", m.ID, n)
		}
	}
}
