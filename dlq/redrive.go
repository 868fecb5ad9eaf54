package dlq

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/time/rate"

	"github.com/eventfn/eventfn/handler"
)

// RedriveOptions configure Redrive. The zero value (or nil) moves every
// message, as fast as the broker allows.
type RedriveOptions struct {
	// Filter selects the messages to move. Default: all.
	Filter *Filter
	// Max is the most messages moved (or, in a dry run, selected).
	// Default: 0, no limit.
	Max int
	// Rate is the most messages sent per second. Default: 0, no limit.
	Rate float64
	// DryRun selects messages and reports them without sending or deleting
	// anything.
	DryRun bool
	// BatchSize is the most messages leased at once. Default: 10.
	BatchSize int
	// OnMessage, if set, is called for every message Redrive selected,
	// after it was moved (or, in a dry run, selected); err is the send or
	// delete error, if any.
	OnMessage func(m *Message, err error)
	// Now returns the time filters compare ages with. Default: time.Now.
	Now func() time.Time
}

// Stats counts what a redrive did.
type Stats struct {
	// Received is every message leased.
	Received int `json:"received"`
	// Selected passed the filter (in a dry run: would have been moved).
	Selected int `json:"selected"`
	// Moved were sent to their source and deleted from the dead-letter queue.
	Moved int `json:"moved"`
	// Skipped did not pass the filter and stay in the dead-letter queue.
	Skipped int `json:"skipped"`
	// Failed could not be sent and stay in the dead-letter queue.
	Failed int `json:"failed"`
	// Duplicated were sent but not deleted: they are on the source and
	// still in the dead-letter queue.
	Duplicated int `json:"duplicated"`
}

// settleTimeout bounds a send or delete that started before ctx was
// cancelled: it is finished, not abandoned, so nothing is left half-done.
const settleTimeout = 30 * time.Second

// Redrive moves dead letters from d back to their source until the queue
// looks empty, opts.Max messages were moved, ctx is cancelled or a send
// fails. Each message is sent, and deleted only once the send was
// confirmed; a message whose send failed is released and the error
// returned. When ctx is cancelled Redrive finishes the message in hand,
// releases the rest and returns the counts with ctx's error. The returned
// Stats are valid with any error. Redrive is safe for concurrent use on
// different drivers.
func Redrive(ctx context.Context, d Driver, opts *RedriveOptions) (Stats, error) {
	var o RedriveOptions
	if opts != nil {
		o = *opts
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	var lim *rate.Limiter
	if o.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(o.Rate), 1)
	}
	var st Stats
	var held []*Message // leased but not moved: released at the end
	seen := map[string]bool{}
	release := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
		defer cancel()
		for _, m := range held {
			_ = d.Release(rctx, m) // an unreleased lease expires on its own
		}
		held = held[:0]
	}
	defer release()
	ordered := false
	if od, ok := d.(Ordered); ok {
		ordered = od.Ordered()
	}
	done := func() bool { return o.Max > 0 && st.Selected >= o.Max }
	for !done() {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		batch, err := d.Receive(ctx, o.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return st, ctx.Err()
			}
			return st, err
		}
		fresh := 0
		for _, m := range batch {
			if !seen[m.ID] {
				fresh++
			}
		}
		if fresh == 0 { // empty, or only messages whose lease lapsed
			held = append(held, batch...)
			return st, nil
		}
		for i, m := range batch {
			if seen[m.ID] || done() || ctx.Err() != nil {
				held = append(held, m)
				continue
			}
			seen[m.ID] = true
			st.Received++
			if !o.Filter.Match(m, o.Now()) {
				st.Skipped++
				held = append(held, m)
				continue
			}
			st.Selected++
			if o.DryRun {
				held = append(held, m)
				if o.OnMessage != nil {
					o.OnMessage(m, nil)
				}
				continue
			}
			if lim != nil {
				if err := lim.Wait(ctx); err != nil {
					st.Selected--
					held = append(held, batch[i:]...)
					return st, ctxErr(ctx, err)
				}
			}
			if err := move(ctx, d, m, &st); err != nil {
				if o.OnMessage != nil {
					o.OnMessage(m, err)
				}
				if errors.Is(err, errDelete) {
					held = append(held, m) // still leased; the send was not
				}
				held = append(held, batch[i+1:]...)
				return st, err
			}
			if o.OnMessage != nil {
				o.OnMessage(m, nil)
			}
		}
		if ordered {
			release()
		}
	}
	return st, nil
}

var errDelete = errors.New("dlq: delete after send")

// move sends m and then deletes it, both with a context that ctx's
// cancellation does not cut short.
func move(ctx context.Context, d Driver, m *Message, st *Stats) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	if m.Attributes == nil {
		m.Attributes = map[string]string{}
	}
	if m.Attributes[handler.AttrMessageID] == "" {
		m.Attributes[handler.AttrMessageID] = m.ID
	}
	if err := d.Send(sctx, m); err != nil {
		st.Failed++
		if rerr := d.Release(sctx, m); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return fmt.Errorf("dlq: send %s: %w", m.ID, err)
	}
	if err := d.Delete(sctx, m); err != nil {
		st.Duplicated++
		return fmt.Errorf("dlq: message %s was sent but not deleted (it will be redriven again; idempotency absorbs the copy): %w: %w", m.ID, errDelete, err)
	}
	st.Moved++
	return nil
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
