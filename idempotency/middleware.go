package idempotency

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/eventfn/eventfn/handler"
)

// Guard is the idempotency layer over one Store: it makes the effect of
// every handler it wraps happen once per key, as the package documentation
// describes. Handlers wrapped by one Guard share its in-process cache of
// completed keys and its background completions. A Guard is safe for
// concurrent use.
type Guard struct {
	store Store
	batch BatchStore
	o     Options
	cache *completedCache
	retry *retrier
}

// New returns the Guard for store. It fails with an error matching ErrScope
// when opts sets no Scope and no platform name is known (PlatformScope), or
// when another Guard in this process already uses the scope on this store
// (unless Options.ShareScope).
func New(store Store, opts *Options) (*Guard, error) {
	if store == nil {
		return nil, errors.New("idempotency: New called with a nil Store")
	}
	o := opts.withDefaults()
	if err := claimScope(store, &o); err != nil {
		return nil, err
	}
	bs, _ := store.(BatchStore)
	g := &Guard{store: store, batch: bs, o: o, cache: newCompletedCache(o.CacheSize)}
	g.retry = newRetrier(g)
	return g, nil
}

// Middleware returns the handler.Middleware of New(store, opts). It panics
// with New's error, at construction, when New fails.
func Middleware(store Store, opts *Options) handler.Middleware {
	g, err := New(store, opts)
	if err != nil {
		panic(err)
	}
	return g.Middleware()
}

// Middleware returns a handler.Middleware that wraps handlers with g.
func (g *Guard) Middleware() handler.Middleware { return g.Wrap }

// Wrap returns next wrapped with g.
func (g *Guard) Wrap(next handler.Handler) handler.Handler { return &guard{Guard: g, next: next} }

// Scope returns the scope g's keys are hashed in.
func (g *Guard) Scope() string { return g.o.Scope }

// Flush waits until every completion that failed on a store error and is
// being retried in the background has landed or been given up, or until
// ctx ends. Call it at shutdown, with a bound, so a consumer that stops
// right after a store outage still records what it did. It returns an error
// naming how many completions were still pending when ctx ended.
func (g *Guard) Flush(ctx context.Context) error { return g.retry.flush(ctx) }

// guard is one handler wrapped by a Guard.
type guard struct {
	*Guard
	next handler.Handler
}

// keyRun is the state of one key: the claim and the run that holds it.
// Within a batch, every message with the key shares one keyRun: the first to
// reach the handler runs it, the others follow its outcome.
type keyRun struct {
	key, fp string
	msg     *handler.Message // the message that ran (or will run)
	batch   *batchState      // the batch that claimed the key; nil outside one
	// lease is the claim's lease; leaseEnd is when it ends unless extended
	// again, the bound of the background retries of its completion. The
	// heartbeat moves leaseEnd (under mu).
	lease    time.Duration
	leaseEnd time.Time

	mu sync.Mutex
	// claim is the key's claim: in a batch, an element of the array the
	// batch claim returned, not a copy; nil when claiming failed
	// (claimErr).
	claim     *Claim
	claimErr  error
	started   bool // in a batch: a message with this key has reached the handler
	finished  bool
	succeeded bool
	flushed   bool // the batch has finished; this run completes or releases itself
	queued    bool // in a batch: handed to the batch's prompt completion
	err       error
	done      chan struct{} // made by the first follower to wait; closed when the run ends
}

func (g *Guard) event(ctx context.Context, e Event, m *handler.Message) {
	if g.o.OnEvent != nil {
		g.o.OnEvent(ctx, e, m)
	}
}

func (g *guard) keyOf(m *handler.Message) (string, error) {
	raw, err := g.o.Key(m)
	if err != nil {
		return "", fmt.Errorf("%w: message %q: %v", ErrNoKey, m.ID, err)
	}
	return HashKey(g.o.Scope, raw), nil
}

// PrepareBatch implements handler.BatchPreparer: it claims the keys of
// every message of the batch in one BatchStore call before they run.
func (g *guard) PrepareBatch(ctx context.Context) {
	if b := handler.BatchFrom(ctx); b != nil && g.batch != nil && len(b.Messages()) > 1 {
		g.batchState(ctx, b)
	}
}

