package storetest

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfn/eventfn/idempotency"
)

// testCompleteKeepsFingerprintAndResult: a completed key blocks later
// claims, which see COMPLETED with the claim's fingerprint and the result.
func testCompleteKeepsFingerprintAndResult(t *testing.T, h Harness) {
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
}

// testReleaseFreesTheKey: a released key can be claimed again, with a new
// token.
func testReleaseFreesTheKey(t *testing.T, h Harness) {
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
}

// testInProgressBlocksInsideTheLease: a live claim blocks others, which see
// IN_PROGRESS and get no token.
func testInProgressBlocksInsideTheLease(t *testing.T, h Harness) {
	s, k := h.New(t), key(t)
	mustAcquire(t, s, k, "fp-a", long)
	c := claim(t, s, k, "fp-a", long)
	if c.Acquired || c.Existing.Status != idempotency.StatusInProgress || c.Existing.Fingerprint != "fp-a" {
		t.Fatalf("second claim = %+v, want not acquired, IN_PROGRESS, fp-a", c)
	}
	if c.Token != "" {
		t.Fatal("a claim that was not acquired returned a token")
	}
}

// testExpiredLeaseIsTakenOver: a claim past its lease is taken over, and the
// old token can no longer complete or release.
func testExpiredLeaseIsTakenOver(t *testing.T, h Harness) {
	short := h.LeaseGranularity
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
}

// testCompleteAndReleaseAreFenced: stale, unknown and malformed tokens, and
// a token whose record is completed, get ErrLeaseLost and change nothing.
func testCompleteAndReleaseAreFenced(t *testing.T, h Harness) {
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
}

// testCompletedRecordsExpire: a completed record blocks claims until its
// TTL, then the key is free.
func testCompletedRecordsExpire(t *testing.T, h Harness) {
	short := h.LeaseGranularity
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
}

// testFingerprintIsNeverOverwritten: a claim with another fingerprint sees
// the first one, before and after completion.
func testFingerprintIsNeverOverwritten(t *testing.T, h Harness) {
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
}

// testClaimIsExclusive: of 50 goroutines claiming one key at once, exactly
// one wins.
func testClaimIsExclusive(t *testing.T, h Harness) {
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
}

// testUnusualKeys: keys of 10,000 bytes and keys that are not UTF-8 claim
// and complete.
func testUnusualKeys(t *testing.T, h Harness) {
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
}

// testBinaryValues: results and fingerprints with NUL, invalid UTF-8 and
// quotes come back intact.
func testBinaryValues(t *testing.T, h Harness) {
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
}

// testGetAbsent: Get of a key never claimed is ErrNotFound.
func testGetAbsent(t *testing.T, h Harness) {
	if _, err := h.New(t).Get(ctx, key(t)); !errors.Is(err, idempotency.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}
