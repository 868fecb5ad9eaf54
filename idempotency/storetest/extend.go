package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/eventfn/eventfn/idempotency"
)

// testExtendKeepsTheClaimPastItsLease: an extended claim still blocks a
// competing claim after its original lease ran out, reports the new lease
// end where the store reports one, and completes with its token.
func testExtendKeepsTheClaimPastItsLease(t *testing.T, h Harness) {
	s, k := h.New(t), key(t)
	first := 5 * h.LeaseGranularity
	start := time.Now()
	tok := mustAcquire(t, s, k, "fp-x", first)
	for i := range 2 { // a heartbeat extends more than once
		if err := s.Extend(ctx, k, tok, long); err != nil {
			t.Fatalf("Extend %d: %v", i+1, err)
		}
	}
	time.Sleep(time.Until(start.Add(first + 3*h.LeaseGranularity)))
	c := claim(t, s, k, "fp-x", long)
	if c.Acquired {
		t.Fatal("a claim after the original lease took over the extended claim")
	}
	if c.Existing.Status != idempotency.StatusInProgress || c.Existing.Fingerprint != "fp-x" {
		t.Fatalf("blocking record = %+v, want IN_PROGRESS fp-x", c.Existing)
	}
	if le := c.Existing.LeaseExpiry; !le.IsZero() && le.Before(start.Add(long-time.Second)) {
		t.Fatalf("blocking record's LeaseExpiry = %v, want about %v (the extended lease)", le, start.Add(long))
	}
	if r := mustGet(t, s, k); r.Status != idempotency.StatusInProgress || r.Fingerprint != "fp-x" {
		t.Fatalf("Get after Extend = %+v, want IN_PROGRESS fp-x", r)
	}
	if err := s.Complete(ctx, k, tok, []byte("done"), time.Hour); err != nil {
		t.Fatalf("Complete after Extend: %v", err)
	}
	if r := mustGet(t, s, k); r.Status != idempotency.StatusCompleted || r.Fingerprint != "fp-x" || string(r.Result) != "done" {
		t.Fatalf("record after Complete = %+v, want COMPLETED fp-x done", r)
	}
}

// testExtendWithAStaleTokenIsLeaseLost: a token that does not hold the key
// (an earlier claim's, another key's, malformed) cannot extend it, and the
// holder's record is unchanged.
func testExtendWithAStaleTokenIsLeaseLost(t *testing.T, h Harness) {
	s, k := h.New(t), key(t)
	old := mustAcquire(t, s, k, "fp", long)
	if err := s.Release(ctx, k, old); err != nil {
		t.Fatal(err)
	}
	tok := mustAcquire(t, s, k, "fp", long)
	other := mustAcquire(t, s, key(t), "fp", long)
	before := mustGet(t, s, k)
	for _, bad := range []string{old, other, strings.Repeat("0", len(tok)), "", "short"} {
		if err := s.Extend(ctx, k, bad, 3*long); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Extend(token %q): err = %v, want ErrLeaseLost", bad, err)
		}
	}
	after := mustGet(t, s, k)
	if after.Status != before.Status || after.Fingerprint != before.Fingerprint || !after.LeaseExpiry.Equal(before.LeaseExpiry) {
		t.Fatalf("stale Extends changed the record: before %+v, after %+v", before, after)
	}
	if err := s.Extend(ctx, k, tok, long); err != nil {
		t.Fatalf("Extend by the holder: %v", err)
	}
	if err := s.Release(ctx, k, tok); err != nil {
		t.Fatalf("Release after Extend: %v", err)
	}
}

// testExtendAfterExpiryIsLeaseLost: once the lease has run out the claim is
// gone, whether or not another delivery took the key, and Extend does not
// bring it back.
func testExtendAfterExpiryIsLeaseLost(t *testing.T, h Harness) {
	s := h.New(t)
	short := h.LeaseGranularity

	t.Run("nobody took the key over", func(t *testing.T) {
		k := key(t)
		tok := mustAcquire(t, s, k, "fp", short)
		time.Sleep(3 * short)
		if err := s.Extend(ctx, k, tok, long); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Extend after the lease: err = %v, want ErrLeaseLost", err)
		}
		if r, err := s.Get(ctx, k); !errors.Is(err, idempotency.ErrNotFound) {
			t.Fatalf("Get after a late Extend = %+v, %v; want ErrNotFound", r, err)
		}
		mustAcquire(t, s, k, "fp", long)
	})

	t.Run("another delivery took the key over", func(t *testing.T) {
		k := key(t)
		old := mustAcquire(t, s, k, "fp", short)
		time.Sleep(3 * short)
		tok := mustAcquire(t, s, k, "fp", long)
		before := mustGet(t, s, k)
		if err := s.Extend(ctx, k, old, 3*long); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Extend with the expired claim's token: err = %v, want ErrLeaseLost", err)
		}
		if after := mustGet(t, s, k); !after.LeaseExpiry.Equal(before.LeaseExpiry) || after.Status != idempotency.StatusInProgress {
			t.Fatalf("a stale Extend changed the new claim: before %+v, after %+v", before, after)
		}
		if err := s.Complete(ctx, k, tok, nil, time.Hour); err != nil {
			t.Fatalf("Complete by the new holder: %v", err)
		}
	})
}