// Handle implements handler.Handler.
func (g *guard) Handle(ctx context.Context, m *handler.Message) error {
	if m == nil {
		return handler.ErrNilMessage
	}
	if g.batch != nil {
		if b := handler.BatchFrom(ctx); b != nil && len(b.Messages()) > 1 {
			if in, ok := g.batchState(ctx, b).entry(b.Messages(), m); ok {
				return g.handleInBatch(ctx, in.kr, m, in.fp)
			}
			// No key, or known to be completed: the single path says which.
		}
	}
	key, err := g.keyOf(m)
	if err != nil {
		g.event(ctx, EventNoKey, m)
		if g.o.AllowMissingKey {
			g.o.Logger.WarnContext(ctx, "idempotency: no key, processing without idempotency", "message_id", m.ID, "error", err)
			return g.next.Handle(ctx, m)
		}
		return handler.Permanent(err)
	}
	fp := g.o.Fingerprint(m)
	if cfp, ok := g.cache.get(key, time.Now()); ok {
		err := blocked(Claim{Existing: &Record{Status: StatusCompleted, Fingerprint: cfp}}, fp, "message "+m.ID, m.DeliveryAttempt, g.o.InProgressRetry)
		g.reportBlocked(ctx, err, m)
		return err
	}
	kr := &keyRun{key: key, fp: fp, msg: m}
	kr.claimAlone(ctx, g.store, ClaimRequest{Key: key, Fingerprint: fp, Lease: g.lease(ctx)})
	return g.run(ctx, kr, m, false)
}

// claimAlone claims kr's key with a call of its own.
func (kr *keyRun) claimAlone(ctx context.Context, store Store, req ClaimRequest) {
	kr.lease, kr.leaseEnd = req.Lease, time.Now().Add(req.Lease)
	c, err := store.Claim(ctx, req)
	if err != nil {
		kr.claimErr = err
		return
	}
	kr.claim = &c
}

// acquired reports whether kr holds its key's claim. Callers hold kr.mu
// where the claim may change (a run waiting in acquire).
func (kr *keyRun) acquired() bool { return kr.claim != nil && kr.claim.Acquired }

func (g *guard) lease(ctx context.Context) time.Duration {
	return leaseFor(ctx, g.o.DefaultLease, g.o.MinLease, g.o.MaxLease)
}

func (g *guard) reportBlocked(ctx context.Context, err error, m *handler.Message) {
	switch {
	case err == nil:
		g.event(ctx, EventDuplicate, m)
	case errors.Is(err, ErrPayloadMismatch):
		g.event(ctx, EventPayloadMismatch, m)
	case errors.Is(err, ErrInProgress):
		g.event(ctx, EventInProgress, m)
	}
}

// run takes kr's claim (waiting for an in-flight holder if configured), runs
// the handler when the claim is held, and records the outcome. It is called
// once per keyRun. A run outside a batch, or one that outlived its batch's
// flush, completes or releases its own claim.
func (g *guard) run(ctx context.Context, kr *keyRun, m *handler.Message, inBatch bool) (err error) {
	var panicked any
	defer func() {
		kr.mu.Lock()
		kr.finished, kr.succeeded, kr.err = true, err == nil, err
		self := kr.acquired() && (!inBatch || kr.flushed)
		// A successful run in a batch completes without waiting for the
		// batch's slowest handler; a failed one is released by the flush.
		queue := !self && inBatch && kr.acquired() && err == nil
		if self {
			kr.flushed = true // nothing left for a batch flush to do
		}
		kr.queued = queue
		done := kr.done
		kr.mu.Unlock()
		if done != nil {
			close(done)
		}
		if self {
			g.finish(ctx, []*keyRun{kr})
		}
		if queue {
			kr.batch.ready(ctx, g, kr)
		}
		if panicked != nil {
			panic(panicked)
		}
	}()

	if kr.claimErr != nil {
		return fmt.Errorf("idempotency: claim for message %s: %w", m.ID, kr.claimErr)
	}
	c := kr.claim
	if !c.Acquired {
		lease := g.lease(ctx)
		held, err := acquire(ctx, g.store, ClaimRequest{Key: kr.key, Fingerprint: kr.fp, Lease: lease}, c, g.o.WaitInProgress)
		c = &held
		kr.mu.Lock()
		kr.claim = c
		if c.Acquired {
			kr.lease, kr.leaseEnd = lease, time.Now().Add(lease)
		}
		kr.mu.Unlock()
		if err != nil {
			return fmt.Errorf("idempotency: claim for message %s: %w", m.ID, err)
		}
	}
	if !c.Acquired {
		if c.Existing.Status == StatusCompleted && !mismatch(kr.fp, c.Existing.Fingerprint) {
			g.cache.add(kr.key, c.Existing.Fingerprint, cacheExpiry(c.Existing.Expiry, g.o.TTL))
		}
		err := blocked(*c, kr.fp, "message "+m.ID, m.DeliveryAttempt, g.o.InProgressRetry)
		g.reportBlocked(ctx, err, m)
		return err
	}
	g.event(ctx, EventClaimed, m)
	hctx, hb := g.heartbeat(ctx, kr, m)
	defer hb.stop()
	defer func() {
		if v := recover(); v != nil {
			panicked = v
			err = &handler.PanicError{Value: v}
		}
	}()
	return g.next.Handle(hctx, m)
}

