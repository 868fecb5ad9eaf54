package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/redisstore"
	"github.com/eventfn/eventfn/internal/testenv"
)

// commands records the names of the commands a client sends.
type commands struct {
	mu    sync.Mutex
	names []string
}

func (h *commands) add(cmds ...redis.Cmder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range cmds {
		h.names = append(h.names, c.Name())
	}
}

func (h *commands) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *commands) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.add(cmd); return next(ctx, cmd) }
}
func (h *commands) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.add(cmds...); return next(ctx, cmds) }
}

// take returns how many of each command were sent since the last take.
func (h *commands) take() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := map[string]int{}
	for _, name := range h.names {
		n[name]++
	}
	h.names = nil
	return n
}

// warm makes the store's first batch, which takes the ordinary path (a
// session waits for the client's own first connection).
func warm(t *testing.T, s *redisstore.Store) *redisstore.Store {
	t.Helper()
	claimAll(t, s, freshKeys(t, 2), time.Minute)
	return s
}

func claimAll(t *testing.T, s *redisstore.Store, keys []string, lease time.Duration) []idempotency.Claim {
	t.Helper()
	reqs := make([]idempotency.ClaimRequest, len(keys))
	for i, k := range keys {
		reqs[i] = idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: lease}
	}
	claims, errs := s.ClaimBatch(context.Background(), reqs)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("claim %s: %v", keys[i], err)
		}
	}
	return claims
}

func completions(keys []string, claims []idempotency.Claim) []idempotency.Completion {
	items := make([]idempotency.Completion, len(keys))
	for i, k := range keys {
		items[i] = idempotency.Completion{Key: k, Token: claims[i].Token, Result: []byte("r-" + k), TTL: time.Hour}
	}
	return items
}

func freshKeys(t *testing.T, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s-%d-%d", t.Name(), time.Now().UnixNano(), i)
	}
	return keys
}

// hooked returns a warm store whose client reports the commands it sends.
func hooked(t *testing.T) (*redisstore.Store, *commands) {
	s := warm(t, newStore(t))
	hook := &commands{}
	s.Client().AddHook(hook)
	return s, hook
}

// claimAndComplete claims n fresh keys in one batch, completes them in one
// more, checks the records and returns the commands sent.
func claimAndComplete(t *testing.T, s *redisstore.Store, hook *commands, n int) map[string]int {
	t.Helper()
	keys := freshKeys(t, n)
	completeOK(t, s, keys, claimAll(t, s, keys, time.Minute))
	sent := hook.take()
	mustComplete(t, s, keys)
	return sent
}

// completeOK completes the claims of keys in one CompleteBatch and fails
// the test on any error.
func completeOK(t *testing.T, s *redisstore.Store, keys []string, claims []idempotency.Claim) {
	t.Helper()
	for i, err := range s.CompleteBatch(context.Background(), completions(keys, claims)) {
		if err != nil {
			t.Fatalf("complete %s: %v", keys[i], err)
		}
	}
}

func mustComplete(t *testing.T, s *redisstore.Store, keys []string) {
	t.Helper()
	for _, k := range keys {
		r, err := s.Get(context.Background(), k)
		if err != nil || r.Status != idempotency.StatusCompleted || string(r.Result) != "r-"+k || r.Fingerprint != "fp" {
			t.Fatalf("record %s = %+v, %v; want COMPLETED with its result", k, r, err)
		}
	}
}

// A batch claimed and completed on a single node is finished by a plain
// MULTI/EXEC on the connection that WATCHed its keys: no script runs.
func TestBatchCompletesWithoutScript(t *testing.T) {
	s, hook := hooked(t)
	if n := claimAndComplete(t, s, hook, 10); n["watch"] != 1 || n["exec"] != 1 || n["evalsha"]+n["eval"] != 0 {
		t.Fatalf("commands sent = %v, want one WATCH, one EXEC and no script", n)
	}
}

