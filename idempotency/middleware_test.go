package idempotency_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/memstore"
)

// spy wraps a store, counts calls, records leases and can fail operations.
type spy struct {
	idempotency.BatchStore
	claims, completes, releases atomic.Int32
	failComplete, failClaim     atomic.Bool
	mu                          sync.Mutex
	leases                      []time.Duration
}

var errDown = errors.New("store down")

func newSpy() *spy { return &spy{BatchStore: memstore.New(nil)} }

func (s *spy) Claim(ctx context.Context, r idempotency.ClaimRequest) (idempotency.Claim, error) {
	s.claims.Add(1)
	s.mu.Lock()
	s.leases = append(s.leases, r.Lease)
	s.mu.Unlock()
	if s.failClaim.Load() {
		return idempotency.Claim{}, errors.Join(idempotency.ErrStore, errDown)
	}
	return s.BatchStore.Claim(ctx, r)
}
func (s *spy) ClaimBatch(ctx context.Context, reqs []idempotency.ClaimRequest) ([]idempotency.Claim, []error) {
	c := make([]idempotency.Claim, len(reqs))
	e := make([]error, len(reqs))
	for i, r := range reqs {
		c[i], e[i] = s.Claim(ctx, r)
	}
	return c, e
}
func (s *spy) Complete(ctx context.Context, k, tok string, res []byte, ttl time.Duration) error {
	s.completes.Add(1)
	if s.failComplete.Load() {
		return errors.Join(idempotency.ErrStore, errDown)
	}
	return s.BatchStore.Complete(ctx, k, tok, res, ttl)
}
func (s *spy) CompleteBatch(ctx context.Context, items []idempotency.Completion) []error {
	e := make([]error, len(items))
	for i, it := range items {
		e[i] = s.Complete(ctx, it.Key, it.Token, it.Result, it.TTL)
	}
	return e
}
func (s *spy) Release(ctx context.Context, k, tok string) error {
	s.releases.Add(1)
	return s.BatchStore.Release(ctx, k, tok)
}
func (s *spy) ReleaseBatch(ctx context.Context, items []idempotency.Release) []error {
	e := make([]error, len(items))
	for i, it := range items {
		e[i] = s.Release(ctx, it.Key, it.Token)
	}
	return e
}

type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) handler(fail func(*handler.Message) error) handler.Handler {
	return handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		if fail != nil {
			if err := fail(m); err != nil {
				return err
			}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.n == nil {
			c.n = map[string]int{}
		}
		c.n[m.ID]++
		return nil
	})
}

func (c *counter) get(id string) int { c.mu.Lock(); defer c.mu.Unlock(); return c.n[id] }

func msg(id, body string) *handler.Message {
	return &handler.Message{ID: id, Body: []byte(body), DeliveryAttempt: 1}
}

func TestDuplicateDeliveriesRunOnce(t *testing.T) {
	for _, cache := range []int{0, -1} {
		s := newSpy()
		var c counter
		h := idempotency.Middleware(s, &idempotency.Options{CacheSize: cache})(c.handler(nil))
		for i := 0; i < 3; i++ {
			if err := h.Handle(context.Background(), msg("m1", "a")); err != nil {
				t.Fatal(err)
			}
		}
		if c.get("m1") != 1 {
			t.Fatalf("cache %d: ran %d times", cache, c.get("m1"))
		}
		if cache == 0 && s.claims.Load() != 1 {
			t.Errorf("with the cache, duplicates still made %d claims", s.claims.Load())
		}
	}
}

func TestFailureReleasesSoTheRedeliveryRuns(t *testing.T) {
	s := newSpy()
	var c counter
	h := idempotency.Middleware(s, nil)(c.handler(func(m *handler.Message) error {
		if m.DeliveryAttempt == 1 {
			return errors.New("transient")
		}
		return nil
	}))
	m := msg("m1", "a")
	if err := h.Handle(context.Background(), m); handler.Classify(err) != handler.Retry {
		t.Fatalf("first attempt: %v", err)
	}
	m.DeliveryAttempt = 2
	if err := h.Handle(context.Background(), m); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if c.get("m1") != 1 || s.releases.Load() != 1 {
		t.Fatalf("runs %d, releases %d", c.get("m1"), s.releases.Load())
	}
}