// testExtendOfACompletedRecordIsLeaseLost: a completed record keeps its
// status, fingerprint, result and expiry.
func testExtendOfACompletedRecordIsLeaseLost(t *testing.T, h Harness) {
	s, k := h.New(t), key(t)
	tok := mustAcquire(t, s, k, "fp-c", long)
	if err := s.Complete(ctx, k, tok, []byte("res"), time.Hour); err != nil {
		t.Fatal(err)
	}
	before := mustGet(t, s, k)
	if err := s.Extend(ctx, k, tok, long); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Fatalf("Extend of a COMPLETED record: err = %v, want ErrLeaseLost", err)
	}
	after := mustGet(t, s, k)
	if after.Status != idempotency.StatusCompleted || after.Fingerprint != "fp-c" || string(after.Result) != "res" || !after.Expiry.Equal(before.Expiry) {
		t.Fatalf("record after Extend = %+v, want it unchanged: %+v", after, before)
	}
}

// testExtendOfAnAbsentKeyIsLeaseLost: Extend never creates a record.
func testExtendOfAnAbsentKeyIsLeaseLost(t *testing.T, h Harness) {
	s, k := h.New(t), key(t)
	tok := mustAcquire(t, s, key(t), "fp", long) // a real token, of another key
	if err := s.Extend(ctx, k, tok, long); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Fatalf("Extend of an absent key: err = %v, want ErrLeaseLost", err)
	}
	if r, err := s.Get(ctx, k); !errors.Is(err, idempotency.ErrNotFound) {
		t.Fatalf("Get after Extend of an absent key = %+v, %v; want ErrNotFound", r, err)
	}
}

// testExtendedBatchClaimsComplete: claims of a batch that were extended
// still complete and release with the batch methods, next to claims that
// were not.
func testExtendedBatchClaimsComplete(t *testing.T, h Harness) {
	s := h.New(t)
	bs, ok := s.(idempotency.BatchStore)
	if !ok {
		t.Skip("store does not implement idempotency.BatchStore")
	}
	// A first batch warms the store, as a running function's is: a store
	// may take a faster path for later batches.
	warm := []idempotency.ClaimRequest{{Key: key(t), Fingerprint: "w", Lease: long}, {Key: key(t), Fingerprint: "w", Lease: long}}
	wclaims, _ := bs.ClaimBatch(ctx, warm)
	bs.CompleteBatch(ctx, []idempotency.Completion{{Key: warm[0].Key, Token: wclaims[0].Token, TTL: time.Hour}, {Key: warm[1].Key, Token: wclaims[1].Token, TTL: time.Hour}})

	reqs := []idempotency.ClaimRequest{{Key: key(t), Fingerprint: "a", Lease: long}, {Key: key(t), Fingerprint: "b", Lease: long}, {Key: key(t), Fingerprint: "c", Lease: long}}
	claims, errs := bs.ClaimBatch(ctx, reqs)
	for i, err := range errs {
		if err != nil || !claims[i].Acquired {
			t.Fatalf("claim %d = %+v, %v; want acquired", i, claims[i], err)
		}
	}
	for _, i := range []int{0, 2} {
		if err := s.Extend(ctx, reqs[i].Key, claims[i].Token, long); err != nil {
			t.Fatalf("Extend %d: %v", i, err)
		}
	}
	cerrs := bs.CompleteBatch(ctx, []idempotency.Completion{
		{Key: reqs[0].Key, Token: claims[0].Token, Result: []byte("r0"), TTL: time.Hour},
		{Key: reqs[1].Key, Token: claims[1].Token, Result: []byte("r1"), TTL: time.Hour},
	})
	if cerrs[0] != nil || cerrs[1] != nil {
		t.Fatalf("CompleteBatch after Extend: %v", cerrs)
	}
	if rerrs := bs.ReleaseBatch(ctx, []idempotency.Release{{Key: reqs[2].Key, Token: claims[2].Token}}); rerrs[0] != nil {
		t.Fatalf("ReleaseBatch after Extend: %v", rerrs[0])
	}
	for i, fp := range []string{"a", "b"} {
		if r := mustGet(t, s, reqs[i].Key); r.Status != idempotency.StatusCompleted || r.Fingerprint != fp || string(r.Result) != "r"+string(rune('0'+i)) {
			t.Fatalf("record %d = %+v, want COMPLETED %s", i, r, fp)
		}
	}
	if _, err := s.Get(ctx, reqs[2].Key); !errors.Is(err, idempotency.ErrNotFound) {
		t.Fatalf("record 2 after release: %v", err)
	}
}
