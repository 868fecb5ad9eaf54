package redisstore

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// scratch is the memory a batch's commands are built in, recycled from one
// batch to the next: their arguments share one array and the commands
// another. Nothing references either once the pipeline has run and its
// replies are read, and on a busy client garbage collection is a large part
// of the CPU a record costs.
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
