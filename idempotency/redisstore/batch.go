package redisstore

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventfn/eventfn/idempotency"
)

// claimArgs appends the arguments of the claim command, SET key value NX PX
// lease GET, to args. ClaimBatch builds them for the whole batch in one
// backing array. value is the claim's value: a string, or a *string
// (boxing a pointer allocates nothing).
func (s *Store) claimArgs(args []any, req idempotency.ClaimRequest, value any, leaseMs any) []any {
	return append(args, "set", s.prefix+req.Key, value, "nx", "px", leaseMs, "get")
}

func claimResult(req idempotency.ClaimRequest, token string, cmd *redis.StatusCmd) (idempotency.Claim, error) {
	v, err := cmd.Result()
	switch {
	case errors.Is(err, redis.Nil), err == nil && v == token:
		// Absent, or already this claim's: the command was sent again
		// after a lost reply, and its first attempt was applied.
		return idempotency.Claim{Acquired: true, Token: token}, nil
	case err != nil:
		return idempotency.Claim{}, storeErr("claim", err)
	}
	rec, err := decode(req.Key, v)
	if err != nil {
		return idempotency.Claim{}, err
	}
	rec.Token = ""
	return idempotency.Claim{Existing: &rec}, nil
}

// ClaimBatch implements idempotency.BatchStore with one pipelined round trip.
// On a single node the pipeline also WATCHes the keys, so that CompleteBatch
// can finish the batch without a script (see session.go).
func (s *Store) ClaimBatch(ctx context.Context, reqs []idempotency.ClaimRequest) ([]idempotency.Claim, []error) {
	claims := make([]idempotency.Claim, len(reqs))
	errs := make([]error, len(reqs))
	now := time.Now()
	sb := getScratch(7*len(reqs)+1+len(reqs), len(reqs)+2)
	defer sb.release()
	cmds, tokens := sb.ptrs[:len(reqs)], sb.strs[:len(reqs)]
	var lease, longest time.Duration
	var leaseMs any
	shortest := time.Duration(1<<63 - 1)
	for i, req := range reqs {
		if errs[i] = checkLease(req); errs[i] != nil {
			continue
		}
		tokens[i] = newClaimValue(req, now)
		if leaseMs == nil || req.Lease != lease {
			lease, leaseMs = req.Lease, req.Lease.Milliseconds()
		}
		shortest, longest = min(shortest, req.Lease), max(longest, req.Lease)
		n := len(sb.args)
		sb.args = s.claimArgs(sb.args, req, &tokens[i], leaseMs)
		cmds[i] = sb.cmd(ctx, sb.args[n:len(sb.args):len(sb.args)]...)
	}
	var sc *sessionConn
	if len(reqs) > 1 && longest > 0 && shortest >= sessionMinLease {
		sc = s.ss.conn()
	}
	var pipe redis.Pipeliner
	var watch *redis.StatusCmd
	queue := sb.queue[:0]
	if sc != nil {
		pipe = sc.cn.Pipeline()
		if sc.dirty {
			queue = append(queue, sb.cmd(ctx, "unwatch"))
		}
		n := len(sb.args)
		sb.args = append(sb.args, "watch")
		for _, cmd := range cmds {
			if cmd != nil {
				sb.args = append(sb.args, cmd.Args()[1])
			}
		}
		watch = sb.cmd(ctx, sb.args[n:]...)
	} else {
		pipe = s.c.Pipeline()
	}
	for _, cmd := range cmds {
		if cmd != nil {
			queue = append(queue, cmd)
		}
	}
	if watch != nil {
		queue = append(queue, watch)
	}
	sb.queue = queue
	sent := len(queue) > 0
	if sent {
		_ = pipe.BatchProcess(ctx, queue...) // one append: the pipeline's list is allocated once
		_, _ = pipe.Exec(ctx)                // per-command errors are read below
	}
	if sc != nil && ctx.Err() == nil && reconnectable(cmds, watch) {
		// The session's connection failed (go-redis does not retry on a
		// connection a Conn holds). Claim again on the client's pool, which
		// health-checks and retries: a claim the first attempt did write
		// comes back holding this claim's own value, which claimResult
		// takes as acquired.
		s.ss.put(sc, true)
		sc = nil
		pipe = s.c.Pipeline()
		for i, cmd := range cmds {
			if cmd != nil {
				cmds[i] = redis.NewStatusCmd(ctx, cmd.Args()...)
				_ = pipe.Process(ctx, cmds[i])
			}
		}
		_, _ = pipe.Exec(ctx)
	}
	var keys []any // the session's keys and tokens, when there is a session
	var held []string
	if sc != nil {
		keys, held = make([]any, 0, len(reqs)), make([]string, 0, len(reqs))
	}
	failed := false
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		claims[i], errs[i] = claimResult(reqs[i], tokens[i], cmd)
		failed = failed || broken(cmd.Err())
		if sc != nil && claims[i].Acquired {
			keys, held = append(keys, cmd.Args()[1]), append(held, tokens[i])
		}
	}
	if sc != nil {
		s.ss.start(sc, keys, held, longest, failed || watch.Err() != nil)
	} else if sent && !failed && !s.ss.warm.Load() {
		s.ss.warm.Store(true)
	}
	return claims, errs
}

