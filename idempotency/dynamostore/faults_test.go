package dynamostore_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/dynamostore"
)

// fault is an http.RoundTripper in front of DynamoDB Local that lets a test
// throttle, stall or lose the responses of chosen operations.
type fault struct {
	next http.RoundTripper
	// mode per operation: "throttle" answers ProvisionedThroughputExceeded
	// without reaching the server, "stall" waits for the request's context,
	// "lose-once" lets the server apply the first request and then answers
	// 500 as if the response had been lost.
	mode     map[string]string
	attempts atomic.Int32 // requests of faulted operations
	lost     atomic.Bool
}

func (f *fault) RoundTrip(r *http.Request) (*http.Response, error) {
	mode := f.mode[operation(r)]
	if mode == "" {
		return f.next.RoundTrip(r)
	}
	f.attempts.Add(1)
	switch mode {
	case "throttle":
		_, _ = io.Copy(io.Discard, r.Body)
		return jsonError(r, 400, "ProvisionedThroughputExceededException", "The level of configured provisioned throughput for the table was exceeded."), nil
	case "stall":
		<-r.Context().Done()
		return nil, r.Context().Err()
	case "lose-once":
		resp, err := f.next.RoundTrip(r)
		if err != nil || f.lost.Swap(true) {
			return resp, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return jsonError(r, 500, "InternalServerError", "response lost by the test"), nil
	}
	panic("unknown fault mode " + mode)
}

func jsonError(r *http.Request, status int, typ, msg string) *http.Response {
	body := `{"__type":"com.amazonaws.dynamodb.v20120810#` + typ + `","message":"` + msg + `"}`
	return &http.Response{
		StatusCode: status, Status: http.StatusText(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amzn-Requestid": {"fault-test"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}
}

func faultyStore(t *testing.T, mode map[string]string) (*dynamostore.Store, *fault) {
	endpoint, table := sharedTable(t)
	f := &fault{next: http.DefaultTransport, mode: mode}
	return dynamostore.New(newClient(endpoint, f), table, nil), f
}

func TestThrottlingIsAnErrorAfterTheSDKRetries(t *testing.T) {
	endpoint, table := sharedTable(t)
	healthy := dynamostore.New(newClient(endpoint, nil), table, nil)
	all := map[string]string{"PutItem": "throttle", "UpdateItem": "throttle", "DeleteItem": "throttle", "GetItem": "throttle"}
	s, f := faultyStore(t, all)
	k := randKey(t)

	c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: time.Minute})
	var throttled *types.ProvisionedThroughputExceededException
	if c.Acquired || !errors.Is(err, idempotency.ErrStore) || !errors.As(err, &throttled) {
		t.Fatalf("throttled Claim = %+v, %v; want a store error wrapping ProvisionedThroughputExceededException", c, err)
	}
	if n := f.attempts.Load(); n != 3 {
		t.Errorf("the SDK made %d attempts, want its default 3", n)
	}
	if _, err := healthy.Get(ctx, k); !errors.Is(err, idempotency.ErrNotFound) {
		t.Fatalf("a throttled claim left a record: %v", err)
	}

	tok := mustClaim(t, healthy, k)
	if err := s.Complete(ctx, k, tok, nil, time.Hour); !errors.Is(err, idempotency.ErrStore) || errors.Is(err, idempotency.ErrLeaseLost) {
		t.Errorf("throttled Complete: err = %v, want a store error, not ErrLeaseLost", err)
	}
	if err := s.Release(ctx, k, tok); !errors.Is(err, idempotency.ErrStore) || errors.Is(err, idempotency.ErrLeaseLost) {
		t.Errorf("throttled Release: err = %v, want a store error, not ErrLeaseLost", err)
	}
	if _, err := s.Get(ctx, k); !errors.Is(err, idempotency.ErrStore) || errors.Is(err, idempotency.ErrNotFound) {
		t.Errorf("throttled Get: err = %v, want a store error, not ErrNotFound", err)
	}
	if r, err := healthy.Get(ctx, k); err != nil || r.Status != idempotency.StatusInProgress {
		t.Errorf("the record changed under throttled calls: %+v, %v", r, err)
	}

	t.Run("messages fail for redelivery and their handler never runs", func(t *testing.T) {
		var ran atomic.Int32
		h := idempotency.Middleware(s, &idempotency.Options{Scope: randKey(t), CacheSize: -1})(
			handler.HandlerFunc(func(context.Context, *handler.Message) error { ran.Add(1); return nil }))
		batch := []*handler.Message{{ID: "1", Body: []byte("a")}, {ID: "2", Body: []byte("b")}, {ID: "3", Body: []byte("c")}}
		for i, r := range handler.Process(ctx, h, batch, nil) {
			if r.Outcome != handler.Retry || !errors.Is(r.Err, idempotency.ErrStore) {
				t.Errorf("message %d: outcome %v (%v), want Retry with ErrStore", i, r.Outcome, r.Err)
			}
		}
		if ran.Load() != 0 {
			t.Errorf("the handler ran %d times without a claim", ran.Load())
		}
	})
}

func mustClaim(t *testing.T, s idempotency.Store, k string) string {
	t.Helper()
	c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: time.Minute})
	if err != nil || !c.Acquired {
		t.Fatalf("Claim(%q) = %+v, %v", k, c, err)
	}
	return c.Token
}

