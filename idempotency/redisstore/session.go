package redisstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Completing a batch without Lua.
//
// On a single node, ClaimBatch sends the claims on a connection the batch
// keeps (a session) and ends the pipeline with WATCH on the batch's keys.
// When the batch's claims are then completed by one call, the completion is
// a MULTI/EXEC of plain SETs on that connection: Redis aborts the EXEC if
// any watched key was written or expired since the claim, which is the token
// check the Lua script makes, for the whole batch at once. Only after an
// abort does the store run the script, to learn which items still hold
// their claim. A plain transaction costs the server much less than a script
// that calls GET and SET ten times, and it is the same one round trip.
// Options.DisableSessions turns sessions off.
//
// Session connections come from the client's pool, at most half of it.
// Between batches a connection is parked for the next one, and a sweep
// returns those idle for parkIdle to the pool. The same sweep ends the
// sessions of batches whose leases are over and that neither completed nor
// released their claims, parking their connections; a completion that
// comes after its leases takes the script path even before the sweep has
// run. A session that ends without EXEC (its batch released its claims,
// its leases ran out, or none of its claims was acquired) leaves the
// connection watching keys; such a connection is never returned to the
// shared pool like that: the next session on it starts its pipeline with
// UNWATCH, or the sweep sends UNWATCH before returning it.
//
// go-redis does not retry a command on a connection a Conn holds. When a
// session's claim pipeline finds its connection closed or reset, ClaimBatch
// claims again on the client's pool; a claim the first attempt wrote comes
// back with the claim's own value and counts as acquired. A completion
// whose connection fails is reported as a store error, and the middleware's
// retry runs the script on the pool.

// sessionMinLease is the shortest lease a session is used for: a claim
// must not be able to expire between its SET and the WATCH that follows it
// in the same pipeline, or the EXEC could not see that it had.
const sessionMinLease = time.Second

// parkIdle is how long a parked connection waits for the next batch before
// the sweep returns it to the pool (unwatching it first if need be).
const parkIdle = 2 * time.Second

type sessionConn struct {
	cn     *redis.Conn
	dirty  bool // may WATCH keys of an earlier batch
	parked time.Time
}

// session is the state of one claimed batch whose keys its connection
// watches.
type session struct {
	conn *sessionConn
	// keys are the prefixed keys claimed, by token index: strings, boxed
	// once for every command that names them.
	keys   []any
	tokens []string
	until  time.Time // wall clock: when the longest lease of the batch ends
}

// sessionRef is where a token's claim sits in its session.
type sessionRef struct {
	se *session
	i  int
}

// sessions is a Store's registry of claimed batches whose connection
// watches their keys, and of the connections parked between batches.
type sessions struct {
	node *redis.Client // nil: sessions are off (cluster or ring clients)
	max  int
	// warm is set once a command on the client itself has succeeded.
	// Sessions wait for it: go-redis (v9.23) resolves the maintenance
	// notifications mode on the first connection by writing the client's
	// shared Options under a lock that each Conn has its own copy of, so a
	// Conn dialling its first connection alongside the client is a data
	// race. Once one connection is set up the mode no longer changes.
	warm atomic.Bool

	mu     sync.Mutex
	byTok  map[string]sessionRef
	parked []*sessionConn
	live   int // connections taken from the pool: in sessions or parked
	sweep  *time.Timer
	closed bool
}

func newSessions(c redis.UniversalClient) *sessions {
	node, ok := c.(*redis.Client)
	if !ok {
		return &sessions{}
	}
	return &sessions{node: node, max: max(1, node.Options().PoolSize/2), byTok: map[string]sessionRef{}}
}

