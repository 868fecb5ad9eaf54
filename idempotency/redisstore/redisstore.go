// Package redisstore is an idempotency.Store on Redis (github.com/redis/go-redis/v9),
// for a single node, a replicated setup or Redis Cluster.
//
// # Records
//
// One string key per record, "<prefix><key>", so every operation touches a
// single key and works under Redis Cluster's slot rules. A claim is one plain
// command, SET key rec NX PX lease GET (Redis 7): it writes the IN_PROGRESS
// record if the key is absent and returns the existing record otherwise, and
// the server's own expiry frees a crashed claim when the lease runs out, on
// the server's clock. Complete and Release compare the claim's token in a
// small Lua script (EVALSHA), because only a script can compare and write
// atomically. Batches cost one round trip each: claims are pipelined; on a
// single node one script call completes (or releases) a whole batch, and on
// a cluster the per-key scripts are pipelined so no script spans two slots.
//
// On a single node the common case skips the script: the claim pipeline
// ends with WATCH on the batch's keys, and a batch completed in one call is
// finished by a MULTI/EXEC of plain SETs on the same connection, which the
// server aborts if any of those keys was written or expired since the
// claim; only then does the script run, to tell which claims still hold.
// The transaction costs the server about a third of the script (see
// session.go and the README's performance section).
//
// # URLs
//
// Open takes the standard redis:// and rediss:// (TLS) URLs, with AUTH from
// the user info: rediss://user:password@host:6380/0. OpenCluster takes a
// cluster URL, redis://host1:6379?addr=host2:6379&addr=host3:6379. Both
// check the server before they return, and their clients end every call
// by its context's deadline.
//
// Requires Redis 7.0 or later (SET ... NX GET).
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	neturl "net/url"
	"strconv"
	"strings"
	"sync"
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
// c should be made with ContextTimeoutEnabled set (Open and OpenCluster
// set it): without it go-redis bounds reads and writes by its own
// ReadTimeout and WriteTimeout only, so a server that stops answering keeps
// a call past its context's deadline, and a Lambda invocation past its
// own.
//
// The store builds a batch's commands in memory it reuses for later
// batches, so hooks added to c (go-redis's AddHook, such as tracing) must
// not keep commands or their arguments after the call they observe
// returns; the common hooks, which record a span or a metric as the call
// runs, do not.
func New(c redis.UniversalClient, opts *Options) *Store {
	s := &Store{c: c, prefix: DefaultPrefix, ss: newSessions(c)}
	if opts != nil && opts.Prefix != "" {
		s.prefix = opts.Prefix
	}
	return s
}

// OpenTimeout bounds the PING with which Open and OpenCluster check the
// server.
const OpenTimeout = 5 * time.Second

// Open parses a redis:// or rediss:// URL, makes a client with
// ContextTimeoutEnabled, so every call ends by its context's deadline, and
// checks the server with a PING bounded by OpenTimeout. It fails, naming
// the URL (without its password) and what to check, when the URL is empty
// or malformed or the server does not answer.
//
// Unless the URL sets protocol (protocol=3), the client speaks RESP2, not
// go-redis's default RESP3: the store uses nothing RESP3 adds, and on a
// RESP3 connection go-redis looks for server push notifications around
// every reply it reads, each command of a transaction included. A client
// made with New keeps the protocol it was given.
func Open(url string, opts *Options) (*Store, error) {
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
	return ping(New(redis.NewClient(o), opts), url)
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

// Client returns the underlying client.
func (s *Store) Client() redis.UniversalClient { return s.c }

// Close closes the underlying client.
func (s *Store) Close() error {
	s.ss.close()
	return s.c.Close()
}

// Record encoding (the IN_PROGRESS value doubles as the claim's token):
//
//	IN_PROGRESS: "P" token(22) leaseUntilMs(13 digits) fingerprint
//	COMPLETED:   "C" token(22) leaseUntilMs(13) expiresMs(13) len(fingerprint)(8 digits) fingerprint result
//
// With the default 22-byte fingerprint an IN_PROGRESS value is 58 bytes and
// a COMPLETED one without a result 79.
const (
	tokenLen = idempotency.TokenLen
	fenceLen = 1 + tokenLen // "P" and the token: what the scripts compare
	msLen    = 13
	hdrLen   = fenceLen + msLen // 36
	fpLenLen = 8
)

// fence is the part of a claimed value that identifies the claim. The
// caller has checked the token with validToken.
func fence(token string) string { return token[:fenceLen] }

// appendPadded appends n in decimal, zero-padded to width digits.
func appendPadded(b []byte, n int64, width int) []byte {
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], n, 10)
	for i := len(d); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, d...)
}

