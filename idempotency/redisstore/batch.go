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
	b := claimBatch{s: s, ctx: ctx, reqs: reqs,
		claims: make([]idempotency.Claim, len(reqs)), errs: make([]error, len(reqs)),
		sb: getScratch(7*len(reqs)+1+len(reqs), len(reqs)+2)}
	defer b.sb.release()
	b.build()
	b.takeSession()
	b.send()
	b.retryOnPool()
	b.finish(b.collect())
	return b.claims, b.errs
}

// claimBatch is one ClaimBatch call, run as a sequence of steps.
type claimBatch struct {
	s      *Store
	ctx    context.Context
	reqs   []idempotency.ClaimRequest
	claims []idempotency.Claim
	errs   []error
	sb     *scratch
	// cmds are the claim commands by item (nil for an item refused before
	// sending), tokens the values they write; both live in sb.
	cmds              []*redis.StatusCmd
	tokens            []string
	shortest, longest time.Duration
	sc                *sessionConn     // the session's connection; nil without a session
	watch             *redis.StatusCmd // the session's WATCH
	sent              bool
}

// build makes each request's claim command in the scratch memory, or its
// error when the request is invalid, and notes the shortest and the
// longest lease.
func (b *claimBatch) build() {
	sb := b.sb
	now := time.Now()
	b.cmds, b.tokens = sb.ptrs[:len(b.reqs)], sb.strs[:len(b.reqs)]
	b.shortest = time.Duration(1<<63 - 1)
	var lease time.Duration
	var leaseMs any // boxed once while the lease stays the same
	for i, req := range b.reqs {
		if b.errs[i] = checkLease(req); b.errs[i] != nil {
			continue
		}
		b.tokens[i] = newClaimValue(req, now)
		if leaseMs == nil || req.Lease != lease {
			lease, leaseMs = req.Lease, req.Lease.Milliseconds()
		}
		b.shortest, b.longest = min(b.shortest, req.Lease), max(b.longest, req.Lease)
		n := len(sb.args)
		sb.args = b.s.claimArgs(sb.args, req, &b.tokens[i], leaseMs)
		b.cmds[i] = sb.cmd(b.ctx, sb.args[n:len(sb.args):len(sb.args)]...)
	}
}

// takeSession takes a session's connection for the batch when a session
// can serve it: two claims or more, none with a lease shorter than
// sessionMinLease, and sessions on.
func (b *claimBatch) takeSession() {
	if len(b.reqs) > 1 && b.longest > 0 && b.shortest >= sessionMinLease {
		b.sc = b.s.ss.conn()
	}
}

// send runs the claims in one pipeline: on the session's connection,
// after an UNWATCH of an earlier batch's keys if it may still watch them
// and before a WATCH of this batch's keys; else on the client's pool.
func (b *claimBatch) send() {
	sb := b.sb
	queue := sb.queue[:0]
	var pipe redis.Pipeliner
	if b.sc != nil {
		pipe = b.sc.cn.Pipeline()
		if b.sc.dirty {
			queue = append(queue, sb.cmd(b.ctx, "unwatch"))
		}
	} else {
		pipe = b.s.c.Pipeline()
	}
	for _, cmd := range b.cmds {
		if cmd != nil {
			queue = append(queue, cmd)
		}
	}
	if b.sc != nil {
		b.watch = b.watchCmd()
		queue = append(queue, b.watch)
	}
	sb.queue = queue
	b.sent = len(queue) > 0
	if b.sent {
		_ = pipe.BatchProcess(b.ctx, queue...) // one append: the pipeline's list is allocated once
		_, _ = pipe.Exec(b.ctx)                // per-command errors are read by collect
	}
}

// watchCmd builds WATCH on the keys of the batch's claim commands.
func (b *claimBatch) watchCmd() *redis.StatusCmd {
	sb := b.sb
	n := len(sb.args)
	sb.args = append(sb.args, "watch")
	for _, cmd := range b.cmds {
		if cmd != nil {
			sb.args = append(sb.args, cmd.Args()[1])
		}
	}
	return sb.cmd(b.ctx, sb.args[n:]...)
}

// retryOnPool claims again on the client's pool when the session's
// connection failed: go-redis does not retry on a connection a Conn holds,
// and the pool health-checks and retries. A claim the first attempt did
// write comes back holding this claim's own value, which claimResult takes
// as acquired. The batch then has no session.
func (b *claimBatch) retryOnPool() {
	if b.sc == nil || b.ctx.Err() != nil || !reconnectable(b.cmds, b.watch) {
		return
	}
	b.s.ss.put(b.sc, true)
	b.sc = nil
	pipe := b.s.c.Pipeline()
	for i, cmd := range b.cmds {
		if cmd != nil {
			b.cmds[i] = redis.NewStatusCmd(b.ctx, cmd.Args()...)
			_ = pipe.Process(b.ctx, b.cmds[i])
		}
	}
	_, _ = pipe.Exec(b.ctx)
}

// collect reads each claim's answer into claims and errs. It reports
// whether a command failed in a way that may have broken its connection.
func (b *claimBatch) collect() (failed bool) {
	for i, cmd := range b.cmds {
		if cmd != nil {
			b.claims[i], b.errs[i] = claimResult(b.reqs[i], b.tokens[i], cmd)
			failed = failed || broken(cmd.Err())
		}
	}
	return failed
}

// finish registers the acquired claims with the batch's session, so that
// CompleteBatch can finish them with a transaction; without a session it
// notes that the client has a working connection, which sessions wait for.
func (b *claimBatch) finish(failed bool) {
	if b.sc == nil {
		if b.sent && !failed && !b.s.ss.warm.Load() {
			b.s.ss.warm.Store(true)
		}
		return
	}
	keys, held := make([]any, 0, len(b.reqs)), make([]string, 0, len(b.reqs))
	for i, c := range b.claims {
		if c.Acquired {
			keys, held = append(keys, b.cmds[i].Args()[1]), append(held, b.tokens[i])
		}
	}
	b.s.ss.start(b.sc, keys, held, b.longest, failed || b.watch.Err() != nil)
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
