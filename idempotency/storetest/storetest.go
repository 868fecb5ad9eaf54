// Package storetest is the conformance suite every idempotency.Store passes.
// A store's own tests call Run with a Harness that makes stores against the
// real backend:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			New:         func(t *testing.T) idempotency.Store { return newStore(t) },
//			Unreachable: func(t *testing.T) idempotency.Store { return storeOnClosedPort(t) },
//		})
//	}
//
// The suite checks claim, complete and release; IN_PROGRESS inside the lease
// and takeover after it; fencing by token (a stale token changes nothing);
// TTL; fingerprints surviving completion; Extend renewing a claim and
// fenced like Complete; 50 goroutines racing for one key;
// cancelled contexts; very long and non-UTF-8 keys; binary results; batch
// operations when the store implements idempotency.BatchStore; an
// unreachable backend failing loudly; and the middleware and Do working on
// the store end to end.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
)

// Harness makes stores for the suite.
type Harness struct {
	// New returns a store on the real backend. Stores from several calls may
	// share the backend: the suite uses fresh random keys in every test.
	New func(t *testing.T) idempotency.Store
	// Unreachable returns a store whose backend cannot be reached (a closed
	// port, say). Nil skips the unreachable tests.
	Unreachable func(t *testing.T) idempotency.Store
	// LeaseGranularity is the smallest lease the backend honours reliably.
	// Default: 200ms.
	LeaseGranularity time.Duration
}

func key(t *testing.T) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "storetest/" + t.Name() + "/" + hex.EncodeToString(b[:])
}

const long = 10 * time.Second

var ctx = context.Background()

// claim claims k and checks the answer's shape.
func claim(t *testing.T, s idempotency.Store, k, fp string, lease time.Duration) idempotency.Claim {
	t.Helper()
	c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: fp, Lease: lease})
	if err != nil {
		t.Fatalf("Claim(%q): %v", k, err)
	}
	checkClaim(t, c)
	return c
}

// mustAcquire claims k and fails t unless the claim is acquired.
func mustAcquire(t *testing.T, s idempotency.Store, k, fp string, lease time.Duration) string {
	t.Helper()
	c := claim(t, s, k, fp, lease)
	if !c.Acquired || c.Token == "" {
		t.Fatalf("Claim(%q) = %+v, want acquired with a token", k, c)
	}
	return c.Token
}

func mustGet(t *testing.T, s idempotency.Store, k string) idempotency.Record {
	t.Helper()
	r, err := s.Get(ctx, k)
	if err != nil {
		t.Fatalf("Get(%q): %v", k, err)
	}
	return r
}

