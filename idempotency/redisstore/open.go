package redisstore

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventfn/eventfn/idempotency"
)

// OpenTimeout bounds the PING with which Open and OpenCluster check the
// server.
const OpenTimeout = 5 * time.Second

// Open parses a redis:// or rediss:// URL as ParseURL does, makes a client
// with the options, so every call ends by its context's deadline, and
// checks the server with a PING bounded by OpenTimeout. It fails, naming
// the URL (without its password) and what to check, when the URL is empty
// or malformed or the server does not answer.
func Open(url string, opts *Options) (*Store, error) {
	o, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	return ping(New(redis.NewClient(o), opts), url)
}

// ParseURL parses a redis:// or rediss:// URL into the client options Open
// uses: ContextTimeoutEnabled, and RESP2 unless the URL sets protocol
// (protocol=3). The store uses nothing RESP3 adds, and on a RESP3
// connection go-redis looks for server push notifications around every
// reply it reads, each command of a transaction included.
//
// New(redis.NewClient(o), opts) then makes a Store that connects on first
// use, for a process that must start while Redis may be down.
func ParseURL(url string) (*redis.Options, error) {
	if url == "" {
		return nil, fmt.Errorf("%w: redisstore: the Redis URL is empty (want redis://host:6379/0, or rediss:// for TLS)", idempotency.ErrStore)
	}
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, parseErr(url, err, "redis://[user:password@]host:6379/0, or rediss:// for TLS")
	}
	if o.Protocol == 0 { // not set by the URL
		o.Protocol = 2
	}
	o.ContextTimeoutEnabled = true
	return o, nil
}

// OpenCluster parses a Redis Cluster URL,
// redis://host1:6379?addr=host2:6379&addr=host3:6379, makes a cluster client
// with ContextTimeoutEnabled and checks the cluster as Open does.
func OpenCluster(url string, opts *Options) (*Store, error) {
	if url == "" {
		return nil, fmt.Errorf("%w: redisstore: the Redis Cluster URL is empty (want redis://host1:6379?addr=host2:6379)", idempotency.ErrStore)
	}
	o, err := redis.ParseClusterURL(url)
	if err != nil {
		return nil, parseErr(url, err, "redis://host1:6379?addr=host2:6379&addr=host3:6379")
	}
	o.ContextTimeoutEnabled = true
	return ping(New(redis.NewClusterClient(o), opts), url)
}

// ping checks that s's server answers within OpenTimeout, closing s if it
// does not.
func ping(s *Store, url string) (*Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), OpenTimeout)
	defer cancel()
	if err := s.c.Ping(ctx).Err(); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("%w: redisstore: Redis at %s does not answer: %w (check that the server is running and reachable at that host and port, that it speaks TLS if and only if the URL is rediss://, and the user and password)",
			idempotency.ErrStore, redact(url), err)
	}
	return s, nil
}

// parseErr reports a URL go-redis could not parse, without the URL's
// password, which url.Parse's errors quote.
func parseErr(raw string, err error, want string) error {
	var ue *neturl.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("%w: redisstore: malformed Redis URL %s: %w (want %s)", idempotency.ErrStore, redact(raw), err, want)
}

// redact returns raw with the password of its user info replaced by
// "xxxxx", quoted.
func redact(raw string) string {
	if u, err := neturl.Parse(raw); err == nil {
		return strconv.Quote(u.Redacted())
	}
	// Unparsable: drop whatever sits between the scheme and the last "@".
	if at := strings.LastIndex(raw, "@"); at >= 0 {
		start := strings.Index(raw, "://") + len("://")
		if start < len("://") || start > at {
			start = 0
		}
		raw = raw[:start] + "xxxxx" + raw[at:]
	}
	return strconv.Quote(raw)
}