// When one claim of a batch expired and another delivery took its key, the
// EXEC is aborted and the store falls back to the fenced script: the stale
// claim fails with ErrLeaseLost and changes nothing, the others complete.
func TestWatchedKeyTakenOverFallsBackToScript(t *testing.T) {
	s, hook := hooked(t)
	keys := freshKeys(t, 3)
	reqs := []idempotency.ClaimRequest{
		{Key: keys[0], Fingerprint: "fp", Lease: 1200 * time.Millisecond},
		{Key: keys[1], Fingerprint: "fp", Lease: time.Minute},
		{Key: keys[2], Fingerprint: "fp", Lease: time.Minute},
	}
	claims, cerrs := s.ClaimBatch(context.Background(), reqs)
	for _, err := range cerrs {
		if err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1300 * time.Millisecond)
	other := newStore(t)
	c, err := other.Claim(context.Background(), idempotency.ClaimRequest{Key: keys[0], Fingerprint: "fp2", Lease: time.Minute})
	if err != nil || !c.Acquired {
		t.Fatalf("takeover claim = %+v, %v", c, err)
	}
	hook.take()
	errs := s.CompleteBatch(context.Background(), completions(keys, claims))
	if !errors.Is(errs[0], idempotency.ErrLeaseLost) || errs[1] != nil || errs[2] != nil {
		t.Fatalf("errors = %v, want [ErrLeaseLost nil nil]", errs)
	}
	if n := hook.take(); n["exec"] != 1 || n["evalsha"]+n["eval"] == 0 {
		t.Fatalf("commands sent = %v, want an aborted EXEC, then the script", n)
	}
	if r, err := s.Get(context.Background(), keys[0]); err != nil || r.Status != idempotency.StatusInProgress || r.Fingerprint != "fp2" {
		t.Fatalf("taken-over record = %+v, %v; want the new claim's IN_PROGRESS", r, err)
	}
	mustComplete(t, s, keys[1:])
}

// Once every lease of a batch is over, its session ends (the connection
// goes back) and a late completion takes the script path, which reports
// every claim lost and writes nothing.
func TestExpiredBatchIsFencedByScript(t *testing.T) {
	s, hook := hooked(t)
	keys := freshKeys(t, 4)
	claims := claimAll(t, s, keys, 1200*time.Millisecond)
	time.Sleep(1300 * time.Millisecond) // every lease expires
	other := newStore(t)
	if c, err := other.Claim(context.Background(), idempotency.ClaimRequest{Key: keys[1], Fingerprint: "fp2", Lease: time.Minute}); err != nil || !c.Acquired {
		t.Fatalf("takeover claim = %+v, %v", c, err)
	}
	hook.take()
	errs := s.CompleteBatch(context.Background(), completions(keys, claims))
	for i, err := range errs {
		if !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Errorf("item %d: err = %v, want ErrLeaseLost", i, err)
		}
	}
	n := hook.take()
	if n["exec"] != 0 || n["evalsha"]+n["eval"] == 0 {
		t.Fatalf("commands sent = %v, want the script and no EXEC", n)
	}
	if r, err := s.Get(context.Background(), keys[1]); err != nil || r.Status != idempotency.StatusInProgress || r.Fingerprint != "fp2" {
		t.Fatalf("taken-over record = %+v, %v; want the new claim's IN_PROGRESS", r, err)
	}
	for _, k := range []string{keys[0], keys[2], keys[3]} {
		if _, err := s.Get(context.Background(), k); !errors.Is(err, idempotency.ErrNotFound) {
			t.Errorf("expired claim %s: err = %v, want ErrNotFound (nothing written)", k, err)
		}
	}
}