// conn returns a connection for a new session, or nil when sessions are off
// or all in use.
func (ss *sessions) conn() *sessionConn {
	if ss.node == nil || !ss.warm.Load() {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for len(ss.parked) > 0 && !ss.closed {
		sc := ss.parked[len(ss.parked)-1]
		ss.parked = ss.parked[:len(ss.parked)-1]
		if time.Since(sc.parked) < parkIdle {
			return sc
		}
		// Parked too long (the process was frozen, as a Lambda is between
		// invocations, before the sweep ran): a fresh connection from the
		// pool is health-checked, a parked one is not.
		ss.live--
		go ss.closeConn(sc)
	}
	if ss.closed || ss.live >= ss.max {
		return nil
	}
	ss.live++
	return &sessionConn{cn: ss.node.Conn()}
}

// broken reports whether err leaves a connection unusable: anything but an
// error reply from the server.
func broken(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, redis.TxFailedErr) {
		return false
	}
	var rerr redis.Error // declared here, not above: it escapes, so it costs an allocation
	return !errors.As(err, &rerr)
}

// put gives back a session's connection: a broken one to be discarded, any
// other to be parked for the next batch, which saves taking one from the
// pool and giving it back for every batch.
func (ss *sessions) put(sc *sessionConn, isBroken bool) {
	ss.mu.Lock()
	if isBroken || ss.closed {
		ss.live--
		ss.mu.Unlock()
		if isBroken {
			// go-redis discards a connection that failed mid-command, and
			// one that failed before sending anything watches nothing: no
			// UNWATCH, which would dial again when the server is down.
			_ = sc.cn.Close()
			return
		}
		ss.closeConn(sc)
		return
	}
	ss.parkLocked(sc, time.Now().Round(0))
	ss.armSweepLocked()
	ss.mu.Unlock()
}

// parkLocked keeps sc for the next batch; now is the wall clock, not
// monotonic: a paused VM's monotonic clock stands still. The caller holds
// ss.mu.
func (ss *sessions) parkLocked(sc *sessionConn, now time.Time) {
	sc.parked = now
	ss.parked = append(ss.parked, sc)
}

// armSweepLocked makes sure a sweep is due while there is something to
// sweep. The caller holds ss.mu.
func (ss *sessions) armSweepLocked() {
	if ss.sweep == nil && !ss.closed {
		ss.sweep = time.AfterFunc(parkIdle, ss.sweepIdle)
	}
}

// closeConn returns sc to the client's pool (go-redis discards it there if
// a command found it broken), unwatching it first if it is dirty.
func (ss *sessions) closeConn(sc *sessionConn) {
	if sc.dirty {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		// If UNWATCH fails on the network, go-redis marks the connection
		// broken and Close discards it.
		_ = sc.cn.Do(ctx, "unwatch").Err()
		cancel()
	}
	_ = sc.cn.Close()
}

// sweepIdle returns connections parked for parkIdle to the pool and parks
// the connections of sessions whose leases are over.
func (ss *sessions) sweepIdle() {
	ss.mu.Lock()
	now := time.Now().Round(0)
	var old []*sessionConn
	keep := ss.parked[:0]
	for _, sc := range ss.parked {
		if now.Sub(sc.parked) >= parkIdle {
			old = append(old, sc)
		} else {
			keep = append(keep, sc)
		}
	}
	ss.parked = keep
	ss.live -= len(old)
	for _, ref := range ss.byTok {
		// endLocked deletes the session's other tokens, which the range
		// then skips.
		if se := ref.se; !now.Before(se.until) {
			ss.endLocked(se)
			ss.parkLocked(se.conn, now)
		}
	}
	ss.sweep = nil
	if len(ss.parked) > 0 || len(ss.byTok) > 0 {
		ss.armSweepLocked()
	}
	ss.mu.Unlock()
	for _, sc := range old {
		ss.closeConn(sc)
	}
}

