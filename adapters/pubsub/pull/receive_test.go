package pull_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gpubsub "cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/eventfn/eventfn/adapters/pubsub/pull"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/redisstore"
	"github.com/eventfn/eventfn/internal/testenv"
)

// These tests run against pstest (cloud.google.com/go/pubsub/v2/pstest) as
// its own process, started by scripts/services/pubsub.sh; the client finds
// it through PUBSUB_EMULATOR_HOST.

const testProject = "eventfn-test"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var nameSeq atomic.Int64

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), nameSeq.Add(1))
}

func newClient(t testing.TB) *gpubsub.Client {
	t.Helper()
	testenv.PubSub(t)
	c, err := gpubsub.NewClient(context.Background(), testProject)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newTopic(t testing.TB, c *gpubsub.Client) string {
	t.Helper()
	name := fmt.Sprintf("projects/%s/topics/%s", testProject, uniqueName("topic"))
	if _, err := c.TopicAdminClient.CreateTopic(context.Background(), &pubsubpb.Topic{Name: name}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.TopicAdminClient.DeleteTopic(context.Background(), &pubsubpb.DeleteTopicRequest{Topic: name})
	})
	return name
}

func newSub(t testing.TB, c *gpubsub.Client, topic string, mod func(*pubsubpb.Subscription)) string {
	t.Helper()
	s := &pubsubpb.Subscription{
		Name:               fmt.Sprintf("projects/%s/subscriptions/%s", testProject, uniqueName("sub")),
		Topic:              topic,
		AckDeadlineSeconds: 10,
	}
	if mod != nil {
		mod(s)
	}
	if _, err := c.SubscriptionAdminClient.CreateSubscription(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.SubscriptionAdminClient.DeleteSubscription(context.Background(), &pubsubpb.DeleteSubscriptionRequest{Subscription: s.Name})
	})
	return s.Name
}

func publish(t testing.TB, p *gpubsub.Publisher, msgs ...*gpubsub.Message) []string {
	t.Helper()
	ctx := context.Background()
	results := make([]*gpubsub.PublishResult, len(msgs))
	for i, m := range msgs {
		results[i] = p.Publish(ctx, m)
	}
	ids := make([]string, len(msgs))
	for i, r := range results {
		id, err := r.Get(ctx)
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		ids[i] = id
	}
	return ids
}

// startReceive runs pull.Receive in the background; stop cancels it and
// returns Receive's error.
func startReceive(t *testing.T, c *gpubsub.Client, sub string, h handler.Handler, opts *pull.ReceiveOptions) (stop func() error) {
	t.Helper()
	if opts == nil {
		opts = &pull.ReceiveOptions{}
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pull.Receive(ctx, c, sub, h, opts) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = errors.New("Receive did not return within 30s of cancellation")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitFor polls cond until it holds, failing the test after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// backlog pulls what the subscription would deliver right now, without
// acknowledging it.
func backlog(t *testing.T, c *gpubsub.Client, sub string) []*pubsubpb.ReceivedMessage {
	t.Helper()
	resp, err := c.SubscriptionAdminClient.Pull(context.Background(), &pubsubpb.PullRequest{
		Subscription: sub, MaxMessages: 100, ReturnImmediately: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp.ReceivedMessages
}

// recorder counts, per message ID, deliveries and acknowledgeable returns.
type recorder struct {
	mu       sync.Mutex
	attempts map[string][]int // message ID -> DeliveryAttempt of each delivery
	ok       map[string]bool  // message IDs whose handler chain returned nil
}

func newRecorder() *recorder {
	return &recorder{attempts: map[string][]int{}, ok: map[string]bool{}}
}

func (r *recorder) wrap(h handler.Handler) handler.Handler {
	return handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		r.mu.Lock()
		r.attempts[m.ID] = append(r.attempts[m.ID], m.DeliveryAttempt)
		r.mu.Unlock()
		err := h.Handle(ctx, m)
		if err == nil {
			r.mu.Lock()
			r.ok[m.ID] = true
			r.mu.Unlock()
		}
		return err
	})
}

func (r *recorder) acked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ok)
}

func (r *recorder) deliveries(id string) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.attempts[id]...)
}

