// Package memstore is an in-memory idempotency.Store for tests, local runs
// and the demo. Records live in one process and vanish with it, so it gives
// no protection across instances: use redisstore or dynamostore in
// production.
package memstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/eventfn/eventfn/idempotency"
)

var _ idempotency.BatchStore = (*Store)(nil)

// Options configure New. The zero value is ready to use.
type Options struct {
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Store keeps records in a map. It is safe for concurrent use.
type Store struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]idempotency.Record
}

// New returns an empty Store.
func New(opts *Options) *Store {
	s := &Store{now: time.Now, m: make(map[string]idempotency.Record)}
	if opts != nil && opts.Now != nil {
		s.now = opts.Now
	}
	return s
}

// live returns the record for key unless it has expired. Callers hold s.mu.
func (s *Store) live(key string, now time.Time) (idempotency.Record, bool) {
	r, ok := s.m[key]
	if !ok {
		return r, false
	}
	switch {
	case r.Status == idempotency.StatusInProgress && !now.Before(r.LeaseExpiry),
		r.Status == idempotency.StatusCompleted && !r.Expiry.IsZero() && !now.Before(r.Expiry):
		delete(s.m, key)
		return idempotency.Record{}, false
	}
	return r, true
}

// Claim implements idempotency.Store.
func (s *Store) Claim(ctx context.Context, req idempotency.ClaimRequest) (idempotency.Claim, error) {
	if err := ctx.Err(); err != nil {
		return idempotency.Claim{}, fmt.Errorf("%w: memstore: %w", idempotency.ErrStore, err)
	}
	if req.Lease <= 0 {
		return idempotency.Claim{}, fmt.Errorf("%w: memstore: lease must be positive, got %s", idempotency.ErrStore, req.Lease)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if r, ok := s.live(req.Key, now); ok {
		r.Token = ""
		return idempotency.Claim{Existing: &r}, nil
	}
	tok := idempotency.NewToken()
	s.m[req.Key] = idempotency.Record{Key: req.Key, Status: idempotency.StatusInProgress, Token: tok,
		Fingerprint: req.Fingerprint, LeaseExpiry: now.Add(req.Lease)}
	return idempotency.Claim{Acquired: true, Token: tok}, nil
}

// held returns the record if token holds key. Callers hold s.mu.
func (s *Store) held(key, token string) (idempotency.Record, error) {
	r, ok := s.live(key, s.now())
	if !ok {
		return r, fmt.Errorf("%w: memstore: key %.80q has no record", idempotency.ErrLeaseLost, key)
	}
	if r.Status != idempotency.StatusInProgress || r.Token != token {
		return r, fmt.Errorf("%w: memstore: key %.80q is held by another claim", idempotency.ErrLeaseLost, key)
	}
	return r, nil
}

// Complete implements idempotency.Store.
func (s *Store) Complete(ctx context.Context, key, token string, result []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: memstore: %w", idempotency.ErrStore, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.held(key, token)
	if err != nil {
		return err
	}
	r.Status = idempotency.StatusCompleted
	r.Result = append([]byte(nil), result...)
	r.LeaseExpiry = time.Time{}
	r.Expiry = s.now().Add(ttl)
	s.m[key] = r
	return nil
}

// Release implements idempotency.Store.
func (s *Store) Release(ctx context.Context, key, token string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: memstore: %w", idempotency.ErrStore, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.held(key, token); err != nil {
		return err
	}
	delete(s.m, key)
	return nil
}

// Extend implements idempotency.Store.
func (s *Store) Extend(ctx context.Context, key, token string, lease time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: memstore: %w", idempotency.ErrStore, err)
	}
	if lease <= 0 {
		return fmt.Errorf("%w: memstore: lease must be positive, got %s", idempotency.ErrStore, lease)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.held(key, token)
	if err != nil {
		return err
	}
	r.LeaseExpiry = s.now().Add(lease)
	s.m[key] = r
	return nil
}

// Get implements idempotency.Store.
func (s *Store) Get(ctx context.Context, key string) (idempotency.Record, error) {
	if err := ctx.Err(); err != nil {
		return idempotency.Record{}, fmt.Errorf("%w: memstore: %w", idempotency.ErrStore, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.live(key, s.now())
	if !ok {
		return r, fmt.Errorf("%w: memstore: key %.80q", idempotency.ErrNotFound, key)
	}
	r.Token = ""
	r.Result = append([]byte(nil), r.Result...)
	return r, nil
}

// ClaimBatch implements idempotency.BatchStore.
func (s *Store) ClaimBatch(ctx context.Context, reqs []idempotency.ClaimRequest) ([]idempotency.Claim, []error) {
	claims := make([]idempotency.Claim, len(reqs))
	errs := make([]error, len(reqs))
	for i, r := range reqs {
		claims[i], errs[i] = s.Claim(ctx, r)
	}
	return claims, errs
}

// CompleteBatch implements idempotency.BatchStore.
func (s *Store) CompleteBatch(ctx context.Context, items []idempotency.Completion) []error {
	errs := make([]error, len(items))
	for i, it := range items {
		errs[i] = s.Complete(ctx, it.Key, it.Token, it.Result, it.TTL)
	}
	return errs
}

// ReleaseBatch implements idempotency.BatchStore.
func (s *Store) ReleaseBatch(ctx context.Context, items []idempotency.Release) []error {
	errs := make([]error, len(items))
	for i, it := range items {
		errs[i] = s.Release(ctx, it.Key, it.Token)
	}
	return errs
}

// Len returns the number of live records.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	now := s.now()
	for k := range s.m {
		if _, ok := s.live(k, now); ok {
			n++
		}
	}
	return n
}