// A batch whose keys were all held elsewhere leaves its connection watching
// them. The next batch on that connection unwatches first, so a change to
// those keys does not abort its EXEC.
func TestParkedConnectionIsUnwatchedBeforeReuse(t *testing.T) {
	s, hook := hooked(t)
	held := freshKeys(t, 2)
	other := newStore(t)
	heldClaims := claimAll(t, other, held, time.Minute)
	if c := claimAll(t, s, held, time.Minute); c[0].Acquired || c[1].Acquired {
		t.Fatal("claims of held keys were acquired")
	}
	completeOK(t, other, held, heldClaims)
	hook.take()
	if n := claimAndComplete(t, s, hook, 5); n["unwatch"] != 1 || n["exec"] != 1 || n["evalsha"]+n["eval"] != 0 {
		t.Fatalf("commands sent = %v, want UNWATCH, then a clean EXEC and no script", n)
	}
}

// Connections given back to a shared client's pool never carry a WATCH:
// another user's transactions on the client are not aborted by keys a batch
// watched.
func TestSharedPoolGetsNoWatchedConnections(t *testing.T) {
	opts, err := redis.ParseURL(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	opts.PoolSize = 2 // one session connection at most
	client := redis.NewClient(opts)
	s := warm(t, redisstore.New(client, nil))
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()

	held := freshKeys(t, 2)
	other := newStore(t)
	heldClaims := claimAll(t, other, held, time.Minute)
	claimAll(t, s, held, time.Minute) // not acquired: the connection is parked watching held
	completeOK(t, other, held, heldClaims)
	time.Sleep(3 * time.Second) // the sweep unwatches the parked connection and returns it
	if st := client.PoolStats(); st.TotalConns > 2 {
		t.Fatalf("pool holds %d connections, want at most 2", st.TotalConns)
	}
	var wg sync.WaitGroup
	for i := range 8 { // enough concurrent transactions to use every pooled connection
		wg.Go(func() {
			// Watch-based transactions run on the main pool's connections,
			// where session connections come from.
			k := fmt.Sprintf("%s-user-%d", t.Name(), i)
			err := client.Watch(ctx, func(tx *redis.Tx) error {
				_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
					p.Set(ctx, k, "v", time.Minute)
					return nil
				})
				return err
			}, k)
			if err != nil {
				t.Errorf("user transaction: %v", err)
			}
		})
	}
	wg.Wait()
}