// valueBuf is where a record value is built: on the stack for values of
// ordinary size, so that the value costs one allocation, its string.
type valueBuf [256]byte

// encodeClaim returns a new IN_PROGRESS value: a fresh token, the lease's
// end and the fingerprint.
func encodeClaim(fp string, leaseUntil time.Time) string {
	var buf valueBuf
	b := append(buf[:0], 'P')
	b = idempotency.AppendToken(b)
	b = appendPadded(b, leaseUntil.UnixMilli(), msLen)
	b = append(b, fp...)
	return string(b)
}

func decode(key, v string) (idempotency.Record, error) {
	bad := func(why string) (idempotency.Record, error) {
		return idempotency.Record{}, fmt.Errorf("%w: redisstore: key %.80q holds a record that does not decode (%s)", idempotency.ErrStore, key, why)
	}
	if len(v) < hdrLen {
		return bad("too short")
	}
	lease, err := strconv.ParseInt(v[1+tokenLen:hdrLen], 10, 64)
	if err != nil {
		return bad("lease")
	}
	r := idempotency.Record{Key: key, Token: v[1 : 1+tokenLen]}
	switch v[0] {
	case 'P':
		r.Status = idempotency.StatusInProgress
		r.LeaseExpiry = time.UnixMilli(lease)
		r.Fingerprint = v[hdrLen:]
	case 'C':
		r.Status = idempotency.StatusCompleted
		rest := v[hdrLen:]
		if len(rest) < msLen+fpLenLen {
			return bad("completed header")
		}
		exp, err1 := strconv.ParseInt(rest[:msLen], 10, 64)
		n, err2 := strconv.Atoi(rest[msLen : msLen+fpLenLen])
		rest = rest[msLen+fpLenLen:]
		if err1 != nil || err2 != nil || n < 0 || n > len(rest) {
			return bad("completed fields")
		}
		r.Expiry = time.UnixMilli(exp)
		r.Fingerprint = rest[:n]
		r.Result = []byte(rest[n:])
	default:
		return bad("status")
	}
	return r, nil
}