func cacheExpiry(recordExpiry time.Time, ttl time.Duration) time.Time {
	e := time.Now().Add(ttl)
	if !recordExpiry.IsZero() && recordExpiry.Before(e) {
		e = recordExpiry
	}
	return e
}

// finish completes the successful runs and releases the others (including
// claims whose message never ran). It never changes a message's result.
func (g *guard) finish(ctx context.Context, runs []*keyRun) {
	ctx, cancel := detached(ctx)
	defer cancel()
	comp := make([]*keyRun, 0, len(runs))
	var rel []*keyRun // rarely needed
	for _, kr := range runs {
		if kr.finished && kr.succeeded {
			comp = append(comp, kr)
		} else {
			rel = append(rel, kr)
		}
	}
	g.complete(ctx, comp)
	g.release(ctx, rel)
}

// complete marks the runs' records COMPLETED in one call. A completion that
// fails on a store error goes to the background retrier, and the key is
// cached as completed at once, so redeliveries to this process are
// acknowledged meanwhile; the message is acknowledged either way, since its
// effect has happened.
func (g *guard) complete(ctx context.Context, runs []*keyRun) {
	if len(runs) == 0 {
		return
	}
	buf := completions.get(len(runs))
	defer completions.put(buf)
	items := (*buf)[:len(runs)]
	for i, kr := range runs {
		items[i] = Completion{Key: kr.key, Token: kr.claim.Token, TTL: g.o.TTL}
	}
	errs := completeAll(ctx, g.store, g.batch, items)
	expires := time.Now().Add(g.o.TTL)
	for i, kr := range runs {
		var err error
		if i < len(errs) {
			err = errs[i]
		} else {
			err = fmt.Errorf("%w: batch completion returned %d answers for %d keys", ErrStore, len(errs), len(items))
		}
		switch {
		case err == nil:
			g.cache.add(kr.key, kr.fp, expires)
		case errors.Is(err, ErrLeaseLost):
			g.completeFailed(ctx, kr.msg, kr.key, 1, err)
		default:
			g.cache.add(kr.key, kr.fp, expires)
			g.retry.add(pendingCompletion{key: kr.key, token: kr.claim.Token, fp: kr.fp, msg: kr.msg, leaseEnd: kr.leaseEnd, err: err})
		}
	}
}

// completeFailed reports a run whose effect happened but whose record could
// not be completed: a later duplicate may run again.
func (g *Guard) completeFailed(ctx context.Context, m *handler.Message, key string, attempts int, err error) {
	g.o.Logger.ErrorContext(ctx, "idempotency: handler succeeded but its record could not be completed; the message is acknowledged, a later duplicate may run again",
		slog.String("message_id", m.ID), slog.String("key", key), slog.Int("attempts", attempts), slog.Any("error", err))
	if g.o.OnEvent != nil {
		g.o.OnEvent(ctx, EventCompleteFailed, m)
	}
}

func (g *guard) release(ctx context.Context, runs []*keyRun) {
	if len(runs) == 0 {
		return
	}
	items := make([]Release, len(runs))
	for i, kr := range runs {
		items[i] = Release{Key: kr.key, Token: kr.claim.Token}
	}
	var errs []error
	if g.batch != nil && len(items) > 1 {
		errs = g.batch.ReleaseBatch(ctx, items)
	} else {
		errs = make([]error, len(items))
		for i, it := range items {
			errs[i] = g.store.Release(ctx, it.Key, it.Token)
		}
	}
	for i, err := range errs {
		if err != nil && !errors.Is(err, ErrLeaseLost) && i < len(runs) {
			g.o.Logger.WarnContext(ctx, "idempotency: could not release claim; the lease will free the key",
				slog.String("message_id", runs[i].msg.ID), slog.Any("error", err))
			g.event(ctx, EventReleaseFailed, runs[i].msg)
		}
	}
}

func completeAll(ctx context.Context, s Store, bs BatchStore, items []Completion) []error {
	if bs != nil && len(items) > 1 {
		return bs.CompleteBatch(ctx, items)
	}
	errs := make([]error, len(items))
	for i, it := range items {
		errs[i] = s.Complete(ctx, it.Key, it.Token, it.Result, it.TTL)
	}
	return errs
}
