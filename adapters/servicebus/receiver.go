package servicebus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/eventfn/eventfn/adapters/internal/settled"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/internal/textutil"
)

// Receiver is the part of an azservicebus receiver that Consumer uses. Both
// *azservicebus.Receiver and *azservicebus.SessionReceiver satisfy it; tests
// use fakes.
type Receiver interface {
	ReceiveMessages(ctx context.Context, maxMessages int, options *azservicebus.ReceiveMessagesOptions) ([]*azservicebus.ReceivedMessage, error)
	CompleteMessage(ctx context.Context, message *azservicebus.ReceivedMessage, options *azservicebus.CompleteMessageOptions) error
	AbandonMessage(ctx context.Context, message *azservicebus.ReceivedMessage, options *azservicebus.AbandonMessageOptions) error
	DeadLetterMessage(ctx context.Context, message *azservicebus.ReceivedMessage, options *azservicebus.DeadLetterOptions) error
}

// MessageLockRenewer renews one message's lock; *azservicebus.Receiver
// satisfies it. A Receiver that also implements it gets its messages' locks
// renewed while their handlers run.
type MessageLockRenewer interface {
	RenewMessageLock(ctx context.Context, msg *azservicebus.ReceivedMessage, options *azservicebus.RenewMessageLockOptions) error
}

// SessionLockRenewer renews a session's lock; *azservicebus.SessionReceiver
// satisfies it. A Receiver that also implements it gets its session lock
// renewed while a batch runs.
type SessionLockRenewer interface {
	RenewSessionLock(ctx context.Context, options *azservicebus.RenewSessionLockOptions) error
	LockedUntil() time.Time
}

var (
	_ Receiver           = (*azservicebus.Receiver)(nil)
	_ Receiver           = (*azservicebus.SessionReceiver)(nil)
	_ MessageLockRenewer = (*azservicebus.Receiver)(nil)
	_ SessionLockRenewer = (*azservicebus.SessionReceiver)(nil)
)

// Action is how a message was settled.
type Action int

const (
	// Complete deletes the message (handler.Ack).
	Complete Action = iota + 1
	// Abandon releases the lock so the message is redelivered, with its
	// DeliveryCount incremented (handler.Retry).
	Abandon
	// DeadLetter moves the message to the dead-letter subqueue with a reason
	// and description (handler.Reject).
	DeadLetter
)

