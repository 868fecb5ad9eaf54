package main

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/memstore"
	"github.com/eventfn/eventfn/idempotency/redisstore"
)

// demoStore is the demo's idempotency store, with how to tell whether it is
// still answering.
type demoStore struct {
	idempotency.Store
	name  string
	ping  func(ctx context.Context) error // nil for the in-memory store
	close func()
}

// storePingTimeout bounds each check that the store answers.
const storePingTimeout = 3 * time.Second

// openDemoStore opens the store c names and, for Redis, checks that it
// answers, so a dead store fails the demo at once with its URL instead of
// showing up as lost events.
func openDemoStore(ctx context.Context, c demoConfig) (*demoStore, error) {
	if c.store != "redis" {
		return &demoStore{Store: memstore.New(nil), name: "in-memory store", close: func() {}}, nil
	}
	if !c.verbose {
		// The demo names a dead store in its own error; go-redis would also
		// log every failed dial to stderr.
		redis.SetLogger(quietRedis{})
	}
	shown := redactURL(c.redisURL)
	s, err := redisstore.Open(c.redisURL, nil)
	if err != nil {
		return nil, fmt.Errorf("idempotency store Redis at %s: %w (%s)", shown, err, redisHint)
	}
	ds := &demoStore{Store: s, name: "Redis at " + shown, close: func() { s.Close() }}
	ds.ping = func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, storePingTimeout)
		defer cancel()
		if err := s.Client().Ping(ctx).Err(); err != nil {
			return fmt.Errorf("idempotency store Redis at %s is not answering: %w (%s)", shown, err, redisHint)
		}
		return nil
	}
	if err := ds.ping(ctx); err != nil {
		ds.close()
		return nil, err
	}
	return ds, nil
}

const redisHint = "check that redis-server is running and reachable at that address, or pass --redis-url or set EVENTFN_REDIS_URL"

// redactURL returns u with any password replaced, for messages.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Redacted()
}

// quietRedis is a go-redis logger that drops everything.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}
