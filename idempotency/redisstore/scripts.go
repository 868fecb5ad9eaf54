package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

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

func completeArgs(token string, result []byte, ttl time.Duration) []any {
	ttl = clampTTL(ttl)
	return []any{fence(token), completedValue(token, result, time.Now().Add(ttl)), ttl.Milliseconds()}
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