// String returns "complete", "abandon" or "dead-letter".
func (a Action) String() string {
	switch a {
	case Complete:
		return "complete"
	case Abandon:
		return "abandon"
	case DeadLetter:
		return "dead-letter"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// clock is the time source of lock renewal and the shutdown grace; tests
// replace it.
type clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// ConsumerOptions configure NewConsumer. The zero value is ready to use.
type ConsumerOptions struct {
	// BatchSize is the most messages one ReceiveMessages call returns.
	// Default: 10.
	BatchSize int
	// Process configures the batch engine (concurrency, ordering). Messages
	// of a session share its SessionId as OrderingKey and run in order.
	// Default: handler defaults.
	Process *handler.ProcessOptions
	// Queue sets Message.Queue, typically the queue or
	// "topic/subscriptions/name" the receiver reads. Default: empty.
	Queue string
	// LockDuration is the entity's lock duration, used to pace renewals when
	// a message does not carry LockedUntil. Default: 60s (the Service Bus
	// default).
	LockDuration time.Duration
	// MaxLockRenewal stops renewing a message's lock this long after it was
	// received; a handler still running then loses its lock, its settlement
	// fails and the message is redelivered. Default: 5m, like the Functions
	// host's maxAutoLockRenewalDuration. Negative disables renewal.
	MaxLockRenewal time.Duration
	// SettleTimeout bounds each settlement call; settlements run with a
	// context that survives the shutdown of Run's context. Default: 30s.
	SettleTimeout time.Duration
	// ShutdownGrace is how long running handlers may go on after Run's
	// context is done before their context is cancelled. Default: 30s.
	ShutdownGrace time.Duration
	// IdleTimeout, when positive, makes Run return nil once no message has
	// arrived for that long; use it to move on from a drained session.
	// Default: 0, wait for messages forever.
	IdleTimeout time.Duration
	// DeadLetterReason returns the reason and description recorded with a
	// rejected message. Default: reason "eventfn: permanent failure" (or
	// "eventfn: decode error" for a *handler.DecodeError), description the
	// error text, cut to 1024 bytes. The dead-lettered message also gets
	// the handler.Attr* application properties.
	DeadLetterReason func(res handler.Result) (reason, description string)
	// OnResult, if set, is called once per received message after its
	// settlement: SettledAck (completed), SettledRetry (abandoned, or a
	// settlement that failed: Report.Err is then a *SettleError) or
	// SettledDeadLetter. It must be safe for concurrent use and fast.
	OnResult handler.ResultHook
	// Logger receives one line for every message that is not completed
	// (with its ID, source, queue, settlement and reason) and lock-renewal
	// failures. Default: slog.Default().
	Logger *slog.Logger
}

// Stats counts what a Consumer did. Fields are totals since NewConsumer.
type Stats struct {
	Received, Completed, Abandoned, DeadLettered int64
	// SettleFailed counts settlements that failed: those messages were not
	// done.
	SettleFailed int64
	// LockRenewals and LockRenewalsFailed count lock renewal calls.
	LockRenewals, LockRenewalsFailed int64
}

// Consumer receives messages from a Service Bus queue or subscription in
// batches, runs them through a handler with handler.Process, and settles
// each by its outcome: Complete on Ack, Abandon on Retry, DeadLetter (with a
// reason and description) on Reject. While handlers run it renews the
// message locks (or the session lock). Its methods are safe for concurrent
// use, but one Consumer should Run once at a time.
type Consumer struct {
	r     Receiver
	h     handler.Handler
	opts  ConsumerOptions
	log   *slog.Logger
	clock clock

	received, completed, abandoned, deadLettered, settleFailed atomic.Int64
	renewals, renewalsFailed                                   atomic.Int64
}

// NewConsumer returns a Consumer of r that runs h.
func NewConsumer(r Receiver, h handler.Handler, opts *ConsumerOptions) *Consumer {
	c := &Consumer{r: r, h: h, clock: systemClock{}}
	if opts != nil {
		c.opts = *opts
	}
	o := &c.opts
	if o.BatchSize <= 0 {
		o.BatchSize = 10
	}
	if o.LockDuration <= 0 {
		o.LockDuration = 60 * time.Second
	}
	if o.MaxLockRenewal == 0 {
		o.MaxLockRenewal = 5 * time.Minute
	}
	if o.SettleTimeout <= 0 {
		o.SettleTimeout = 30 * time.Second
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = 30 * time.Second
	}
	if o.DeadLetterReason == nil {
		o.DeadLetterReason = defaultDeadLetterReason
	}
	c.log = o.Logger
	if c.log == nil {
		c.log = slog.Default()
	}
	return c
}

// Stats returns the consumer's counters.
func (c *Consumer) Stats() Stats {
	return Stats{
		Received: c.received.Load(), Completed: c.completed.Load(), Abandoned: c.abandoned.Load(),
		DeadLettered: c.deadLettered.Load(), SettleFailed: c.settleFailed.Load(),
		LockRenewals: c.renewals.Load(), LockRenewalsFailed: c.renewalsFailed.Load(),
	}
}

// Run receives and processes batches until ctx is done, then finishes the
// batch in hand (its handlers get ShutdownGrace before their context is
// cancelled), settles it and returns nil. It returns an error when
// receiving fails (after the SDK's own retries).
func (c *Consumer) Run(ctx context.Context) error {
	for {
		if ctx.Err() != nil {
			return nil
		}
		rctx, cancel := ctx, context.CancelFunc(func() {})
		if c.opts.IdleTimeout > 0 {
			rctx, cancel = context.WithTimeout(ctx, c.opts.IdleTimeout)
		}
		msgs, err := c.r.ReceiveMessages(rctx, c.opts.BatchSize, nil)
		idle := rctx.Err() != nil && ctx.Err() == nil
		cancel()
		if ctx.Err() != nil {
			// Shutting down. Messages that came back with the cancellation
			// are still locked to us: handle them rather than strand them.
			if len(msgs) > 0 {
				c.runBatch(ctx, msgs)
			}
			return nil
		}
		if err != nil && !(idle && errors.Is(err, context.DeadlineExceeded)) {
			if len(msgs) > 0 {
				c.runBatch(ctx, msgs)
			}
			return fmt.Errorf("servicebus: receive: %w", err)
		}
		if len(msgs) == 0 {
			if idle {
				return nil
			}
			continue
		}
		c.runBatch(ctx, msgs)
	}
}

// runBatch processes one received batch and settles every message of it.
func (c *Consumer) runBatch(ctx context.Context, rms []*azservicebus.ReceivedMessage) {
	c.received.Add(int64(len(rms)))
	msgs := make([]*handler.Message, 0, len(rms))
	live := make([]*azservicebus.ReceivedMessage, 0, len(rms))
	for _, rm := range rms {
		if rm == nil { // never from the SDK; skip rather than panic
			continue
		}
		msgs = append(msgs, c.toMessage(rm))
		live = append(live, rm)
	}

	// Handlers keep running through a shutdown for ShutdownGrace.
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stopGrace := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			select {
			case <-c.clock.After(c.opts.ShutdownGrace):
				cancel()
			case <-stopGrace:
			}
		case <-stopGrace:
		}
	}()
	defer close(stopGrace)

	stopRenew := c.startRenewal(pctx, live)
	results := handler.Process(pctx, c.h, msgs, c.opts.Process)

	// Settle concurrently: each message's renewal stops just before its
	// settlement, so a renew never races the settle.
	var wg sync.WaitGroup
	sem := make(chan struct{}, c.settleConcurrency())
	for i, res := range results {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			stopRenew(i)
			c.settle(ctx, live[i], res)
		}()
	}
	wg.Wait()
	stopRenew(-1)
}