// Run runs the conformance suite against h.
func Run(t *testing.T, h Harness) {
	if h.LeaseGranularity <= 0 {
		h.LeaseGranularity = 200 * time.Millisecond
	}
	short := h.LeaseGranularity

	t.Run("claim then complete makes later claims see COMPLETED with fingerprint and result", func(t *testing.T) {
		s, k := h.New(t), key(t)
		tok := mustAcquire(t, s, k, "fp-1", long)
		if r := mustGet(t, s, k); r.Status != idempotency.StatusInProgress || r.Fingerprint != "fp-1" {
			t.Fatalf("after claim Get = %+v, want IN_PROGRESS fp-1", r)
		}
		if err := s.Complete(ctx, k, tok, []byte(`{"ok":true}`), time.Hour); err != nil {
			t.Fatalf("Complete: %v", err)
		}
		c := claim(t, s, k, "fp-1", long)
		if c.Acquired {
			t.Fatal("claim of a COMPLETED key was acquired")
		}
		if c.Existing.Status != idempotency.StatusCompleted || c.Existing.Fingerprint != "fp-1" || string(c.Existing.Result) != `{"ok":true}` {
			t.Fatalf("Existing = %+v, want COMPLETED, fp-1, result", c.Existing)
		}
		if r := mustGet(t, s, k); r.Status != idempotency.StatusCompleted || r.Fingerprint != "fp-1" {
			t.Fatalf("Get = %+v", r)
		}
	})

	t.Run("release frees the key for the next claim", func(t *testing.T) {
		s, k := h.New(t), key(t)
		tok := mustAcquire(t, s, k, "fp", long)
		if err := s.Release(ctx, k, tok); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if _, err := s.Get(ctx, k); !errors.Is(err, idempotency.ErrNotFound) {
			t.Fatalf("Get after release: err = %v, want ErrNotFound", err)
		}
		tok2 := mustAcquire(t, s, k, "fp", long)
		if tok2 == tok {
			t.Fatal("a new claim reused the old token")
		}
	})

	t.Run("IN_PROGRESS is reported inside the lease", func(t *testing.T) {
		s, k := h.New(t), key(t)
		mustAcquire(t, s, k, "fp-a", long)
		c := claim(t, s, k, "fp-a", long)
		if c.Acquired || c.Existing.Status != idempotency.StatusInProgress || c.Existing.Fingerprint != "fp-a" {
			t.Fatalf("second claim = %+v, want not acquired, IN_PROGRESS, fp-a", c)
		}
		if c.Token != "" {
			t.Fatal("a claim that was not acquired returned a token")
		}
	})

	t.Run("an expired lease is taken over and the old token is fenced off", func(t *testing.T) {
		s, k := h.New(t), key(t)
		old := mustAcquire(t, s, k, "fp", short)
		time.Sleep(3 * short)
		tok := mustAcquire(t, s, k, "fp", long)
		if err := s.Complete(ctx, k, old, []byte("late"), time.Hour); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Complete with the expired claim's token: err = %v, want ErrLeaseLost", err)
		}
		if err := s.Release(ctx, k, old); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Release with the expired claim's token: err = %v, want ErrLeaseLost", err)
		}
		if r := mustGet(t, s, k); r.Status != idempotency.StatusInProgress {
			t.Fatalf("stale calls changed the record: %+v", r)
		}
		if err := s.Complete(ctx, k, tok, []byte("new"), time.Hour); err != nil {
			t.Fatalf("Complete with the live token: %v", err)
		}
		if r := mustGet(t, s, k); string(r.Result) != "new" {
			t.Fatalf("result = %q, want new", r.Result)
		}
	})

	t.Run("stale or unknown tokens fail with ErrLeaseLost and change nothing", func(t *testing.T) {
		s, k := h.New(t), key(t)
		tok := mustAcquire(t, s, k, "fp", long)
		bogus := strings.Repeat("0", len(tok))
		for _, bad := range []string{bogus, "", "short"} {
			if err := s.Complete(ctx, k, bad, []byte("x"), time.Hour); !errors.Is(err, idempotency.ErrLeaseLost) {
				t.Fatalf("Complete(token %q): err = %v, want ErrLeaseLost", bad, err)
			}
			if err := s.Release(ctx, k, bad); !errors.Is(err, idempotency.ErrLeaseLost) {
				t.Fatalf("Release(token %q): err = %v, want ErrLeaseLost", bad, err)
			}
		}
		if r := mustGet(t, s, k); r.Status != idempotency.StatusInProgress || r.Fingerprint != "fp" {
			t.Fatalf("record changed: %+v", r)
		}
		if err := s.Complete(ctx, k, tok, []byte("first"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := s.Complete(ctx, k, tok, []byte("second"), time.Hour); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("second Complete: err = %v, want ErrLeaseLost", err)
		}
		if err := s.Release(ctx, k, tok); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Release of a COMPLETED record: err = %v, want ErrLeaseLost", err)
		}
		if r := mustGet(t, s, k); r.Status != idempotency.StatusCompleted || string(r.Result) != "first" {
			t.Fatalf("record = %+v, want COMPLETED with the first result", r)
		}
		if err := s.Complete(ctx, key(t), tok, nil, time.Hour); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Complete of an absent key: err = %v, want ErrLeaseLost", err)
		}
	})

	t.Run("completed records hold until their TTL, then the key is free", func(t *testing.T) {
		s, k := h.New(t), key(t)
		tok := mustAcquire(t, s, k, "fp", long)
		if err := s.Complete(ctx, k, tok, nil, 3*short); err != nil {
			t.Fatal(err)
		}
		if c := claim(t, s, k, "fp", long); c.Acquired {
			t.Fatal("claim inside the TTL was acquired")
		}
		time.Sleep(5 * short)
		if _, err := s.Get(ctx, k); !errors.Is(err, idempotency.ErrNotFound) {
			t.Fatalf("Get after TTL: err = %v, want ErrNotFound", err)
		}
		mustAcquire(t, s, k, "fp", long)
	})

	t.Run("a different fingerprint is reported, never overwritten", func(t *testing.T) {
		s, k := h.New(t), key(t)
		tok := mustAcquire(t, s, k, "payload-A", long)
		if c := claim(t, s, k, "payload-B", long); c.Acquired || c.Existing.Fingerprint != "payload-A" {
			t.Fatalf("claim with another fingerprint = %+v, want blocked by payload-A", c)
		}
		if err := s.Complete(ctx, k, tok, nil, time.Hour); err != nil {
			t.Fatal(err)
		}
		if c := claim(t, s, k, "payload-B", long); c.Acquired || c.Existing.Fingerprint != "payload-A" {
			t.Fatalf("after completion = %+v, want blocked by payload-A", c)
		}
	})

	t.Run("50 goroutines racing for one key: exactly one wins", func(t *testing.T) {
		s, k := h.New(t), key(t)
		var wins, losses atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, 50)
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: long})
				switch {
				case err != nil:
					errs <- err
				case c.Acquired:
					wins.Add(1)
				default:
					losses.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("Claim: %v", err)
		}
		if wins.Load() != 1 || losses.Load() != 49 {
			t.Fatalf("wins = %d, losses = %d; want 1 and 49", wins.Load(), losses.Load())
		}
	})

	t.Run("a cancelled context returns an error promptly", func(t *testing.T) {
		s := h.New(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		done := make(chan error, 1)
		go func() {
			_, err := s.Claim(cctx, idempotency.ClaimRequest{Key: key(t), Fingerprint: "fp", Lease: long})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("Claim with a cancelled context succeeded")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Claim with a cancelled context did not return")
		}
	})

	t.Run("very long and non-UTF-8 keys work", func(t *testing.T) {
		s := h.New(t)
		for _, k := range []string{key(t) + strings.Repeat("k", 10_000), key(t) + "\xff\xfe\x00\x80bad"} {
			tok := mustAcquire(t, s, k, "fp", long)
			if c := claim(t, s, k, "fp", long); c.Acquired {
				t.Fatalf("key of %d bytes claimed twice", len(k))
			}
			if err := s.Complete(ctx, k, tok, []byte("r"), time.Hour); err != nil {
				t.Fatalf("Complete(%d-byte key): %v", len(k), err)
			}
			if r := mustGet(t, s, k); r.Status != idempotency.StatusCompleted {
				t.Fatalf("Get(%d-byte key) = %+v", len(k), r)
			}
		}
	})

	t.Run("binary results and fingerprints round-trip", func(t *testing.T) {
		s, k := h.New(t), key(t)
		fp := "fp\x00with\xffbytes"
		res := []byte{0, 1, 2, 0xff, 0, '"', '\\'}
		tok := mustAcquire(t, s, k, fp, long)
		if err := s.Complete(ctx, k, tok, res, time.Hour); err != nil {
			t.Fatal(err)
		}
		r := mustGet(t, s, k)
		if string(r.Result) != string(res) || r.Fingerprint != fp {
			t.Fatalf("got result %q fp %q, want %q %q", r.Result, r.Fingerprint, res, fp)
		}
	})

	t.Run("Get of an absent key is ErrNotFound", func(t *testing.T) {
		if _, err := h.New(t).Get(ctx, key(t)); !errors.Is(err, idempotency.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})

	for _, p := range []struct {
		name string
		test func(*testing.T, Harness)
	}{
		{"Extend keeps the claim past its original lease", testExtendKeepsTheClaimPastItsLease},
		{"Extend with a stale token is ErrLeaseLost and changes nothing", testExtendWithAStaleTokenIsLeaseLost},
		{"Extend after the lease ran out is ErrLeaseLost", testExtendAfterExpiryIsLeaseLost},
		{"Extend of a COMPLETED record is ErrLeaseLost and keeps it", testExtendOfACompletedRecordIsLeaseLost},
		{"Extend of an absent key is ErrLeaseLost and creates nothing", testExtendOfAnAbsentKeyIsLeaseLost},
		{"extended batch claims complete and release with the batch methods", testExtendedBatchClaimsComplete},
	} {
		t.Run(p.name, func(t *testing.T) { p.test(t, h) })
	}

	t.Run("batch operations answer each item in order", func(t *testing.T) {
		s := h.New(t)
		bs, ok := s.(idempotency.BatchStore)
		if !ok {
			t.Skip("store does not implement idempotency.BatchStore")
		}
		done := key(t)
		tok := mustAcquire(t, s, done, "fp", long)
		if err := s.Complete(ctx, done, tok, nil, time.Hour); err != nil {
			t.Fatal(err)
		}
		reqs := []idempotency.ClaimRequest{{Key: key(t), Fingerprint: "a", Lease: long}, {Key: done, Fingerprint: "fp", Lease: long}, {Key: key(t), Fingerprint: "c", Lease: long}}
		claims, errs := bs.ClaimBatch(ctx, reqs)
		if len(claims) != 3 || len(errs) != 3 {
			t.Fatalf("got %d claims, %d errors for 3 requests", len(claims), len(errs))
		}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("item %d: %v", i, err)
			}
			checkClaim(t, claims[i])
		}
		if !claims[0].Acquired || claims[1].Acquired || claims[1].Existing.Status != idempotency.StatusCompleted || !claims[2].Acquired {
			t.Fatalf("claims = %+v", claims)
		}
		cerrs := bs.CompleteBatch(ctx, []idempotency.Completion{
			{Key: reqs[0].Key, Token: claims[0].Token, Result: []byte("r0"), TTL: time.Hour},
			{Key: reqs[2].Key, Token: strings.Repeat("0", len(claims[2].Token)), TTL: time.Hour},
		})
		if cerrs[0] != nil || !errors.Is(cerrs[1], idempotency.ErrLeaseLost) {
			t.Fatalf("CompleteBatch errors = %v, want [nil, ErrLeaseLost]", cerrs)
		}
		rerrs := bs.ReleaseBatch(ctx, []idempotency.Release{{Key: reqs[2].Key, Token: claims[2].Token}, {Key: reqs[0].Key, Token: claims[0].Token}})
		if rerrs[0] != nil || !errors.Is(rerrs[1], idempotency.ErrLeaseLost) {
			t.Fatalf("ReleaseBatch errors = %v, want [nil, ErrLeaseLost]", rerrs)
		}
		if r := mustGet(t, s, reqs[0].Key); r.Status != idempotency.StatusCompleted || string(r.Result) != "r0" {
			t.Fatalf("record 0 = %+v", r)
		}
		if _, err := s.Get(ctx, reqs[2].Key); !errors.Is(err, idempotency.ErrNotFound) {
			t.Fatalf("record 2 after release: %v", err)
		}
	})

	t.Run("middleware runs each key once across duplicates, failures and batches", func(t *testing.T) {
		s := h.New(t)
		scope := key(t)
		var runs sync.Map
		var calls atomic.Int32
		h := handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
			calls.Add(1)
			if string(m.Body) == "fail" && m.DeliveryAttempt == 1 {
				return errors.New("transient")
			}
			n, _ := runs.LoadOrStore(m.ID, new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
			return nil
		})
		wrapped := idempotency.Middleware(s, &idempotency.Options{Scope: scope, CacheSize: -1})(h)
		batch := []*handler.Message{
			{ID: "a", Body: []byte("x"), DeliveryAttempt: 1},
			{ID: "b", Body: []byte("fail"), DeliveryAttempt: 1},
			{ID: "a", Body: []byte("x"), DeliveryAttempt: 1},
			{ID: "c", Body: []byte("y"), DeliveryAttempt: 1},
			{ID: "c", Body: []byte("other payload"), DeliveryAttempt: 1},
		}
		res := handler.Process(ctx, wrapped, batch, nil)
		want := []handler.Outcome{handler.Ack, handler.Retry, handler.Ack, handler.Ack, handler.Reject}
		for i, r := range res {
			if r.Outcome != want[i] {
				t.Errorf("first round message %d (%s): outcome %v (%v), want %v", i, batch[i].ID, r.Outcome, r.Err, want[i])
			}
		}
		if !errors.Is(res[4].Err, idempotency.ErrPayloadMismatch) {
			t.Errorf("mismatch error = %v", res[4].Err)
		}
		// Redelivery of everything, as a platform would.
		for _, m := range batch {
			m.DeliveryAttempt = 2
		}
		res = handler.Process(ctx, wrapped, batch[:4], nil)
		for i, r := range res {
			if r.Outcome != handler.Ack {
				t.Errorf("second round message %d: outcome %v (%v), want ack", i, r.Outcome, r.Err)
			}
		}
		for _, id := range []string{"a", "b", "c"} {
			n, ok := runs.Load(id)
			if !ok || n.(*atomic.Int32).Load() != 1 {
				t.Errorf("effect of %s ran %v times, want 1", id, n)
			}
		}
	})

	t.Run("Do returns the first call's stored result", func(t *testing.T) {
		s, k := h.New(t), key(t)
		var calls atomic.Int32
		fn := func(context.Context) (map[string]int, error) {
			return map[string]int{"n": int(calls.Add(1))}, nil
		}
		for i := 0; i < 3; i++ {
			v, err := idempotency.Do(ctx, s, k, fn, nil)
			if err != nil || v["n"] != 1 {
				t.Fatalf("call %d: %v, %v; want n=1", i, v, err)
			}
		}
		if calls.Load() != 1 {
			t.Fatalf("fn ran %d times", calls.Load())
		}
	})

	if h.Unreachable != nil {
		t.Run("an unreachable backend is an error, never a silent success", func(t *testing.T) {
			s := h.Unreachable(t)
			cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			c, err := s.Claim(cctx, idempotency.ClaimRequest{Key: key(t), Fingerprint: "fp", Lease: long})
			if err == nil || c.Acquired {
				t.Fatalf("Claim = %+v, %v; want an error", c, err)
			}
			if !errors.Is(err, idempotency.ErrStore) {
				t.Errorf("Claim error %v does not match ErrStore", err)
			}
			if err := s.Complete(cctx, key(t), strings.Repeat("0", 32), nil, time.Hour); err == nil {
				t.Error("Complete on an unreachable store succeeded")
			}
			if err := s.Release(cctx, key(t), strings.Repeat("0", 32)); err == nil {
				t.Error("Release on an unreachable store succeeded")
			}
			if err := s.Extend(cctx, key(t), "P"+strings.Repeat("0", 40), long); !errors.Is(err, idempotency.ErrStore) {
				t.Errorf("Extend on an unreachable store: err = %v, want ErrStore", err)
			}
			if _, err := s.Get(cctx, key(t)); err == nil || errors.Is(err, idempotency.ErrNotFound) {
				t.Errorf("Get on an unreachable store: err = %v, want a store error", err)
			}
			var ran atomic.Bool
			wrapped := idempotency.Middleware(s, &idempotency.Options{Scope: "unreachable"})(handler.HandlerFunc(func(context.Context, *handler.Message) error {
				ran.Store(true)
				return nil
			}))
			res := handler.Process(cctx, wrapped, []*handler.Message{{ID: "1", Body: []byte("a")}, {ID: "2", Body: []byte("b")}}, nil)
			for i, r := range res {
				if r.Outcome != handler.Retry || !errors.Is(r.Err, idempotency.ErrStore) {
					t.Errorf("message %d: outcome %v (%v), want retry with ErrStore", i, r.Outcome, r.Err)
				}
			}
			if ran.Load() {
				t.Error("the handler ran without a claim")
			}
		})
	}
}

// checkClaim fails t unless c is shaped as Claim documents: acquired with a
// token and no record, or blocked by a record without a token.
func checkClaim(t *testing.T, c idempotency.Claim) {
	t.Helper()
	switch {
	case c.Acquired && (c.Token == "" || c.Existing != nil):
		t.Fatalf("acquired claim = %+v, want a token and no Existing record", c)
	case !c.Acquired && (c.Token != "" || c.Existing == nil):
		t.Fatalf("blocked claim = %+v, want the Existing record and no token", c)
	}
}