func TestPanicReleasesTheClaim(t *testing.T) {
	s := newSpy()
	h := idempotency.Middleware(s, nil)(handler.HandlerFunc(func(context.Context, *handler.Message) error { panic("bug") }))
	res := handler.Process(context.Background(), h, []*handler.Message{msg("p", "x")}, nil)
	var pe *handler.PanicError
	if !errors.As(res[0].Err, &pe) {
		t.Fatalf("err = %v", res[0].Err)
	}
	if s.releases.Load() != 1 {
		t.Fatalf("releases = %d", s.releases.Load())
	}
	if _, err := s.Get(context.Background(), idempotency.HashKey(testScope, "p")); !errors.Is(err, idempotency.ErrNotFound) {
		t.Fatalf("claim left behind: %v", err)
	}
}

func TestConcurrentDeliveriesNeverBothRun(t *testing.T) {
	s := newSpy()
	var c counter
	entered := make(chan struct{})
	release := make(chan struct{})
	h := idempotency.Middleware(s, nil)(c.handler(func(*handler.Message) error {
		close(entered)
		<-release
		return nil
	}))
	done := make(chan error)
	go func() { done <- h.Handle(context.Background(), msg("m", "a")) }()
	<-entered
	err := h.Handle(context.Background(), msg("m", "a"))
	if !errors.Is(err, idempotency.ErrInProgress) || handler.Classify(err) != handler.Retry {
		t.Fatalf("concurrent delivery: %v, want retryable ErrInProgress", err)
	}
	if d, ok := handler.RetryDelay(err); !ok || d <= 0 {
		t.Errorf("ErrInProgress carries no retry delay: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c.get("m") != 1 {
		t.Fatalf("ran %d times", c.get("m"))
	}
}

func TestWaitInProgressFollowsTheFirstDelivery(t *testing.T) {
	s := newSpy()
	var c counter
	entered := make(chan struct{})
	h := idempotency.Middleware(s, &idempotency.Options{WaitInProgress: 5 * time.Second, CacheSize: -1})(c.handler(func(*handler.Message) error {
		close(entered)
		time.Sleep(100 * time.Millisecond)
		return nil
	}))
	done := make(chan error)
	go func() { done <- h.Handle(context.Background(), msg("m", "a")) }()
	<-entered
	if err := h.Handle(context.Background(), msg("m", "a")); err != nil {
		t.Fatalf("waiting duplicate: %v", err)
	}
	if err := <-done; err != nil || c.get("m") != 1 {
		t.Fatalf("first: %v, runs %d", err, c.get("m"))
	}
}

func TestPayloadMismatchIsPermanent(t *testing.T) {
	s := newSpy()
	var c counter
	h := idempotency.Middleware(s, &idempotency.Options{Key: idempotency.FromAttribute("key")})(c.handler(nil))
	a := msg("1", "payload A")
	a.Attributes = map[string]string{"key": "k"}
	b := msg("2", "payload B")
	b.Attributes = map[string]string{"key": "k"}
	if err := h.Handle(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	err := h.Handle(context.Background(), b)
	if !errors.Is(err, idempotency.ErrPayloadMismatch) || handler.Classify(err) != handler.Reject {
		t.Fatalf("err = %v", err)
	}
	h = idempotency.Middleware(s, &idempotency.Options{Key: idempotency.FromAttribute("key"), DisableFingerprint: true, CacheSize: -1, ShareScope: true})(c.handler(nil))
	if err := h.Handle(context.Background(), b); err != nil {
		t.Fatalf("fingerprint disabled: %v", err)
	}
}

func TestMissingKey(t *testing.T) {
	var c counter
	h := idempotency.Middleware(newSpy(), &idempotency.Options{Key: idempotency.FromAttribute("k")})(c.handler(nil))
	err := h.Handle(context.Background(), msg("1", "x"))
	if !errors.Is(err, idempotency.ErrNoKey) || handler.Classify(err) != handler.Reject || c.get("1") != 0 {
		t.Fatalf("missing key: %v (runs %d)", err, c.get("1"))
	}
	h = idempotency.Middleware(newSpy(), &idempotency.Options{Key: idempotency.FromAttribute("k"), AllowMissingKey: true})(c.handler(nil))
	if err := h.Handle(context.Background(), msg("1", "x")); err != nil || c.get("1") != 1 {
		t.Fatalf("AllowMissingKey: %v (runs %d)", err, c.get("1"))
	}
	if err := h.Handle(context.Background(), nil); !errors.Is(err, handler.ErrNilMessage) {
		t.Fatalf("nil message: %v", err)
	}
}

func TestKeyFuncs(t *testing.T) {
	m := &handler.Message{ID: "id-1", Attributes: map[string]string{"k": "v"},
		Body: []byte(`{"order":{"id":"o-9","n":12345678901234567890,"ok":true,"obj":{}},"empty":""}`)}
	tests := []struct {
		name string
		fn   idempotency.KeyFunc
		want string
		err  bool
	}{
		{"message id", idempotency.FromMessageID(), "id-1", false},
		{"attribute", idempotency.FromAttribute("k"), "v", false},
		{"missing attribute", idempotency.FromAttribute("nope"), "", true},
		{"nested string field", idempotency.FromJSONField("order.id"), "o-9", false},
		{"big number keeps its digits", idempotency.FromJSONField("order.n"), "12345678901234567890", false},
		{"boolean", idempotency.FromJSONField("order.ok"), "true", false},
		{"object is not a key", idempotency.FromJSONField("order.obj"), "", true},
		{"empty string is not a key", idempotency.FromJSONField("empty"), "", true},
		{"missing field", idempotency.FromJSONField("order.nope"), "", true},
		{"path through a scalar", idempotency.FromJSONField("order.id.x"), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.fn(m)
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("got %q, %v; want %q, error %v", got, err, tt.want, tt.err)
			}
		})
	}
	if _, err := idempotency.FromJSONField("id")(&handler.Message{Body: []byte("not json")}); err == nil {
		t.Fatal("non-JSON body gave a key")
	}
	if _, err := idempotency.FromMessageID()(&handler.Message{}); err == nil {
		t.Fatal("empty ID gave a key")
	}
}