func TestATimeoutIsAnError(t *testing.T) {
	s, _ := faultyStore(t, map[string]string{"PutItem": "stall", "UpdateItem": "stall", "DeleteItem": "stall", "GetItem": "stall"})
	calls := []struct {
		name string
		call func(context.Context) error
	}{
		{"Claim", func(ctx context.Context) error {
			c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: randKey(t), Lease: time.Minute})
			if c.Acquired {
				t.Error("a timed-out claim was acquired")
			}
			return err
		}},
		{"Complete", func(ctx context.Context) error { return s.Complete(ctx, randKey(t), "tok", nil, time.Hour) }},
		{"Release", func(ctx context.Context) error { return s.Release(ctx, randKey(t), "tok") }},
		{"Get", func(ctx context.Context) error { _, err := s.Get(ctx, randKey(t)); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			err := c.call(tctx)
			if !errors.Is(err, idempotency.ErrStore) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want a store error wrapping context.DeadlineExceeded", err)
			}
		})
	}
}

func TestAWriteWhoseResponseWasLostIsRecognisedOnRetry(t *testing.T) {
	endpoint, table := sharedTable(t)
	healthy := dynamostore.New(newClient(endpoint, nil), table, nil)

	t.Run("claim", func(t *testing.T) {
		s, f := faultyStore(t, map[string]string{"PutItem": "lose-once"})
		k := randKey(t)
		c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: time.Minute})
		if err != nil || !c.Acquired {
			t.Fatalf("Claim = %+v, %v; want acquired by the retry that found its own write", c, err)
		}
		if f.attempts.Load() != 2 {
			t.Fatalf("attempts = %d, want 2 (lost, retried)", f.attempts.Load())
		}
		if err := healthy.Complete(ctx, k, c.Token, nil, time.Hour); err != nil {
			t.Fatalf("the claim's token does not hold the key: %v", err)
		}
	})

	t.Run("complete", func(t *testing.T) {
		s, f := faultyStore(t, map[string]string{"UpdateItem": "lose-once"})
		k := randKey(t)
		tok := mustClaim(t, healthy, k)
		if err := s.Complete(ctx, k, tok, []byte("r"), time.Hour); err != nil {
			t.Fatalf("Complete whose first response was lost: %v", err)
		}
		if f.attempts.Load() != 2 {
			t.Fatalf("attempts = %d, want 2 (lost, retried)", f.attempts.Load())
		}
		if r, err := healthy.Get(ctx, k); err != nil || r.Status != idempotency.StatusCompleted || string(r.Result) != "r" {
			t.Fatalf("record = %+v, %v", r, err)
		}
		if err := healthy.Complete(ctx, k, tok, nil, time.Hour); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("a second, separate Complete: err = %v, want ErrLeaseLost", err)
		}
	})
}

// inflight is an http.RoundTripper that records the most requests it saw at
// once.
type inflight struct {
	next     http.RoundTripper
	mu       sync.Mutex
	cur, max int
}

func (f *inflight) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.cur++
	f.max = max(f.max, f.cur)
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.cur--; f.mu.Unlock() }()
	time.Sleep(5 * time.Millisecond) // let the batch's calls overlap
	return f.next.RoundTrip(r)
}

func TestBatchesRunConcurrentlyWithinTheBound(t *testing.T) {
	endpoint, table := sharedTable(t)
	rt := &inflight{next: http.DefaultTransport}
	s := dynamostore.New(newClient(endpoint, rt), table, &dynamostore.Options{Concurrency: 4})
	reqs := make([]idempotency.ClaimRequest, 20)
	for i := range reqs {
		reqs[i] = idempotency.ClaimRequest{Key: randKey(t), Fingerprint: "fp", Lease: time.Minute}
	}
	reqs[7].Key = reqs[3].Key // a duplicate inside the batch: exactly one of them wins
	claims, errs := s.ClaimBatch(ctx, reqs)
	won := 0
	for i, c := range claims {
		if errs[i] != nil {
			t.Fatalf("item %d: %v", i, errs[i])
		}
		if c.Acquired {
			won++
		}
	}
	if won != 19 || claims[3].Acquired == claims[7].Acquired {
		t.Fatalf("%d of 20 acquired (items 3 and 7 share a key: %v, %v); want 19", won, claims[3].Acquired, claims[7].Acquired)
	}
	if rt.max > 4 || rt.max < 2 {
		t.Fatalf("at most %d requests ran at once, want 2 to 4", rt.max)
	}
	comps := make([]idempotency.Completion, 0, len(reqs))
	for i, c := range claims {
		if c.Acquired {
			comps = append(comps, idempotency.Completion{Key: reqs[i].Key, Token: c.Token, TTL: time.Hour})
		}
	}
	for i, err := range s.CompleteBatch(ctx, comps) {
		if err != nil {
			t.Fatalf("complete %d: %v", i, err)
		}
	}
}
