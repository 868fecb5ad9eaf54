package gocloud_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gpubsub "cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"gocloud.dev/pubsub"
	_ "gocloud.dev/pubsub/gcppubsub"

	"github.com/eventfn/eventfn/adapters/gocloud"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/redisstore"
	"github.com/eventfn/eventfn/internal/testenv"
)

// The consumer on a real broker opened by URL: gcppubsub:// against the
// pstest server (PUBSUB_EMULATOR_HOST), with Redis idempotency. Producer
// duplicates and transient failures must still give one effect per event.
func TestConsumerOnPubSubEmulatorByURL(t *testing.T) {
	testenv.PubSub(t)
	redisURL := testenv.Redis(t)
	ctx := context.Background()
	const project = "eventfn-gocloud"
	suffix := fmt.Sprint(time.Now().UnixNano())
	topic := "projects/" + project + "/topics/orders-" + suffix
	sub := "projects/" + project + "/subscriptions/orders-" + suffix

	admin, err := gpubsub.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: sub, Topic: topic, AckDeadlineSeconds: 10}); err != nil {
		t.Fatal(err)
	}
	defer admin.SubscriptionAdminClient.DeleteSubscription(ctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: sub})
	defer admin.TopicAdminClient.DeleteTopic(ctx, &pubsubpb.DeleteTopicRequest{Topic: topic})

	top, err := pubsub.OpenTopic(ctx, "gcppubsub://"+topic)
	if err != nil {
		t.Fatal(err)
	}
	defer top.Shutdown(ctx)
	const events = 20
	sent := 0
	for i := 0; i < events; i++ {
		copies := 1 + i%3/2 // every third event is published twice
		for c := 0; c < copies; c++ {
			if err := top.Send(ctx, &pubsub.Message{Body: []byte(fmt.Sprintf(`{"n":%d}`, i)), Metadata: map[string]string{"event": fmt.Sprint("e", i)}}); err != nil {
				t.Fatal(err)
			}
			sent++
		}
	}

	s, o, err := gocloud.Open(ctx, "gcppubsub://"+sub)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(ctx)
	if o.Source != "gocloud:gcppubsub" {
		t.Errorf("Source = %q", o.Source)
	}
	store, err := redisstore.Open(redisURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	var mu sync.Mutex
	effects := map[string]int{}
	failedOnce := map[string]bool{}
	h := handler.Chain(handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		mu.Lock()
		defer mu.Unlock()
		ev := m.Attribute("event")
		if ev == "e5" || ev == "e11" {
			if !failedOnce[ev] {
				failedOnce[ev] = true
				return errors.New("transient")
			}
		}
		effects[ev]++
		return nil
	}), idempotency.Middleware(store, &idempotency.Options{Scope: "gocloud-" + suffix, Key: idempotency.FromAttribute("event")}))

	rctx, cancel := context.WithCancel(ctx)
	var acked atomic.Int64
	waited := make(chan struct{})
	o.OnResult = func(_ context.Context, r handler.Report) {
		if r.Settlement == handler.SettledAck && acked.Add(1) == int64(sent) {
			close(waited)
		}
	}
	done := make(chan error, 1)
	go func() { done <- gocloud.Receive(rctx, s, h, o) }()
	select {
	case <-waited:
	case <-time.After(60 * time.Second):
		t.Errorf("%d of %d messages acknowledged", acked.Load(), sent)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Receive: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 0; i < events; i++ {
		if n := effects[fmt.Sprint("e", i)]; n != 1 {
			t.Errorf("event e%d took effect %d times", i, n)
		}
	}
}