func TestHashKeyIsThePortableCanonicalForm(t *testing.T) {
	sum := sha256.Sum256([]byte("eventfn-idem-v2\x00orders\x00msg-1"))
	if got := idempotency.HashKey("orders", "msg-1"); got != base64.RawURLEncoding.EncodeToString(sum[:16]) || len(got) != 22 {
		t.Fatalf("HashKey = %s", got)
	}
	if idempotency.HashKey("a", "b\x00c") == idempotency.HashKey("a\x00b", "c") {
		t.Log("scope/key boundary is ambiguous only for scopes containing NUL")
	}
}

func TestLeaseFollowsTheDeadlineWithinBounds(t *testing.T) {
	s := newSpy()
	h := idempotency.Middleware(s, &idempotency.Options{MinLease: 2 * time.Second, MaxLease: time.Minute, DefaultLease: 30 * time.Second})(handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }))
	for i, d := range []time.Duration{10 * time.Second, time.Hour, 100 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		_ = h.Handle(ctx, msg(string(rune('a'+i)), "x"))
		cancel()
	}
	_ = h.Handle(context.Background(), msg("z", "x"))
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.leases[0]; l > 10*time.Second || l < 9*time.Second {
		t.Errorf("lease for a 10s deadline = %s", l)
	}
	if s.leases[1] != time.Minute || s.leases[2] != 2*time.Second || s.leases[3] != 30*time.Second {
		t.Errorf("leases = %v, want [~10s 1m 2s 30s]", s.leases)
	}
}

func TestStoreDownFailsWithoutRunning(t *testing.T) {
	s := newSpy()
	s.failClaim.Store(true)
	var c counter
	h := idempotency.Middleware(s, nil)(c.handler(nil))
	res := handler.Process(context.Background(), h, []*handler.Message{msg("a", "1"), msg("b", "2")}, nil)
	for _, r := range res {
		if r.Outcome != handler.Retry || !errors.Is(r.Err, errDown) || !errors.Is(r.Err, idempotency.ErrStore) {
			t.Errorf("%s: %v", r.Message.ID, r.Err)
		}
	}
	if c.get("a")+c.get("b") != 0 {
		t.Error("ran without a claim")
	}
}

// shapeless answers every claim with neither a claim nor a record, as a
// broken store might.
type shapeless struct{ idempotency.BatchStore }

func (shapeless) Claim(context.Context, idempotency.ClaimRequest) (idempotency.Claim, error) {
	return idempotency.Claim{}, nil
}

func (s shapeless) ClaimBatch(ctx context.Context, reqs []idempotency.ClaimRequest) ([]idempotency.Claim, []error) {
	return make([]idempotency.Claim, len(reqs)), make([]error, len(reqs))
}

