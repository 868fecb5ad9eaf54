package servicebus

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// minRenewRetry is the pause before retrying a renewal that failed for a
// reason other than a lost lock.
const minRenewRetry = time.Second

// startRenewal starts renewing the locks of rms (or of their session) and
// returns stop: stop(i) stops the renewal of message i and waits for it,
// stop(-1) stops every renewal left (the session's last). The azservicebus
// SDK renews nothing by itself, unlike the Functions host.
func (c *Consumer) startRenewal(ctx context.Context, rms []*azservicebus.ReceivedMessage) func(i int) {
	noop := func(int) {}
	if c.opts.MaxLockRenewal < 0 || len(rms) == 0 {
		return noop
	}
	if sr, ok := c.r.(SessionLockRenewer); ok {
		l := c.startLoop(ctx, "session", func() (time.Time, bool) {
			t := sr.LockedUntil()
			return t, !t.IsZero()
		}, func(ctx context.Context) error { return sr.RenewSessionLock(ctx, nil) })
		return func(i int) {
			if i < 0 {
				l.stop()
			}
		}
	}
	mr, ok := c.r.(MessageLockRenewer)
	if !ok {
		return noop
	}
	loops := make([]*renewLoop, len(rms))
	for i, rm := range rms {
		loops[i] = c.startLoop(ctx, rm.MessageID, func() (time.Time, bool) {
			if rm.LockedUntil == nil {
				return time.Time{}, false
			}
			return *rm.LockedUntil, true
		}, func(ctx context.Context) error { return mr.RenewMessageLock(ctx, rm, nil) })
	}
	return func(i int) {
		if i >= 0 {
			loops[i].stop()
			return
		}
		for _, l := range loops {
			l.stop()
		}
	}
}

type renewLoop struct {
	once sync.Once
	done chan struct{}
	exit chan struct{}
}

// stop ends the loop and waits until it has returned, so no renewal is in
// flight once stop returns.
func (l *renewLoop) stop() {
	l.once.Do(func() { close(l.done) })
	<-l.exit
}

// startLoop renews a lock at half its remaining time until stopped, until
// MaxLockRenewal has passed since the start, or until the lock is lost.
// lockedUntil is read only by the loop's goroutine (the SDK updates
// ReceivedMessage.LockedUntil during RenewMessageLock, in the same
// goroutine).
func (c *Consumer) startLoop(ctx context.Context, id string, lockedUntil func() (time.Time, bool), renew func(context.Context) error) *renewLoop {
	l := &renewLoop{done: make(chan struct{}), exit: make(chan struct{})}
	clock := c.clock
	giveUp := clock.Now().Add(c.opts.MaxLockRenewal)
	go func() {
		defer close(l.exit)
		failed := false
		for {
			now := clock.Now()
			wait := c.opts.LockDuration / 2
			if until, ok := lockedUntil(); ok {
				wait = until.Sub(now) / 2
			}
			if failed && wait < minRenewRetry {
				wait = minRenewRetry
			}
			if wait < 0 {
				wait = 0
			}
			if now.Add(wait).After(giveUp) {
				c.log.LogAttrs(ctx, slog.LevelWarn, "servicebus: stopped renewing the lock after MaxLockRenewal; a handler still running will lose it",
					slog.String("lock", id), slog.Duration("max_lock_renewal", c.opts.MaxLockRenewal))
				return
			}
			select {
			case <-l.done:
				return
			case <-ctx.Done():
				return
			case <-clock.After(wait):
			}
			select {
			case <-l.done: // stopped while waiting: do not renew a settled lock
				return
			default:
			}
			rctx, cancel := context.WithTimeout(ctx, c.opts.SettleTimeout)
			err := renew(rctx)
			cancel()
			c.renewals.Add(1)
			failed = err != nil
			if err == nil {
				continue
			}
			c.renewalsFailed.Add(1)
			if isLockLost(err) {
				c.log.LogAttrs(ctx, slog.LevelWarn, "servicebus: lock lost while the handler runs; the message will be redelivered",
					slog.String("lock", id), slog.Any("error", err))
				return
			}
			c.log.LogAttrs(ctx, slog.LevelWarn, "servicebus: lock renewal failed; retrying",
				slog.String("lock", id), slog.Any("error", err))
		}
	}()
	return l
}
