package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/eventfn/eventfn/idempotency"
)

// testBatchAnswersEachItemInOrder: the BatchStore methods answer each item,
// in order, as the single calls would.
func testBatchAnswersEachItemInOrder(t *testing.T, h Harness) {
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
}