// start registers the acquired claims of a ClaimBatch that ran on sc. keys
// are the prefixed keys of the acquired claims as the claim commands hold
// them (boxed strings, which the completion reuses) and tokens their
// tokens; lease is the longest lease asked for. failed reports whether a
// command of the pipeline failed in a way that may leave sc broken.
func (ss *sessions) start(sc *sessionConn, keys []any, tokens []string, lease time.Duration, failed bool) {
	sc.dirty = true // the pipeline ended with WATCH
	if failed || len(tokens) == 0 {
		ss.put(sc, failed)
		return
	}
	// Wall clock, not monotonic, as for parked connections.
	se := &session{conn: sc, keys: keys, tokens: tokens, until: time.Now().Round(0).Add(lease)}
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		ss.put(sc, false)
		return
	}
	for i, t := range tokens {
		ss.byTok[t] = sessionRef{se, i}
	}
	// A batch that never completes or releases its claims gives its
	// connection back at the first sweep after its leases are over. One
	// sweep timer serves every session: no timer is armed on each batch's
	// path, where arming and stopping one costs the claim and the
	// completion measurably.
	ss.armSweepLocked()
	ss.mu.Unlock()
}

// take returns the session that holds every one of tokens for the
// matching keys (without the store's prefix, which is plen bytes long),
// each once, and ends it for the caller's use; pk are the prefixed keys.
// When there is none, every session a token belongs to is ended and its
// connection parked, and take returns nil: the caller takes the ordinary
// path.
func (ss *sessions) take(plen int, keys, tokens []string) (se *session, pk []any) {
	if ss.node == nil {
		return nil, nil
	}
	ss.mu.Lock()
	ok := len(tokens) > 0
	var seen []bool
	for i, t := range tokens {
		ref, found := ss.byTok[t]
		if !found || (se != nil && ref.se != se) {
			ok = false
			continue
		}
		if se == nil {
			se = ref.se
			seen = make([]bool, len(se.tokens))
			pk = make([]any, len(tokens)) // only once a session holds a token: most single Completes have none
		}
		sk, _ := se.keys[ref.i].(string)
		if seen[ref.i] || len(sk) != plen+len(keys[i]) || sk[plen:] != keys[i] {
			ok = false
		}
		seen[ref.i] = true
		pk[i] = se.keys[ref.i]
	}
	if ok && !time.Now().Round(0).Before(se.until) {
		ok = false // every lease is over: the EXEC would abort
	}
	if ok {
		ss.endLocked(se)
		ss.mu.Unlock()
		return se, pk
	}
	conns := ss.endLockedAll(tokens)
	ss.mu.Unlock()
	ss.putAll(conns)
	return nil, nil
}

// end ends the session of tokens, if any, parking its connection.
func (ss *sessions) end(tokens []string) {
	if ss.node == nil {
		return
	}
	ss.mu.Lock()
	conns := ss.endLockedAll(tokens)
	ss.mu.Unlock()
	ss.putAll(conns)
}

// endLockedAll unregisters every session one of tokens belongs to and
// returns their connections, for the caller to give back once it has
// unlocked ss.mu.
func (ss *sessions) endLockedAll(tokens []string) []*sessionConn {
	var conns []*sessionConn
	for _, t := range tokens {
		if ref, ok := ss.byTok[t]; ok { // gone once its session has ended
			ss.endLocked(ref.se)
			conns = append(conns, ref.se.conn)
		}
	}
	return conns
}

func (ss *sessions) putAll(conns []*sessionConn) {
	for _, sc := range conns {
		ss.put(sc, false)
	}
}

// endLocked unregisters se: once none of its tokens is in byTok, nothing
// reaches it. The caller gives back its connection.
func (ss *sessions) endLocked(se *session) {
	for _, t := range se.tokens {
		delete(ss.byTok, t)
	}
}

// close ends every session and returns every parked connection.
func (ss *sessions) close() {
	if ss.node == nil {
		return
	}
	ss.mu.Lock()
	ss.closed = true
	conns := ss.parked
	ss.parked = nil
	for _, ref := range ss.byTok {
		// endLocked deletes the session's other tokens, which the range
		// then skips.
		ss.endLocked(ref.se)
		conns = append(conns, ref.se.conn)
	}
	ss.live -= len(conns)
	if ss.sweep != nil {
		ss.sweep.Stop()
	}
	ss.mu.Unlock()
	for _, sc := range conns {
		_ = sc.cn.Close() // no UNWATCH: the Store closes the client next
	}
}