func TestClaimNeitherAcquiredNorBlockedIsAStoreError(t *testing.T) {
	var c counter
	h := idempotency.Middleware(shapeless{memstore.New(nil)}, nil)(c.handler(nil))
	for _, batch := range [][]*handler.Message{{msg("a", "1")}, {msg("a", "1"), msg("b", "2")}} {
		for _, r := range handler.Process(context.Background(), h, batch, nil) {
			if r.Outcome != handler.Retry || !errors.Is(r.Err, idempotency.ErrStore) {
				t.Errorf("%d messages: %s: %v (%v), want a retried store error", len(batch), r.Message.ID, r.Outcome, r.Err)
			}
		}
	}
	if c.get("a")+c.get("b") != 0 {
		t.Error("ran without a claim")
	}
}

func TestBatchReleasesClaimsOfMessagesThatNeverRan(t *testing.T) {
	s := newSpy()
	var c counter
	h := idempotency.Middleware(s, nil)(c.handler(func(m *handler.Message) error {
		if m.ID == "1" {
			return errors.New("fail")
		}
		return nil
	}))
	batch := []*handler.Message{msg("1", "a"), msg("2", "b"), msg("3", "c")}
	for _, m := range batch {
		m.OrderingKey = "g"
	}
	res := handler.Process(context.Background(), h, batch, nil)
	if !errors.Is(res[1].Err, handler.ErrOrderingKeyFailed) {
		t.Fatalf("res[1] = %v", res[1].Err)
	}
	for _, id := range []string{"1", "2", "3"} {
		if _, err := s.Get(context.Background(), idempotency.HashKey(testScope, id)); !errors.Is(err, idempotency.ErrNotFound) {
			t.Errorf("claim for %s left behind after the batch: %v", id, err)
		}
	}
	// The redelivered batch runs everything.
	for _, m := range batch {
		m.DeliveryAttempt = 2
	}
	c2 := counter{}
	h = idempotency.Middleware(s, &idempotency.Options{ShareScope: true})(c2.handler(nil)) // the same consumer, restarted
	for _, r := range handler.Process(context.Background(), h, batch, nil) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if c2.get("1") != 1 || c2.get("3") != 1 {
		t.Fatal("redelivered batch did not run")
	}
}

func TestSameKeyTwiceInOneBatchFollowsTheFirst(t *testing.T) {
	// Once small enough to be searched, once large enough to be indexed.
	for _, repeat := range []int{1, 8} {
		s := newSpy()
		var calls atomic.Int32
		h := idempotency.Middleware(s, &idempotency.Options{CacheSize: -1})(handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
			calls.Add(1)
			time.Sleep(10 * time.Millisecond)
			if string(m.Body) == "fails" {
				return errors.New("transient")
			}
			return nil
		}))
		var batch []*handler.Message
		var want []handler.Outcome
		for range repeat {
			batch = append(batch, msg("a", "ok"), msg("b", "fails"), msg("a", "ok"), msg("b", "fails"), msg("a", "ok"))
			want = append(want, handler.Ack, handler.Retry, handler.Ack, handler.Retry, handler.Ack)
		}
		res := handler.Process(context.Background(), h, batch, nil)
		for i, r := range res {
			if r.Outcome != want[i] {
				t.Errorf("%d messages: message %d: %v (%v), want %v", len(batch), i, r.Outcome, r.Err, want[i])
			}
		}
		if calls.Load() != 2 {
			t.Errorf("%d messages: handler ran %d times for 2 distinct keys", len(batch), calls.Load())
		}
		if s.claims.Load() != 2 {
			t.Errorf("%d messages: %d claims for 2 distinct keys", len(batch), s.claims.Load())
		}
	}
}

func TestAbandonedRunCompletesItselfWhenItEnds(t *testing.T) {
	s := newSpy()
	release := make(chan struct{})
	finished := make(chan struct{})
	h := idempotency.Middleware(s, nil)(handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		if m.ID == "slow" {
			<-release // ignores its context
			defer close(finished)
		}
		return nil
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	res := handler.Process(ctx, h, []*handler.Message{msg("slow", "x"), msg("fast", "y")}, &handler.ProcessOptions{DeadlineMargin: time.Second})
	if !errors.Is(res[0].Err, handler.ErrDeadline) || res[1].Err != nil {
		t.Fatalf("results: %v, %v", res[0].Err, res[1].Err)
	}
	key := idempotency.HashKey(testScope, "slow")
	if r, err := s.Get(context.Background(), key); err != nil || r.Status != idempotency.StatusInProgress {
		t.Fatalf("abandoned run's claim: %+v, %v; want IN_PROGRESS", r, err)
	}
	close(release)
	<-finished
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := s.Get(context.Background(), key); err == nil && r.Status == idempotency.StatusCompleted {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the abandoned run did not complete its record when it ended")
}