func TestReceiveWithRedisIdempotencyAppliesDuplicatesOnce(t *testing.T) {
	c := newClient(t)
	store, err := redisstore.Open(testenv.Redis(t), &redisstore.Options{Prefix: uniqueName("pubsub-test") + ":"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	topic := newTopic(t, c)
	sub := newSub(t, c, topic, nil)

	// The effect: applied orders, counted per order ID. Some orders fail
	// transiently on their first run.
	var mu sync.Mutex
	applied := map[string]int{}
	failedOnce := map[string]bool{}
	effect := handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		order := m.Attribute("order-id")
		mu.Lock()
		defer mu.Unlock()
		if strings.HasSuffix(order, "7") && !failedOnce[order] {
			failedOnce[order] = true
			return errors.New("ledger briefly unavailable")
		}
		applied[order]++
		return nil
	})
	rec := newRecorder()
	h := rec.wrap(handler.Chain(effect, idempotency.Middleware(store, &idempotency.Options{
		Scope:  uniqueName("orders"),
		Key:    idempotency.FromAttribute("order-id"),
		Logger: quiet,
	})))

	// Every order is published twice, as a producer retry would: two
	// message IDs, one idempotency key.
	const orders = 20
	p := c.Publisher(topic)
	defer p.Stop()
	var msgs []*gpubsub.Message
	for i := 0; i < orders; i++ {
		for copy := 0; copy < 2; copy++ {
			id := fmt.Sprintf("order-%02d", i)
			msgs = append(msgs, &gpubsub.Message{Data: []byte(`{"id":"` + id + `"}`), Attributes: map[string]string{"order-id": id}})
		}
	}
	ids := publish(t, p, msgs...)

	// Two copies of an order can run at once; the second is told
	// RetryAfter(the first's remaining lease) and would be held for up to
	// MaxRetryDelay. A short cap lets it come back within the test.
	stop := startReceive(t, c, sub, h, &pull.ReceiveOptions{Process: &handler.ProcessOptions{Concurrency: 8}, MaxRetryDelay: time.Second})
	waitFor(t, "every message to be acknowledged", func() bool { return rec.acked() == len(ids) })
	if err := stop(); err != nil {
		t.Fatalf("Receive: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	for i := 0; i < orders; i++ {
		id := fmt.Sprintf("order-%02d", i)
		if applied[id] != 1 {
			t.Errorf("%s applied %d times, want 1", id, applied[id])
		}
	}
	if n := len(backlog(t, c, sub)); n != 0 {
		t.Errorf("%d messages left on the subscription", n)
	}
}

func TestReceiveDeadLettersAPoisonMessageAfterFiveAttempts(t *testing.T) {
	c := newClient(t)
	topic := newTopic(t, c)
	dlTopic := newTopic(t, c)
	dlSub := newSub(t, c, dlTopic, nil)
	sub := newSub(t, c, topic, func(s *pubsubpb.Subscription) {
		s.DeadLetterPolicy = &pubsubpb.DeadLetterPolicy{DeadLetterTopic: dlTopic, MaxDeliveryAttempts: 5}
	})
	rec := newRecorder()
	h := rec.wrap(handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		if string(m.Body) == "poison" {
			return handler.Permanent(errors.New("cannot parse"))
		}
		return nil
	}))
	p := c.Publisher(topic)
	defer p.Stop()
	ids := publish(t, p, &gpubsub.Message{Data: []byte("poison")}, &gpubsub.Message{Data: []byte("fine")})
	poison, fine := ids[0], ids[1]

	stop := startReceive(t, c, sub, h, nil)

	// The dead-letter subscription gets the poison message. pstest quirk:
	// it re-publishes a dead-lettered message to the dead-letter topic over
	// and over (its internal ack of the original uses a stale ack ID), so
	// the same message ID arrives repeatedly, even after an Ack. Dead
	// letters are therefore de-duplicated by message ID here.
	var dlMu sync.Mutex
	dead := map[string]string{}
	dlCtx, dlCancel := context.WithCancel(context.Background())
	dlDone := make(chan error, 1)
	go func() {
		dlDone <- c.Subscriber(dlSub).Receive(dlCtx, func(_ context.Context, m *gpubsub.Message) {
			dlMu.Lock()
			dead[m.ID] = string(m.Data)
			dlMu.Unlock()
			m.Ack()
		})
	}()
	waitFor(t, "the poison message on the dead-letter topic", func() bool {
		dlMu.Lock()
		defer dlMu.Unlock()
		return dead[poison] != ""
	})
	dlCancel()
	if err := <-dlDone; err != nil {
		t.Errorf("dead-letter Receive: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Receive: %v", err)
	}

	if got := rec.deliveries(poison); fmt.Sprint(got) != "[1 2 3 4 5]" {
		t.Errorf("poison message delivery attempts = %v, want [1 2 3 4 5]", got)
	}
	if got := rec.deliveries(fine); fmt.Sprint(got) != "[1]" {
		t.Errorf("good message delivery attempts = %v, want [1]", got)
	}
	dlMu.Lock()
	defer dlMu.Unlock()
	if dead[poison] != "poison" || len(dead) != 1 {
		t.Errorf("dead letters = %v, want only the poison message", dead)
	}
}

