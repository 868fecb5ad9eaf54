package dynamostore

import (
	"context"
	"fmt"
	"sync"

	"github.com/eventfn/eventfn/idempotency"
)

// DynamoDB has no batch form of a conditional write (BatchWriteItem takes no
// conditions; TransactWriteItems fails all items when one condition fails),
// so the batch methods run one call per item, Options.Concurrency at a time:
// a batch of 10 costs about one round trip of wall time.

// ClaimBatch implements idempotency.BatchStore: one Claim per request, run
// concurrently, one answer per request in order.
func (s *Store) ClaimBatch(ctx context.Context, reqs []idempotency.ClaimRequest) ([]idempotency.Claim, []error) {
	claims := make([]idempotency.Claim, len(reqs))
	errs := make([]error, len(reqs))
	s.each(len(reqs), errs, func(i int) error {
		var err error
		claims[i], err = s.Claim(ctx, reqs[i])
		return err
	})
	return claims, errs
}

// CompleteBatch implements idempotency.BatchStore: one Complete per item,
// run concurrently, one error per item in order.
func (s *Store) CompleteBatch(ctx context.Context, items []idempotency.Completion) []error {
	errs := make([]error, len(items))
	s.each(len(items), errs, func(i int) error {
		it := items[i]
		return s.Complete(ctx, it.Key, it.Token, it.Result, it.TTL)
	})
	return errs
}

// ReleaseBatch implements idempotency.BatchStore: one Release per item, run
// concurrently, one error per item in order.
func (s *Store) ReleaseBatch(ctx context.Context, items []idempotency.Release) []error {
	errs := make([]error, len(items))
	s.each(len(items), errs, func(i int) error {
		return s.Release(ctx, items[i].Key, items[i].Token)
	})
	return errs
}

// each runs fn(0..n-1) with at most Options.Concurrency at once and stores
// each result in errs. A panic in one call becomes that item's error.
func (s *Store) each(n int, errs []error, fn func(i int) error) {
	if n == 1 {
		errs[0] = safe(fn, 0)
		return
	}
	sem := make(chan struct{}, s.o.Concurrency)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = safe(fn, i)
		})
	}
	wg.Wait()
}

func safe(fn func(int) error, i int) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: dynamostore: panic: %v", idempotency.ErrStore, p)
		}
	}()
	return fn(i)
}