// smallPool returns a warm store on a pool of 4 connections (2 sessions at
// most) whose client reports the commands it sends.
func smallPool(t *testing.T) (*redisstore.Store, *commands) {
	t.Helper()
	s, err := redisstore.Open(testenv.Redis(t)+"?pool_size=4", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	warm(t, s)
	hook := &commands{}
	s.Client().AddHook(hook)
	return s, hook
}

// Sessions hold at most half the pool; further batches take the ordinary
// path, and nothing is lost either way.
func TestSessionsAreBounded(t *testing.T) {
	s, hook := smallPool(t)
	var batches [][]string
	var claims [][]idempotency.Claim
	for range 5 { // five batches in flight at once
		keys := freshKeys(t, 3)
		batches, claims = append(batches, keys), append(claims, claimAll(t, s, keys, time.Minute))
	}
	if n := hook.take(); n["watch"] != 2 {
		t.Fatalf("commands = %v, want WATCH for 2 of 5 batches (half of a pool of 4)", n)
	}
	if st := s.Client().(*redis.Client).PoolStats(); st.TotalConns > 4 {
		t.Fatalf("pool holds %d connections, want at most 4", st.TotalConns)
	}
	for i, keys := range batches {
		completeOK(t, s, keys, claims[i])
		mustComplete(t, s, keys)
	}
	if n := hook.take(); n["exec"] != 2 || n["evalsha"] != 3 {
		t.Fatalf("commands = %v, want 2 EXECs and 3 scripts", n)
	}
}

// A batch that neither completes nor releases its claims gives its session
// back once its leases are over: the sweep parks the connection for the
// next batch.
func TestAbandonedSessionsAreSwept(t *testing.T) {
	s, hook := smallPool(t)
	for range 2 { // both sessions, abandoned
		claimAll(t, s, freshKeys(t, 2), 1100*time.Millisecond)
	}
	abandoned := time.Now()
	if n := hook.take(); n["watch"] != 2 {
		t.Fatalf("commands = %v, want a WATCH for each of the two batches", n)
	}
	next := func() int {
		keys := freshKeys(t, 2)
		claims := claimAll(t, s, keys, time.Minute)
		n := hook.take()
		completeOK(t, s, keys, claims)
		mustComplete(t, s, keys)
		hook.take()
		return n["watch"]
	}
	if w := next(); w != 0 {
		t.Fatalf("a batch got a session (%d WATCH) while both were held by live claims", w)
	}
	for next() == 0 {
		if time.Since(abandoned) > 6*time.Second { // lease 1.1s, then a sweep every 2s
			t.Fatal("no session came free after the abandoned batches' leases")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if d := time.Since(abandoned); d < 1100*time.Millisecond {
		t.Fatalf("a session came free after %v, before the leases ended", d)
	}
}

// Release ends a batch's session; a later Complete of the same claims takes
// the script path and is fenced as always.
func TestReleaseEndsSession(t *testing.T) {
	s := warm(t, newStore(t))
	keys := freshKeys(t, 3)
	claims := claimAll(t, s, keys, time.Minute)
	rel := []idempotency.Release{{Key: keys[0], Token: claims[0].Token}}
	if errs := s.ReleaseBatch(context.Background(), rel); errs[0] != nil {
		t.Fatal(errs[0])
	}
	errs := s.CompleteBatch(context.Background(), completions(keys, claims))
	if !errors.Is(errs[0], idempotency.ErrLeaseLost) || errs[1] != nil || errs[2] != nil {
		t.Fatalf("errors = %v, want [ErrLeaseLost nil nil]", errs)
	}
	mustComplete(t, s, keys[1:])
	// A token of another key never completes through a session.
	keys = freshKeys(t, 2)
	claims = claimAll(t, s, keys, time.Minute)
	errs = s.CompleteBatch(context.Background(), []idempotency.Completion{{Key: keys[0], Token: claims[1].Token, TTL: time.Hour}})
	if !errors.Is(errs[0], idempotency.ErrLeaseLost) {
		t.Fatalf("completing a key with another key's token: err = %v, want ErrLeaseLost", errs[0])
	}
	if r, err := s.Get(context.Background(), keys[0]); err != nil || r.Status != idempotency.StatusInProgress {
		t.Fatalf("record = %+v, %v; want unchanged IN_PROGRESS", r, err)
	}
}

// A session whose connection dies before the completion reports a store
// error for every item and writes nothing, and a retry completes through
// the ordinary path.
func TestSessionConnectionLostIsAStoreError(t *testing.T) {
	s := warm(t, newStore(t))
	ctx := context.Background()
	keys := freshKeys(t, 3)
	claims := claimAll(t, s, keys, time.Minute)
	admin := redis.NewClient(&redis.Options{Addr: s.Client().(*redis.Client).Options().Addr})
	defer admin.Close()
	if err := admin.ClientKillByFilter(ctx, "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	for i, err := range s.CompleteBatch(ctx, completions(keys, claims)) {
		if !errors.Is(err, idempotency.ErrStore) {
			t.Fatalf("item %d: err = %v, want ErrStore", i, err)
		}
	}
	// go-redis must not have retried the transaction on another connection,
	// where no WATCH would fence it.
	for _, k := range keys {
		if r, err := s.Get(ctx, k); err != nil || r.Status != idempotency.StatusInProgress {
			t.Fatalf("record %s after the failed completion = %+v, %v; want IN_PROGRESS", k, r, err)
		}
	}
	completeOK(t, s, keys, claims) // the retry
	mustComplete(t, s, keys)
}

// A parked connection the server has since closed fails the next batch's
// claim pipeline; the store claims again on the client's pool and the batch
// sees no error.
func TestDeadSessionConnectionIsClaimedAgain(t *testing.T) {
	s, hook := hooked(t)
	ctx := context.Background()
	held := freshKeys(t, 2)
	claimAll(t, newStore(t), held, time.Minute)
	claimAll(t, s, held, time.Minute) // none acquired: the connection is parked
	admin := redis.NewClient(&redis.Options{Addr: s.Client().(*redis.Client).Options().Addr})
	defer admin.Close()
	if err := admin.ClientKillByFilter(ctx, "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	hook.take()
	keys := freshKeys(t, 4)
	claims := claimAll(t, s, keys, time.Minute) // fails the test on any error
	for i, c := range claims {
		if !c.Acquired {
			t.Fatalf("claim %d = %+v, want acquired", i, c)
		}
	}
	if n := hook.take(); n["set"] != 8 {
		t.Fatalf("commands = %v, want the 4 claims sent twice", n)
	}
	completeOK(t, s, keys, claims)
	mustComplete(t, s, keys)
}

// A claim whose command reached the server but whose reply was lost is sent
// again; finding its own value, it is acquired, not reported in progress.
func TestClaimRetryFindsItsOwnValue(t *testing.T) {
	s := warm(t, newStore(t)) // connection set-up done before the hook
	ctx := context.Background()
	s.Client().AddHook(&dropFirstReply{})
	k := freshKeys(t, 1)[0]
	c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: time.Minute})
	if err != nil || !c.Acquired {
		t.Fatalf("claim = %+v, %v; want acquired", c, err)
	}
	if err := s.Complete(ctx, k, c.Token, []byte("r-"+k), time.Hour); err != nil {
		t.Fatal(err)
	}
	mustComplete(t, s, []string{k})
}

// dropFirstReply sends the first command twice and discards the first
// reply, as a retry after a lost reply does.
type dropFirstReply struct{ done atomic.Bool }

func (*dropFirstReply) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *dropFirstReply) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.done.CompareAndSwap(false, true) {
			_ = next(ctx, redis.NewStatusCmd(ctx, cmd.Args()...))
		}
		return next(ctx, cmd)
	}
}
func (*dropFirstReply) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// With Options.DisableSessions a batch is claimed on the pool without
// WATCH and completed by the script; with the zero Options by a
// transaction.
func TestDisableSessionsCompletesByScript(t *testing.T) {
	for _, tt := range []struct {
		name      string
		opts      *redisstore.Options
		watch     bool
		completer string
	}{
		{"zero options", nil, true, "exec"},
		{"DisableSessions", &redisstore.Options{DisableSessions: true}, false, "evalsha"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := warm(t, openStoreWith(t, testenv.Redis(t), tt.opts))
			hook := &commands{}
			s.Client().AddHook(hook)
			sent := claimAndComplete(t, s, hook, 10)
			if (sent["watch"] > 0) != tt.watch || sent[tt.completer] == 0 {
				t.Fatalf("commands sent: %v; want WATCH %v and %s", sent, tt.watch, tt.completer)
			}
		})
	}
}

// Extend writes a claimed key, which would abort the session's EXEC: it
// ends the session, so the batch's completion runs the script at once
// instead of a transaction that fails first.
func TestExtendEndsSession(t *testing.T) {
	s, hook := hooked(t)
	keys := freshKeys(t, 3)
	claims := claimAll(t, s, keys, time.Minute)
	if err := s.Extend(context.Background(), keys[1], claims[1].Token, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	hook.take()
	completeOK(t, s, keys, claims)
	sent := hook.take()
	mustComplete(t, s, keys)
	if sent["exec"] != 0 || sent["evalsha"] == 0 {
		t.Fatalf("completion after Extend sent %v; want the script and no EXEC", sent)
	}
}
