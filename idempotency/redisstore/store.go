package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventfn/eventfn/idempotency"
)

var _ idempotency.BatchStore = (*Store)(nil)

// DefaultPrefix is the key prefix when Options.Prefix is empty.
const DefaultPrefix = "eventfn:idem:"

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// Prefix is prepended to every key. Default: "eventfn:idem:".
	Prefix string
	// DisableSessions turns off the WATCH/MULTI path on a single node (see
	// the package doc): every completion then runs the token-fenced script,
	// also one round trip per batch, and the store takes no connection out
	// of the client's pool between a batch's claim and its completion.
	// Default false: sessions are on for *redis.Client; cluster and ring
	// clients never use them.
	DisableSessions bool
}

// Store is an idempotency.Store backed by Redis. It is safe for concurrent
// use.
type Store struct {
	c      redis.UniversalClient
	prefix string
	ss     *sessions
}

// New returns a Store that uses c, which may be a *redis.Client, a
// *redis.ClusterClient or a *redis.Ring. It makes no call.
//
// c should be made with ContextTimeoutEnabled set (ParseURL, Open and
// OpenCluster set it): without it go-redis bounds reads and writes by its
// own ReadTimeout and WriteTimeout only, so a server that stops answering
// keeps a call past its context's deadline, and a Lambda invocation past
// its own. The store speaks whatever protocol c was made with.
//
// The store builds a batch's commands in memory it reuses for later
// batches, so hooks added to c (go-redis's AddHook, such as tracing) must
// not keep commands or their arguments after the call they observe
// returns; the common hooks, which record a span or a metric as the call
// runs, do not.
func New(c redis.UniversalClient, opts *Options) *Store {
	s := &Store{c: c, prefix: DefaultPrefix}
	if opts != nil && opts.Prefix != "" {
		s.prefix = opts.Prefix
	}
	if opts != nil && opts.DisableSessions {
		s.ss = &sessions{} // no node: every method is a no-op
	} else {
		s.ss = newSessions(c)
	}
	return s
}

// Client returns the underlying client.
func (s *Store) Client() redis.UniversalClient { return s.c }

// Close closes the underlying client.
func (s *Store) Close() error {
	s.ss.close()
	return s.c.Close()
}

func checkLease(req idempotency.ClaimRequest) error {
	if req.Lease < time.Millisecond {
		return fmt.Errorf("%w: redisstore: lease must be at least 1ms, got %s", idempotency.ErrStore, req.Lease)
	}
	return nil
}

// Claim implements idempotency.Store with one SET NX PX GET.
func (s *Store) Claim(ctx context.Context, req idempotency.ClaimRequest) (idempotency.Claim, error) {
	if err := checkLease(req); err != nil {
		return idempotency.Claim{}, err
	}
	token := newClaimValue(req, time.Now())
	cmd := redis.NewStatusCmd(ctx, s.claimArgs(make([]any, 0, 7), req, token, req.Lease.Milliseconds())...)
	_ = s.c.Process(ctx, cmd)
	return claimResult(req, token, cmd)
}

// Complete implements idempotency.Store.
func (s *Store) Complete(ctx context.Context, key, token string, result []byte, ttl time.Duration) error {
	if !validToken(token) {
		return scriptResult(key, "complete", -1, nil)
	}
	if errs, ok := s.completeWatched(ctx, nil, []string{key}, []string{token}, []idempotency.Completion{{Key: key, Token: token, Result: result, TTL: ttl}}); ok {
		return errs[0]
	}
	n, err := fencedSetScript.Run(ctx, s.c, []string{s.prefix + key}, completeArgs(token, result, ttl)...).Int64()
	return scriptResult(key, "complete", n, err)
}

// Release implements idempotency.Store.
func (s *Store) Release(ctx context.Context, key, token string) error {
	if !validToken(token) {
		return scriptResult(key, "release", -1, nil)
	}
	s.ss.end([]string{token})
	n, err := releaseScript.Run(ctx, s.c, []string{s.prefix + key}, fence(token)).Int64()
	return scriptResult(key, "release", n, err)
}

// Extend implements idempotency.Store with one fenced script that rewrites
// the claim's value with the new lease end and sets the key's PX to lease.
// A batch session holding the claim is ended first: the write would abort
// its transaction anyway.
func (s *Store) Extend(ctx context.Context, key, token string, lease time.Duration) error {
	if !validToken(token) {
		return scriptResult(key, "extend", -1, nil)
	}
	if err := checkLease(idempotency.ClaimRequest{Lease: lease}); err != nil {
		return err
	}
	s.ss.end([]string{token})
	var buf valueBuf
	b := append(buf[:0], token[:fenceLen]...)
	b = appendPadded(b, time.Now().Add(lease).UnixMilli(), msLen)
	b = append(b, token[hdrLen:]...)
	n, err := fencedSetScript.Run(ctx, s.c, []string{s.prefix + key}, fence(token), string(b), lease.Milliseconds()).Int64()
	return scriptResult(key, "extend", n, err)
}

// Get implements idempotency.Store.
func (s *Store) Get(ctx context.Context, key string) (idempotency.Record, error) {
	v, err := s.c.Get(ctx, s.prefix+key).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return idempotency.Record{}, fmt.Errorf("%w: redisstore: key %.80q", idempotency.ErrNotFound, key)
	case err != nil:
		return idempotency.Record{}, storeErr("get", err)
	}
	rec, err := decode(key, v)
	rec.Token = ""
	return rec, err
}

func storeErr(op string, err error) error {
	return fmt.Errorf("%w: redisstore: %s: %w", idempotency.ErrStore, op, err)
}

func scriptResult(key, op string, n int64, err error) error {
	switch {
	case err != nil:
		return storeErr(op, err)
	case n == 1:
		return nil
	case n == 0:
		return fmt.Errorf("%w: redisstore: %s: key %.80q has no record", idempotency.ErrLeaseLost, op, key)
	default:
		return fmt.Errorf("%w: redisstore: %s: key %.80q is held by another claim", idempotency.ErrLeaseLost, op, key)
	}
}

// singleNode reports whether every key lives on one server.
func (s *Store) singleNode() bool {
	_, ok := s.c.(*redis.Client)
	return ok
}
