package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/redisstore"
	"github.com/eventfn/eventfn/idempotency/storetest"
	"github.com/eventfn/eventfn/internal/testenv"
)

func newStore(t testing.TB) *redisstore.Store {
	t.Helper()
	return openStore(t, testenv.Redis(t))
}

func openStore(t testing.TB, url string) *redisstore.Store {
	t.Helper()
	return openStoreWith(t, url, nil)
}

func openStoreWith(t testing.TB, url string, opts *redisstore.Options) *redisstore.Store {
	t.Helper()
	s, err := redisstore.Open(url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) idempotency.Store { return newStore(t) },
		Unreachable: func(t *testing.T) idempotency.Store {
			// Open refuses a server that does not answer: New makes no call.
			port := testenv.FreePort(t) // nothing listens there
			s := redisstore.New(redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port),
				DialTimeout: time.Second, MaxRetries: -1, ContextTimeoutEnabled: true}), nil)
			t.Cleanup(func() { s.Close() })
			return s
		},
	})
}

// TestConformanceWithoutSessions runs the suite with the WATCH/MULTI
// path off: every completion takes the script.
func TestConformanceWithoutSessions(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) idempotency.Store {
			return openStoreWith(t, testenv.Redis(t), &redisstore.Options{DisableSessions: true})
		},
	})
}

// TestConformanceRESP3 runs the suite on go-redis's default protocol,
// which Open leaves for RESP2 unless the URL asks for it.
func TestConformanceRESP3(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) idempotency.Store { return openStore(t, testenv.Redis(t)+"?protocol=3") },
	})
}

func TestOpenSpeaksRESP2UnlessTheURLSaysOtherwise(t *testing.T) {
	base := testenv.Redis(t)
	for query, want := range map[string]int{
		"":            2,
		"?protocol=3": 3,
		"?protocol=2": 2,
	} {
		url := base + query
		s := openStore(t, url)
		if got := s.Client().(*redis.Client).Options().Protocol; got != want {
			t.Errorf("Open(%q): protocol %d, want %d", url, got, want)
		}
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"http://localhost:6379", "redis://host:notaport", "::", "redis://user:s3cret@host:notaport/0"} {
		_, err := redisstore.Open(u, nil)
		if err == nil {
			t.Errorf("Open(%q) succeeded", u)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "malformed Redis URL") || !strings.Contains(msg, "redis://") || strings.Contains(msg, "s3cret") {
			t.Errorf("Open(%q): error %q does not say the URL is malformed and what to write, or shows the password", u, msg)
		}
		if !errors.Is(err, idempotency.ErrStore) {
			t.Errorf("Open(%q): error %v does not match ErrStore", u, err)
		}
	}
	if _, err := redisstore.OpenCluster("redis://host:notaport?addr=b:1", nil); err == nil || !strings.Contains(err.Error(), "malformed Redis URL") {
		t.Errorf("OpenCluster of a malformed URL: err = %v", err)
	}
}

func TestParseURLSetsContextTimeouts(t *testing.T) {
	for url, protocol := range map[string]int{"redis://127.0.0.1:1/0": 2, "rediss://u:p@127.0.0.1:1/0?protocol=3": 3} {
		o, err := redisstore.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		if !o.ContextTimeoutEnabled || o.Protocol != protocol {
			t.Errorf("ParseURL(%q): ContextTimeoutEnabled %v, protocol %d; want true, %d", url, o.ContextTimeoutEnabled, o.Protocol, protocol)
		}
	}
	if _, err := redisstore.ParseURL(""); err == nil || !strings.Contains(err.Error(), "URL is empty") {
		t.Errorf("ParseURL(\"\"): err = %v", err)
	}
	if _, err := redisstore.ParseURL("redis://u:s3cret@host:notaport"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("ParseURL of a malformed URL: err = %v, want one without the password", err)
	}
	// A store on the options connects on first use: nothing listens here.
	o, _ := redisstore.ParseURL(fmt.Sprintf("redis://127.0.0.1:%d/0?max_retries=-1", testenv.FreePort(t)))
	s := redisstore.New(redis.NewClient(o), nil)
	defer s.Close()
	if _, err := s.Claim(context.Background(), idempotency.ClaimRequest{Key: "k", Fingerprint: "fp", Lease: time.Minute}); !errors.Is(err, idempotency.ErrStore) {
		t.Errorf("Claim on a lazy store with nothing listening: err = %v, want ErrStore", err)
	}
}

func TestOpenOfAnEmptyURLSaysSo(t *testing.T) {
	if _, err := redisstore.Open("", nil); err == nil || !strings.Contains(err.Error(), "URL is empty") {
		t.Errorf("Open(\"\"): err = %v, want one that says the URL is empty", err)
	}
	if _, err := redisstore.OpenCluster("", nil); err == nil || !strings.Contains(err.Error(), "URL is empty") {
		t.Errorf("OpenCluster(\"\"): err = %v, want one that says the URL is empty", err)
	}
}