func TestReceivePublishesRejectsToADeadLetterTopic(t *testing.T) {
	c := newClient(t)
	topic := newTopic(t, c)
	dlTopic := newTopic(t, c)
	dlSub := newSub(t, c, dlTopic, nil)
	sub := newSub(t, c, topic, nil)
	dl := c.Publisher(dlTopic)
	defer dl.Stop()
	rec := newRecorder()
	h := rec.wrap(handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		return handler.Permanent(errors.New("amount_cents must be positive"))
	}))
	p := c.Publisher(topic)
	defer p.Stop()
	id := publish(t, p, &gpubsub.Message{Data: []byte(`{"amount_cents":-1}`), Attributes: map[string]string{"origin": "test"}})[0]

	stop := startReceive(t, c, sub, h, &pull.ReceiveOptions{DeadLetter: pull.PublishDeadLetters(dl)})
	var got []*pubsubpb.ReceivedMessage
	waitFor(t, "the dead-lettered copy", func() bool {
		got = backlog(t, c, dlSub)
		return len(got) > 0
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	m := got[0].Message
	if string(m.Data) != `{"amount_cents":-1}` || m.Attributes["origin"] != "test" ||
		m.Attributes[handler.AttrMessageID] != id || m.Attributes[handler.AttrQueue] != sub ||
		!strings.Contains(m.Attributes[handler.AttrError], "amount_cents must be positive") {
		t.Errorf("dead letter = %v %v", string(m.Data), m.Attributes)
	}
	if got := rec.deliveries(id); len(got) != 1 {
		t.Errorf("rejected message delivered %d times, want 1 (acked after the dead-letter publish)", len(got))
	}
	if n := len(backlog(t, c, sub)); n != 0 {
		t.Errorf("%d messages left on the subscription", n)
	}
}

func TestReceiveKeepsOrderThroughAFailure(t *testing.T) {
	c := newClient(t)
	topic := newTopic(t, c)
	sub := newSub(t, c, topic, func(s *pubsubpb.Subscription) { s.EnableMessageOrdering = true })

	var mu sync.Mutex
	seen := map[string][]string{}    // key -> bodies in the order the handler ran them
	applied := map[string][]string{} // key -> bodies applied
	failed := false
	h := handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		mu.Lock()
		defer mu.Unlock()
		seen[m.OrderingKey] = append(seen[m.OrderingKey], string(m.Body))
		if string(m.Body) == "a-2" && !failed {
			failed = true
			return errors.New("transient")
		}
		applied[m.OrderingKey] = append(applied[m.OrderingKey], string(m.Body))
		return nil
	})
	p := c.Publisher(topic)
	p.EnableMessageOrdering = true
	defer p.Stop()
	var msgs []*gpubsub.Message
	for i := 1; i <= 5; i++ {
		for _, k := range []string{"a", "b"} {
			msgs = append(msgs, &gpubsub.Message{Data: []byte(fmt.Sprintf("%s-%d", k, i)), OrderingKey: k})
		}
	}
	publish(t, p, msgs...)

	stop := startReceive(t, c, sub, h, nil)
	waitFor(t, "both keys to be applied", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(applied["a"]) == 5 && len(applied["b"]) == 5
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, k := range []string{"a", "b"} {
		want := fmt.Sprintf("[%[1]s-1 %[1]s-2 %[1]s-3 %[1]s-4 %[1]s-5]", k)
		if fmt.Sprint(applied[k]) != want {
			t.Errorf("key %s applied %v, want %s", k, applied[k], want)
		}
	}
	if got := fmt.Sprint(seen["a"]); got != "[a-1 a-2 a-2 a-3 a-4 a-5]" {
		t.Errorf("key a ran %s: a later message ran before the failed one succeeded", got)
	}
}