// The token a Claim returns is the IN_PROGRESS value it wrote. The scripts
// fence on its first fenceLen bytes, "P" and the random token, which Extend
// keeps while it rewrites the lease after them; a COMPLETED value starts
// with "C" and never matches a fence. The client builds the completed and
// the renewed values itself, so the scripts stay as small as Lua allows.
//
// fencedSetScript completes a claim (Complete) or renews it (Extend, where
// the key's PX moves with the value's lease, so the server still frees a
// crashed claim on its own clock). KEYS[1] key; ARGV[1] the claim's fence;
// ARGV[2] the completed or renewed value; ARGV[3] ttl or lease ms. Returns
// 1 done, 0 no record, -1 held by another claim or already completed.
var fencedSetScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
if string.sub(cur, 1, #ARGV[1]) ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`)

// KEYS[1] key; ARGV[1] the claim's fence. Returns 1 deleted, 0 no record,
// -1 held by another claim.
var releaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
if string.sub(cur, 1, #ARGV[1]) ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1])
return 1
`)

// Multi-key forms for a single node, where all keys of a batch live on one
// server: one script call completes or releases the whole batch, which costs
// the server far less than one call per key. Cluster and ring clients use the
// per-key scripts, pipelined, so no script touches keys of two slots.
//
// KEYS: the keys; ARGV[1] ttl ms; then the fence and the completed value
// for each key. Returns one code per key, as fencedSetScript.
var completeManyScript = redis.NewScript(`
local out = {}
for i, k in ipairs(KEYS) do
  local cur = redis.call('GET', k)
  if not cur then out[i] = 0
  elseif string.sub(cur, 1, #ARGV[2*i]) ~= ARGV[2*i] then out[i] = -1
  else redis.call('SET', k, ARGV[2*i + 1], 'PX', ARGV[1]); out[i] = 1 end
end
return out
`)

// KEYS: the keys; ARGV[i]: the fence of KEYS[i]'s claim.
var releaseManyScript = redis.NewScript(`
local out = {}
for i, k in ipairs(KEYS) do
  local cur = redis.call('GET', k)
  if not cur then out[i] = 0
  elseif string.sub(cur, 1, #ARGV[i]) ~= ARGV[i] then out[i] = -1
  else redis.call('DEL', k); out[i] = 1 end
end
return out
`)

// singleNode reports whether every key lives on one server.
func (s *Store) singleNode() bool {
	_, ok := s.c.(*redis.Client)
	return ok
}

// runMany runs a multi-key script (EVALSHA, then EVAL if the server lacks
// it) and maps its codes to errors for the items at idx.
func (s *Store) runMany(ctx context.Context, sc *redis.Script, op string, keys []string, args []any, idx []int, errs []error) {
	pk := make([]string, len(idx))
	for j, i := range idx {
		pk[j] = s.prefix + keys[i]
	}
	codes, err := sc.Run(ctx, s.c, pk, args...).Int64Slice()
	for j, i := range idx {
		switch {
		case err != nil:
			errs[i] = storeErr(op, err)
		case j >= len(codes):
			errs[i] = storeErr(op, errors.New("script returned too few results"))
		default:
			errs[i] = scriptResult(keys[i], op, codes[j], nil)
		}
	}
}

func storeErr(op string, err error) error {
	return fmt.Errorf("%w: redisstore: %s: %w", idempotency.ErrStore, op, err)
}

// newClaimValue returns the IN_PROGRESS value for req, which is also the
// claim's token.
func newClaimValue(req idempotency.ClaimRequest, now time.Time) string {
	return encodeClaim(req.Fingerprint, now.Add(req.Lease))
}

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

// validToken reports whether token can be a claimed value.
func validToken(token string) bool { return len(token) >= hdrLen && token[0] == 'P' }

// completedValue builds the COMPLETED value from the claimed one.
func completedValue(claimed string, result []byte, expires time.Time) string {
	var buf valueBuf
	return string(appendCompleted(buf[:0], claimed, result, expires))
}

// appendCompleted appends the COMPLETED value built from the claimed one
// to b.
func appendCompleted(b []byte, claimed string, result []byte, expires time.Time) []byte {
	fp := claimed[hdrLen:]
	b = append(b, 'C')
	b = append(b, claimed[1:hdrLen]...)
	b = appendPadded(b, expires.UnixMilli(), msLen)
	b = appendPadded(b, int64(len(fp)), fpLenLen)
	b = append(b, fp...)
	return append(b, result...)
}

// completedLen is the length of the COMPLETED value appendCompleted builds.
func completedLen(claimed string, result []byte) int {
	return len(claimed) + msLen + fpLenLen + len(result)
}

func clampTTL(ttl time.Duration) time.Duration { return max(ttl, time.Millisecond) }

func completeArgs(token string, result []byte, ttl time.Duration) []any {
	ttl = clampTTL(ttl)
	return []any{fence(token), completedValue(token, result, time.Now().Add(ttl)), ttl.Milliseconds()}
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

// scratch is the memory a batch's commands are built in, recycled from one
// batch to the next: their arguments share one array and the commands
// another. Nothing references either once the pipeline has run and its
// replies are read, and on a busy client garbage collection is a large part
// of the CPU a record costs (README, Performance).
type scratch struct {
	args  []any
	cmds  []redis.StatusCmd
	ptrs  []*redis.StatusCmd // n: the batch's commands by item
	strs  []string           // 2n: keys and tokens by item
	queue []redis.Cmder      // the commands of a pipeline, in order
	buf   []byte             // values, built one after another
	vals  []value            // n: the values, slices of buf
}

// value is a command argument that go-redis writes as it is, without
// copying it into a string: boxing a *value allocates nothing.
type value []byte

// MarshalBinary implements encoding.BinaryMarshaler, which go-redis uses
// for arguments of types it does not know.
func (v *value) MarshalBinary() ([]byte, error) { return *v, nil }

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// maxPooled bounds the arrays kept: a rare huge batch does not pin its
// arrays for every later small one.
const maxPooled = 1 << 14

// getScratch returns empty scratch from the pool with room for nargs
// arguments and ncmds commands.
func getScratch(nargs, ncmds int) *scratch {
	sb := scratchPool.Get().(*scratch)
	if cap(sb.args) < nargs {
		sb.args = make([]any, 0, nargs)
	}
	if cap(sb.cmds) < ncmds {
		sb.cmds = make([]redis.StatusCmd, 0, ncmds)
		sb.ptrs = make([]*redis.StatusCmd, ncmds)
		sb.strs = make([]string, 2*ncmds)
		sb.queue = make([]redis.Cmder, 0, ncmds)
		sb.vals = make([]value, ncmds)
	}
	return sb
}

// cmd returns a status command of args built in sb. The command array never
// grows, since earlier commands point into it: past its room, cmd allocates.
func (sb *scratch) cmd(ctx context.Context, args ...any) *redis.StatusCmd {
	if len(sb.cmds) == cap(sb.cmds) {
		return redis.NewStatusCmd(ctx, args...)
	}
	sb.cmds = sb.cmds[:len(sb.cmds)+1]
	c := &sb.cmds[len(sb.cmds)-1]
	*c = *redis.NewStatusCmd(ctx, args...)
	return c
}

// release clears sb, so the pool keeps no keys, values, replies or contexts,
// and returns it to the pool. Neither sb nor any command built in it
// may be used afterwards.
func (sb *scratch) release() {
	if cap(sb.args) > maxPooled || cap(sb.cmds) > maxPooled || cap(sb.buf) > 64*maxPooled {
		return
	}
	clear(sb.args)
	clear(sb.cmds)
	clear(sb.ptrs)
	clear(sb.strs)
	clear(sb.queue)
	clear(sb.vals)
	clear(sb.buf) // the values' bytes (results may be users' data)
	sb.args, sb.cmds, sb.queue, sb.buf = sb.args[:0], sb.cmds[:0], sb.queue[:0], sb.buf[:0]
	scratchPool.Put(sb)
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

// runScripts pipelines one EVALSHA per item, falling back to EVAL for the
// items whose script the server did not have cached.
func (s *Store) runScripts(ctx context.Context, sc *redis.Script, op string, keys []string, args [][]any) []error {
	errs := make([]error, len(keys))
	cmds := make([]*redis.Cmd, len(keys))
	pipe := s.c.Pipeline()
	for i := range keys {
		if args[i] == nil {
			errs[i] = scriptResult(keys[i], op, -1, nil)
			continue
		}
		cmds[i] = sc.EvalSha(ctx, pipe, []string{s.prefix + keys[i]}, args[i]...)
	}
	if pipe.Len() == 0 {
		return errs
	}
	_, _ = pipe.Exec(ctx)
	var retry []int
	for i, cmd := range cmds {
		if cmd != nil && cmd.Err() != nil && redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			retry = append(retry, i)
		}
	}
	if len(retry) > 0 {
		pipe := s.c.Pipeline()
		for _, i := range retry {
			cmds[i] = sc.Eval(ctx, pipe, []string{s.prefix + keys[i]}, args[i]...)
		}
		_, _ = pipe.Exec(ctx)
	}
	for i, cmd := range cmds {
		if cmd != nil {
			n, err := cmd.Int64()
			errs[i] = scriptResult(keys[i], op, n, err)
		}
	}
	return errs
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

// fencedBatch runs a token-fenced script for every item: as one call of the
// multi-key script many (ARGV: head, then manyArgs of each item) when
// allowed and the client is a single node, else as one pipelined call of
// the script one per item (ARGV: oneArgs). Items with an impossible token
// fail with ErrLeaseLost without a call.
func (s *Store) fencedBatch(ctx context.Context, op string, one, many *redis.Script, allowMany bool, head []any,
	keys, tokens []string, manyArgs, oneArgs func(i int) []any) []error {
	if allowMany && s.singleNode() {
		errs := make([]error, len(keys))
		args := append([]any(nil), head...)
		idx := make([]int, 0, len(keys))
		for i := range keys {
			if !validToken(tokens[i]) {
				errs[i] = scriptResult(keys[i], op, -1, nil)
				continue
			}
			idx = append(idx, i)
			args = append(args, manyArgs(i)...)
		}
		if len(idx) > 0 {
			s.runMany(ctx, many, op, keys, args, idx, errs)
		}
		return errs
	}
	args := make([][]any, len(keys))
	for i := range keys {
		if validToken(tokens[i]) {
			args[i] = oneArgs(i)
		}
	}
	return s.runScripts(ctx, one, op, keys, args)
}

func sameTTL(items []idempotency.Completion) bool {
	for _, it := range items[1:] {
		if it.TTL != items[0].TTL {
			return false
		}
	}
	return true
}