func (c *Consumer) settleConcurrency() int {
	if c.opts.Process != nil && c.opts.Process.Concurrency > 0 {
		return c.opts.Process.Concurrency
	}
	return handler.DefaultConcurrency
}

func (c *Consumer) toMessage(rm *azservicebus.ReceivedMessage) *handler.Message {
	m := &handler.Message{
		ID:              rm.MessageID,
		Body:            rm.Body,
		Attributes:      propsToStrings(rm.ApplicationProperties),
		Source:          handler.SourceServiceBus,
		Queue:           c.opts.Queue,
		DeliveryAttempt: int(rm.DeliveryCount),
	}
	if rm.SessionID != nil {
		m.OrderingKey = *rm.SessionID
	}
	if rm.EnqueuedTime != nil {
		m.PublishedAt = rm.EnqueuedTime.UTC()
	}
	m.SetRaw(rm)
	return m
}

func propsToStrings(props map[string]any) map[string]string {
	if len(props) == 0 {
		return nil
	}
	out := make(map[string]string, len(props))
	for k, v := range props {
		switch v := v.(type) {
		case string:
			out[k] = v
		case []byte:
			out[k] = string(v)
		case time.Time:
			out[k] = v.UTC().Format(time.RFC3339Nano)
		case nil:
			out[k] = ""
		default:
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}

func (c *Consumer) settle(ctx context.Context, rm *azservicebus.ReceivedMessage, res handler.Result) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.SettleTimeout)
	defer cancel()
	var action Action
	var err error
	switch res.Outcome {
	case handler.Ack:
		action = Complete
		err = c.r.CompleteMessage(sctx, rm, nil)
	case handler.Reject:
		action = DeadLetter
		reason, desc := c.opts.DeadLetterReason(res)
		err = c.r.DeadLetterMessage(sctx, rm, &azservicebus.DeadLetterOptions{Reason: &reason, ErrorDescription: &desc, PropertiesToModify: deadLetterProperties(res)})
	default:
		// RetryAfter cannot delay a Service Bus redelivery: abandon now.
		action = Abandon
		err = c.r.AbandonMessage(sctx, rm, nil)
	}
	rep := handler.Report{Result: res, Err: res.Err}
	switch action {
	case Complete:
		rep.Settlement, rep.Err = handler.SettledAck, nil
	case Abandon:
		rep.Settlement = handler.SettledRetry
	case DeadLetter:
		rep.Settlement = handler.SettledDeadLetter
	}
	if err != nil {
		// Not settled: the message comes back when its lock expires.
		rep.Settlement = handler.SettledRetry
		rep.Err = errors.Join(res.Err, &SettleError{Action: action, MessageID: rm.MessageID, Err: err})
		c.settleFailed.Add(1)
	} else {
		switch action {
		case Complete:
			c.completed.Add(1)
		case Abandon:
			c.abandoned.Add(1)
		case DeadLetter:
			c.deadLettered.Add(1)
		}
	}
	settled.Done(context.WithoutCancel(ctx), c.log, c.opts.OnResult, "servicebus", rep)
}

// deadLetterProperties are the handler.Attr* application properties of a
// dead-lettered message.
func deadLetterProperties(res handler.Result) map[string]any {
	attrs := settled.DeadLetterAttributes(res.Message, res.Outcome, res.Err)
	props := make(map[string]any, len(attrs))
	for k, v := range attrs {
		props[k] = v
	}
	return props
}

const maxDescription = 1024

func defaultDeadLetterReason(res handler.Result) (string, string) {
	reason := "eventfn: permanent failure"
	var de *handler.DecodeError
	if errors.As(res.Err, &de) {
		reason = "eventfn: decode error"
	}
	desc := ""
	if res.Err != nil {
		desc = res.Err.Error()
	}
	desc = textutil.Truncate(desc, maxDescription)
	return reason, desc
}

func isLockLost(err error) bool {
	var sbErr *azservicebus.Error
	return errors.As(err, &sbErr) && sbErr.Code == azservicebus.CodeLockLost
}