func TestReceiveHoldsARetryAfterMessage(t *testing.T) {
	c := newClient(t)
	topic := newTopic(t, c)
	sub := newSub(t, c, topic, nil)
	const delay = time.Second
	var mu sync.Mutex
	var returned, redelivered time.Time
	var attempts int
	h := handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts == 1 {
			returned = time.Now()
			return handler.RetryAfter(delay, errors.New("rate limited"))
		}
		redelivered = time.Now()
		return nil
	})
	p := c.Publisher(topic)
	defer p.Stop()
	publish(t, p, &gpubsub.Message{Data: []byte("x")})
	stop := startReceive(t, c, sub, h, nil)
	waitFor(t, "the redelivery", func() bool { mu.Lock(); defer mu.Unlock(); return attempts >= 2 })
	stop()
	mu.Lock()
	defer mu.Unlock()
	// A lower bound only: the message stays leased for the delay.
	if gap := redelivered.Sub(returned); gap < delay {
		t.Errorf("redelivered %v after RetryAfter(%v)", gap, delay)
	}
}

func TestReceiveRedeliversAMessageWhoseHandlerOutlivesItsTimeout(t *testing.T) {
	c := newClient(t)
	topic := newTopic(t, c)
	sub := newSub(t, c, topic, nil)
	release := make(chan struct{})
	var calls atomic.Int32
	rec := newRecorder()
	h := rec.wrap(handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		if calls.Add(1) == 1 {
			<-release // stuck, ignoring its context
		}
		return nil
	}))
	p := c.Publisher(topic)
	defer p.Stop()
	id := publish(t, p, &gpubsub.Message{Data: []byte("slow")})[0]
	stop := startReceive(t, c, sub, h, &pull.ReceiveOptions{HandlerTimeout: 400 * time.Millisecond, Process: &handler.ProcessOptions{DeadlineMargin: 200 * time.Millisecond}})
	waitFor(t, "the redelivery to be acknowledged", func() bool { return rec.acked() == 1 })
	if n := len(rec.deliveries(id)); n != 2 {
		t.Errorf("delivered %d times, want 2", n)
	}
	close(release)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := len(backlog(t, c, sub)); n != 0 {
		t.Errorf("%d messages left on the subscription", n)
	}
}

func TestReceiveShutsDownGracefully(t *testing.T) {
	clientShutdown := gpubsub.DefaultReceiveSettings
	clientShutdown.ShutdownOptions = &gpubsub.ShutdownOptions{Timeout: 10 * time.Millisecond}
	for _, tt := range []struct {
		name     string
		settings *gpubsub.ReceiveSettings
	}{
		{"a running handler finishes and its message is acked", nil},
		{"the client's own shutdown options do not cut a running handler short", &clientShutdown},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t)
			topic := newTopic(t, c)
			sub := newSub(t, c, topic, nil)
			started := make(chan struct{})
			var finished atomic.Bool
			h := handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
				close(started)
				time.Sleep(300 * time.Millisecond) // keeps working after shutdown starts
				if ctx.Err() != nil {
					return ctx.Err()
				}
				finished.Store(true)
				return nil
			})
			p := c.Publisher(topic)
			defer p.Stop()
			publish(t, p, &gpubsub.Message{Data: []byte("x")})
			stop := startReceive(t, c, sub, h, &pull.ReceiveOptions{Settings: tt.settings})
			<-started
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if !finished.Load() {
				t.Error("Receive returned before the handler finished")
			}
			if n := len(backlog(t, c, sub)); n != 0 {
				t.Errorf("%d messages left on the subscription", n)
			}
		})
	}
	t.Run("a handler that outlives the shutdown timeout is nacked, not acked or lost", func(t *testing.T) {
		c := newClient(t)
		topic := newTopic(t, c)
		sub := newSub(t, c, topic, nil)
		started := make(chan struct{})
		release := make(chan struct{})
		defer close(release)
		h := handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
			close(started)
			<-release
			return nil
		})
		p := c.Publisher(topic)
		defer p.Stop()
		id := publish(t, p, &gpubsub.Message{Data: []byte("x")})[0]
		// The client's lease on a message it holds lasts at most
		// MaxDurationPerAckExtension between renewals; 10s (the least
		// allowed) bounds how long a message whose nack went missing stays
		// away.
		lease := gpubsub.DefaultReceiveSettings
		lease.MaxDurationPerAckExtension = 10 * time.Second
		stop := startReceive(t, c, sub, h, &pull.ReceiveOptions{ShutdownTimeout: 200 * time.Millisecond, Process: &handler.ProcessOptions{DeadlineMargin: 100 * time.Millisecond}, Settings: &lease})
		<-started
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		// Usually the nack reaches the emulator, which redelivers at once.
		// In about half the runs the message comes back only when the
		// client's lease ends instead: a nack went missing in the client
		// (v2.9.0) while it shut down. Our reading, not traced: the emulator
		// redelivers the nacked message on the client's stream, still open
		// while Receive shuts down, and the client nacks what it receives
		// then into a queue it no longer sends. Either way it is not acked.
		start := time.Now()
		var left []*pubsubpb.ReceivedMessage
		for end := start.Add(15 * time.Second); len(left) == 0 && time.Now().Before(end); {
			if left = backlog(t, c, sub); len(left) == 0 {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if len(left) != 1 || left[0].Message.MessageId != id {
			t.Fatalf("backlog = %v, want the unfinished message back (nacked, at the latest when the client's 10s lease ends)", left)
		}
		if d := time.Since(start); d > time.Second {
			t.Logf("the message came back after %v: the client dropped a nack while shutting down", d.Round(time.Millisecond))
		}
	})
}