// Open checks the server: nothing listening is an error that names the
// URL, without its password, and what to check.
func TestOpenNamesTheURLOfAServerThatIsDown(t *testing.T) {
	port := testenv.FreePort(t) // nothing listens there
	for _, open := range []struct {
		name string
		fn   func(string, *redisstore.Options) (*redisstore.Store, error)
		url  string
	}{
		{"Open", redisstore.Open, fmt.Sprintf("redis://app:s3cret@127.0.0.1:%d/0", port)},
		{"OpenCluster", redisstore.OpenCluster, fmt.Sprintf("redis://app:s3cret@127.0.0.1:%d?addr=127.0.0.1:%d", port, port)},
	} {
		start := time.Now()
		s, err := open.fn(open.url, nil)
		if err == nil {
			s.Close()
			t.Fatalf("%s on a closed port succeeded", open.name)
		}
		msg := err.Error()
		t.Logf("%s: %v (after %v)", open.name, err, time.Since(start))
		for _, want := range []string{fmt.Sprintf("127.0.0.1:%d", port), "running", "rediss://", "password"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: error %q does not mention %q", open.name, msg, want)
			}
		}
		if strings.Contains(msg, "s3cret") {
			t.Errorf("%s: error %q shows the password", open.name, msg)
		}
		if !errors.Is(err, idempotency.ErrStore) {
			t.Errorf("%s: error does not match ErrStore", open.name)
		}
		if d := time.Since(start); d > redisstore.OpenTimeout+5*time.Second {
			t.Errorf("%s took %v, want about OpenTimeout (%v) at most", open.name, d, redisstore.OpenTimeout)
		}
	}
}

// roundTrips counts network round trips: one per command sent alone, one per
// pipeline.
type roundTrips struct{ n atomic.Int32 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

func batchOf(prefix string, n int) []*handler.Message {
	msgs := make([]*handler.Message, n)
	for i := range msgs {
		msgs[i] = &handler.Message{ID: fmt.Sprintf("%s-%d", prefix, i), Body: []byte(`{"n":1}`), DeliveryAttempt: 1}
	}
	return msgs
}

func TestBatchRoundTrips(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts *redisstore.Options
	}{{"sessions", nil}, {"without sessions", &redisstore.Options{DisableSessions: true}}} {
		t.Run(tt.name, func(t *testing.T) {
			s := openStoreWith(t, testenv.Redis(t), tt.opts)
			hook := &roundTrips{}
			s.Client().AddHook(hook)
			var runs atomic.Int32
			h := idempotency.Middleware(s, &idempotency.Options{Scope: t.Name() + time.Now().String(), CacheSize: -1})(
				handler.HandlerFunc(func(context.Context, *handler.Message) error { runs.Add(1); return nil }))
			ctx := context.Background()

			// Warm the connection and the server's script cache, as any running
			// function has.
			handler.Process(ctx, h, batchOf("warm", 2), nil)
			hook.n.Store(0)
			runs.Store(0)

			msgs := batchOf("new", 10)
			for _, r := range handler.Process(ctx, h, msgs, nil) {
				if r.Err != nil {
					t.Fatal(r.Err)
				}
			}
			t.Logf("10 new messages: %d round trips", hook.n.Load())
			if got := hook.n.Load(); got > 2 {
				t.Errorf("claiming and completing 10 new messages took %d round trips, want at most 2", got)
			}
			if runs.Load() != 10 {
				t.Fatalf("handler ran %d times, want 10", runs.Load())
			}

			hook.n.Store(0)
			for _, r := range handler.Process(ctx, h, msgs, nil) {
				if r.Err != nil {
					t.Fatal(r.Err)
				}
			}
			t.Logf("10 duplicates: %d round trips", hook.n.Load())
			if got := hook.n.Load(); got > 1 {
				t.Errorf("a batch of 10 duplicates took %d round trips, want at most 1", got)
			}
			if runs.Load() != 10 {
				t.Fatalf("duplicates ran the handler: %d runs", runs.Load())
			}
		})
	}
}

// A store that stops answering (a paused server) makes every message of the
// batch fail with a wrapped store error: none is acked unprocessed.
func TestStoreTimeoutFailsEveryMessage(t *testing.T) {
	// A listener that accepts connections and never answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	if s, err := redisstore.Open("redis://"+l.Addr().String()+"/0", nil); err == nil {
		s.Close()
		t.Fatal("Open of a server that never answers succeeded")
	} else if d := time.Since(start); d > redisstore.OpenTimeout+5*time.Second {
		t.Errorf("Open of a server that never answers took %v, want about OpenTimeout (%v)", d, redisstore.OpenTimeout)
	}
	o, err := redis.ParseURL("redis://" + l.Addr().String() + "/0?read_timeout=200ms&write_timeout=200ms&max_retries=-1")
	if err != nil {
		t.Fatal(err)
	}
	s := redisstore.New(redis.NewClient(o), nil)
	defer s.Close()
	var ran atomic.Bool
	h := idempotency.Middleware(s, &idempotency.Options{Scope: t.Name()})(handler.HandlerFunc(func(context.Context, *handler.Message) error { ran.Store(true); return nil }))
	for _, r := range handler.Process(context.Background(), h, batchOf("timeout", 5), nil) {
		if r.Outcome != handler.Retry {
			t.Errorf("message %s: outcome %v, want retry", r.Message.ID, r.Outcome)
		}
	}
	if ran.Load() {
		t.Error("handler ran although the store timed out")
	}
}