// reconnectable reports whether any of cmds or watch failed because the
// connection did (closed or reset), not because time ran out: a timeout or
// a cancelled context would only repeat on another connection.
func reconnectable(cmds []*redis.StatusCmd, watch *redis.StatusCmd) bool {
	if watch != nil && connLost(watch.Err()) {
		return true
	}
	for _, cmd := range cmds {
		if cmd != nil && connLost(cmd.Err()) {
			return true
		}
	}
	return false
}

// connLost reports whether err broke the connection (see broken) other than
// by a timeout or an ended context.
func connLost(err error) bool {
	if !broken(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error // declared here, not above: it escapes, so it costs an allocation
	return !errors.As(err, &ne) || !ne.Timeout()
}

// CompleteBatch implements idempotency.BatchStore in one round trip (two
// the first time a server sees the script).
func (s *Store) CompleteBatch(ctx context.Context, items []idempotency.Completion) []error {
	sb := getScratch(5*len(items), len(items))
	defer sb.release()
	keys, tokens := sb.strs[:len(items)], sb.strs[len(items):2*len(items)]
	for i, it := range items {
		keys[i], tokens[i] = it.Key, it.Token
	}
	if errs, ok := s.completeWatched(ctx, sb, keys, tokens, items); ok {
		return errs
	}
	var head []any
	var expires time.Time
	many := len(items) > 1 && sameTTL(items)
	if many {
		ttl := clampTTL(items[0].TTL)
		expires = time.Now().Add(ttl)
		head = []any{ttl.Milliseconds()}
	}
	return s.fencedBatch(ctx, "complete", fencedSetScript, completeManyScript, many, head, keys, tokens,
		func(i int) []any { return []any{fence(tokens[i]), completedValue(tokens[i], items[i].Result, expires)} },
		func(i int) []any { return completeArgs(tokens[i], items[i].Result, items[i].TTL) })
}

// ReleaseBatch implements idempotency.BatchStore in one round trip.
func (s *Store) ReleaseBatch(ctx context.Context, items []idempotency.Release) []error {
	keys, tokens := make([]string, len(items)), make([]string, len(items))
	for i, it := range items {
		keys[i], tokens[i] = it.Key, it.Token
	}
	s.ss.end(tokens)
	args := func(i int) []any { return []any{fence(tokens[i])} }
	return s.fencedBatch(ctx, "release", releaseScript, releaseManyScript, len(items) > 1, nil, keys, tokens, args, args)
}

// completeWatched completes items with a MULTI/EXEC of plain SETs on the
// connection of the session that claimed them, when there is one (see
// session.go). ok is false when the ordinary path must run: there is no
// such session, or the EXEC was aborted because a watched key changed. The
// commands are built in sb, or in scratch of their own when sb is nil.
func (s *Store) completeWatched(ctx context.Context, sb *scratch, keys, tokens []string, items []idempotency.Completion) (errs []error, ok bool) {
	se, pk := s.ss.take(len(s.prefix), keys, tokens)
	if se == nil {
		return nil, false
	}
	if sb == nil {
		sb = getScratch(5*len(items), len(items))
		defer sb.release()
	}
	pipe := se.conn.cn.TxPipeline()
	now := time.Now()
	// The values are built in one pooled buffer, sized first so that it
	// never grows under the values already sliced from it.
	size := 0
	for i, it := range items {
		size += completedLen(tokens[i], it.Result)
	}
	if cap(sb.buf) < size {
		sb.buf = make([]byte, 0, size)
	}
	vals := sb.vals[:len(items)]
	var ttl time.Duration
	var ttlMs any // boxed once while the TTL stays the same
	for i, it := range items {
		if t := clampTTL(it.TTL); ttlMs == nil || t != ttl {
			ttl, ttlMs = t, t.Milliseconds()
		}
		start := len(sb.buf)
		sb.buf = appendCompleted(sb.buf, tokens[i], it.Result, now.Add(ttl))
		vals[i] = sb.buf[start:len(sb.buf):len(sb.buf)]
		n := len(sb.args)
		sb.args = append(sb.args, "set", pk[i], &vals[i], "px", ttlMs)
		sb.queue = append(sb.queue, sb.cmd(ctx, sb.args[n:len(sb.args):len(sb.args)]...))
	}
	_ = pipe.BatchProcess(ctx, sb.queue...)
	cmds, err := pipe.Exec(ctx)
	isBroken := broken(err)
	if !isBroken {
		se.conn.dirty = false // EXEC ended the WATCH, whatever it answered
	}
	s.ss.put(se.conn, isBroken)
	if errors.Is(err, redis.TxFailedErr) {
		return nil, false // aborted: the scripts find out which claims still hold
	}
	errs = make([]error, len(items))
	for i := range errs {
		switch {
		case i < len(cmds) && cmds[i].Err() != nil:
			errs[i] = storeErr("complete", cmds[i].Err())
		case i >= len(cmds) && err != nil:
			errs[i] = storeErr("complete", err)
		}
	}
	return errs, true
}

func sameTTL(items []idempotency.Completion) bool {
	for _, it := range items[1:] {
		if it.TTL != items[0].TTL {
			return false
		}
	}
	return true
}