// deadEmulator points PUBSUB_EMULATOR_HOST at a port nothing listens on.
func deadEmulator(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	t.Setenv("PUBSUB_EMULATOR_HOST", addr)
}

func TestReceiveWithPstestUnreachable(t *testing.T) {
	testenv.PubSub(t)
	deadEmulator(t)
	dead, err := gpubsub.NewClient(context.Background(), testProject)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	var ran atomic.Bool
	err = pull.Receive(context.Background(), dead, "orders", handler.HandlerFunc(func(context.Context, *handler.Message) error {
		ran.Store(true)
		return nil
	}), &pull.ReceiveOptions{StartTimeout: time.Second, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "projects/"+testProject+"/subscriptions/orders") {
		t.Errorf("Receive = %v, want an error naming the subscription", err)
	}
	if ran.Load() {
		t.Error("the handler ran")
	}
}

func TestReceiveKeepsARejectWhenTheDeadLetterTopicIsUnreachable(t *testing.T) {
	c := newClient(t)
	topic := newTopic(t, c)
	sub := newSub(t, c, topic, nil)
	deadEmulator(t)
	dead, err := gpubsub.NewClient(context.Background(), testProject)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	dl := dead.Publisher("dead-letters")
	defer dl.Stop()
	dl.PublishSettings.Timeout = 500 * time.Millisecond

	rec := newRecorder()
	h := rec.wrap(handler.HandlerFunc(func(context.Context, *handler.Message) error {
		return handler.Permanent(errors.New("poison"))
	}))
	p := c.Publisher(topic)
	defer p.Stop()
	id := publish(t, p, &gpubsub.Message{Data: []byte("poison")})[0]
	stop := startReceive(t, c, sub, h, &pull.ReceiveOptions{DeadLetter: pull.PublishDeadLetters(dl)})
	waitFor(t, "a redelivery of the rejected message", func() bool { return len(rec.deliveries(id)) >= 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestReceiveKeepsARejectWhenTheDeadLetterFuncPanics(t *testing.T) {
	c := newClient(t)
	topic := newTopic(t, c)
	sub := newSub(t, c, topic, nil)
	rec := newRecorder()
	h := rec.wrap(handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		if string(m.Body) == "poison" {
			return handler.Permanent(errors.New("poison"))
		}
		return nil
	}))
	dl := func(context.Context, *handler.Message, error) error { panic("dead-letter bug") }
	p := c.Publisher(topic)
	defer p.Stop()
	ids := publish(t, p, &gpubsub.Message{Data: []byte("poison")}, &gpubsub.Message{Data: []byte("fine")})
	stop := startReceive(t, c, sub, h, &pull.ReceiveOptions{DeadLetter: dl})
	waitFor(t, "a redelivery of the rejected message and the good one acked", func() bool {
		return len(rec.deliveries(ids[0])) >= 2 && rec.acked() == 1
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
