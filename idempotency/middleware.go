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

// Middleware returns a handler.Middleware that makes the wrapped handler's
// effect happen once per key, as the package documentation describes. The
// returned middleware and the handlers it wraps are safe for concurrent use;
// handlers wrapped by one Middleware value share its in-process cache.
//
// Middleware panics if store is nil.
func Middleware(store Store, opts *Options) handler.Middleware {
	if store == nil {
		panic("idempotency: Middleware called with a nil Store")
	}
	o := opts.withDefaults()
	cache := newCompletedCache(o.CacheSize)
	bs, _ := store.(BatchStore)
	return func(next handler.Handler) handler.Handler {
		return &guard{store: store, batch: bs, o: o, cache: cache, next: next}
	}
}

type guard struct {
	store Store
	batch BatchStore
	o     Options
	cache *completedCache
	next  handler.Handler
}

// keyRun is the state of one key: the claim and the run that holds it.
// Within a batch, every message with the key shares one keyRun: the first to
// reach the handler runs it, the others follow its outcome.
type keyRun struct {
	key, fp string
	msg     *handler.Message // the message that ran (or will run)

	mu sync.Mutex
	// claim is the key's claim: in a batch, an element of the array the
	// batch claim returned (not a copy: a Claim is 152 bytes, and the
	// garbage a record leaves is much of its cost on a busy client); nil
	// when claiming failed (claimErr).
	claim     *Claim
	claimErr  error
	started   bool // in a batch: a message with this key has reached the handler
	finished  bool
	succeeded bool
	flushed   bool // the batch has finished; this run completes or releases itself
	err       error
	done      chan struct{} // made by the first follower to wait; closed when the run ends
}

func (g *guard) event(ctx context.Context, e Event, m *handler.Message) {
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
		err := blocked(Claim{Existing: &Record{Status: StatusCompleted, Fingerprint: cfp}}, fp, "message "+m.ID)
		g.reportBlocked(ctx, err, m)
		return err
	}
	kr := &keyRun{key: key, fp: fp, msg: m}
	kr.claimAlone(ctx, g.store, ClaimRequest{Key: key, Fingerprint: fp, Lease: g.lease(ctx)})
	return g.run(ctx, kr, m, false)
}

// claimAlone claims kr's key with a call of its own.
func (kr *keyRun) claimAlone(ctx context.Context, store Store, req ClaimRequest) {
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
		if self {
			kr.flushed = true // nothing left for a batch flush to do
		}
		done := kr.done
		kr.mu.Unlock()
		if done != nil {
			close(done)
		}
		if self {
			g.finish(ctx, []*keyRun{kr})
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
		held, err := acquire(ctx, g.store, ClaimRequest{Key: kr.key, Fingerprint: kr.fp, Lease: g.lease(ctx)}, c, g.o.WaitInProgress)
		c = &held
		kr.mu.Lock()
		kr.claim = c
		kr.mu.Unlock()
		if err != nil {
			return fmt.Errorf("idempotency: claim for message %s: %w", m.ID, err)
		}
	}
	if !c.Acquired {
		if c.Existing.Status == StatusCompleted && !mismatch(kr.fp, c.Existing.Fingerprint) {
			g.cache.add(kr.key, c.Existing.Fingerprint, cacheExpiry(c.Existing.Expiry, g.o.TTL))
		}
		err := blocked(*c, kr.fp, "message "+m.ID)
		g.reportBlocked(ctx, err, m)
		return err
	}
	g.event(ctx, EventClaimed, m)
	defer func() {
		if v := recover(); v != nil {
			panicked = v
			err = &handler.PanicError{Value: v}
		}
	}()
	return g.next.Handle(ctx, m)
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

func (g *guard) complete(ctx context.Context, runs []*keyRun) {
	buf := completions.get(len(runs))
	defer completions.put(buf)
	for attempt := 1; len(runs) > 0; attempt++ {
		items := (*buf)[:len(runs)]
		for i, kr := range runs {
			items[i] = Completion{Key: kr.key, Token: kr.claim.Token, TTL: g.o.TTL}
		}
		errs := completeAll(ctx, g.store, g.batch, items)
		expires := time.Now().Add(g.o.TTL)
		var again []*keyRun
		for i, err := range errs {
			kr := runs[i]
			if err == nil {
				g.cache.add(kr.key, kr.fp, expires)
				continue
			}
			if !errors.Is(err, ErrLeaseLost) && attempt < g.o.CompleteAttempts && ctx.Err() == nil {
				again = append(again, kr)
				continue
			}
			g.o.Logger.ErrorContext(ctx, "idempotency: handler succeeded but its record could not be completed; the message is acknowledged, a later duplicate may run again",
				slog.String("message_id", kr.msg.ID), slog.String("key", kr.key), slog.Int("attempts", attempt), slog.Any("error", err))
			g.event(ctx, EventCompleteFailed, kr.msg)
		}
		runs = again
		if len(runs) > 0 && !sleepCtx(ctx, time.Duration(attempt)*50*time.Millisecond) {
			break
		}
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
		if err != nil && !errors.Is(err, ErrLeaseLost) {
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
