package pull

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	gpubsub "cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/eventfn/eventfn/adapters/internal/settled"
	"github.com/eventfn/eventfn/adapters/pubsub"
	"github.com/eventfn/eventfn/handler"
)

// ReceiveOptions configure Receive. The zero value is ready to use.
type ReceiveOptions struct {
	// Settings are the client's receive settings (streams, lease
	// extension, flow control by bytes). Default:
	// gpubsub.DefaultReceiveSettings. Receive overrides
	// MaxOutstandingMessages with Concurrency and ignores ShutdownOptions
	// (ShutdownTimeout below applies instead).
	Settings *gpubsub.ReceiveSettings
	// HandlerTimeout bounds one handler run; a handler still running then
	// is abandoned and its message nacked. It is capped at the lease
	// extension (Settings.MaxExtension, default 60 min), after which Pub/Sub
	// redelivers the message anyway. Default: that cap.
	HandlerTimeout time.Duration
	// Process configures the batch engine: Concurrency bounds how many
	// messages are handled at once (the client's MaxOutstandingMessages),
	// DeadlineMargin is kept before each handler's deadline, and Unordered
	// ignores ordering keys (no per-key blocking after a failure; set it
	// for subscriptions without message ordering). Default: handler.Process's
	// defaults.
	Process *handler.ProcessOptions
	// MaxRetryDelay caps the delay honoured for handler.RetryAfter. A
	// message held for its delay keeps one of Concurrency's slots.
	// Default: 10 min (Pub/Sub's longest ack deadline).
	MaxRetryDelay time.Duration
	// MaxDeliveryAttempts is the subscription's dead-letter policy maximum.
	// Receive reads it from the subscription when it may (it needs
	// pubsub.subscriptions.get); set it when it may not. It lets an ordering
	// key move on as soon as its failed message is dead-lettered.
	MaxDeliveryAttempts int
	// OrderingBlockTimeout lifts a key blocked by a failed message that
	// has not come back for this long (it may have been dead-lettered
	// without Receive knowing). Default: 15 min.
	OrderingBlockTimeout time.Duration
	// ShutdownTimeout is how long handlers still running when ctx is done
	// may keep running; then their contexts are cancelled and, DeadlineMargin
	// later, their messages are nacked. Default: 30 s.
	ShutdownTimeout time.Duration
	// StartTimeout bounds the subscription check Receive makes before it
	// starts. Default: 30 s.
	StartTimeout time.Duration
	// DeadLetter, when set, keeps messages the handler rejects with
	// handler.Permanent (PublishDeadLetters publishes them to a topic) and
	// acks them. Without it a rejected message is nacked, so the
	// subscription's dead-letter policy applies after its max attempts.
	DeadLetter pubsub.DeadLetterFunc
	// Logger receives one line for every message that is not acknowledged
	// (with its ID, source, queue, settlement and reason) and shutdown
	// abandonments. Default: slog.Default().
	Logger *slog.Logger
	// OnResult, if set, is called once per delivered message after it was
	// acked or nacked, messages nacked behind a failed message of their
	// ordering key included. It must be safe for concurrent use and fast.
	OnResult handler.ResultHook
}

// Receive pulls messages from subscription (an ID or
// "projects/P/subscriptions/S") with client and handles each with h until
// ctx is done, then shuts down gracefully and returns nil; it returns an
// error when the subscription cannot be used (not found, unreachable within
// StartTimeout) or the client stops with a non-retryable error.
//
// Each message runs through handler.Process and is settled by its outcome:
// Ack acks; Retry nacks (for handler.RetryAfter(d, ...) the message stays
// leased for d, up to MaxRetryDelay, and is nacked then, so the redelivery
// comes no sooner than d); Reject is dead-lettered through
// Options.DeadLetter and acked, or nacked when there is none or it fails.
//
// Messages of one ordering key run one at a time, in order, when the
// subscription enables message ordering; after one fails, the later
// messages of its key that Pub/Sub had already delivered are nacked without
// running (handler.ErrOrderingKeyFailed) until it succeeds, so the order
// holds across redeliveries. DeliveryAttempt is set when the subscription
// has a dead-letter policy.
//
// On shutdown the client stops pulling and nacks what it had not handed
// out; RetryAfter holds end at once with a nack; running handlers get
// ShutdownTimeout to finish. Receive returns once every message is settled.
// A message nacked at shutdown can come back only when the client's lease
// on it ends (at most ReceiveSettings.MaxDurationPerAckExtension) rather
// than at once: the client library (v2.9.0) sometimes loses a nack while it
// shuts down. It is never acked: delivery stays at least once.
func Receive(ctx context.Context, client *gpubsub.Client, subscription string, h handler.Handler, opts *ReceiveOptions) error {
	if h == nil {
		return errors.New("pull: Receive: nil handler")
	}
	if client == nil {
		return errors.New("pull: Receive: nil client")
	}
	var o ReceiveOptions
	if opts != nil {
		o = *opts
	}
	sub := client.Subscriber(subscription)
	settings := gpubsub.DefaultReceiveSettings
	if o.Settings != nil {
		settings = *o.Settings
	}
	var po handler.ProcessOptions
	if o.Process != nil {
		po = *o.Process
	}
	if po.Concurrency <= 0 {
		po.Concurrency = handler.DefaultConcurrency
	}
	if po.DeadlineMargin <= 0 {
		po.DeadlineMargin = handler.DefaultDeadlineMargin
	}
	settings.MaxOutstandingMessages = po.Concurrency
	// Receive's own ShutdownTimeout governs shutdown: the client must wait
	// for every callback, or it returns while messages are still unsettled.
	settings.ShutdownOptions = nil
	maxExt := settings.MaxExtension
	if maxExt <= 0 {
		maxExt = gpubsub.DefaultReceiveSettings.MaxExtension
	}
	if o.HandlerTimeout <= 0 || o.HandlerTimeout > maxExt {
		o.HandlerTimeout = maxExt
	}
	if o.MaxRetryDelay <= 0 {
		o.MaxRetryDelay = 10 * time.Minute
	}
	if o.OrderingBlockTimeout <= 0 {
		o.OrderingBlockTimeout = 15 * time.Minute
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 30 * time.Second
	}
	sub.ReceiveSettings = settings

	r := &receiver{h: h, o: o, margin: po.DeadlineMargin, unordered: po.Unordered, name: sub.String(), log: o.Logger}
	if r.log == nil {
		r.log = slog.Default()
	}
	if err := r.check(ctx, client); err != nil {
		return err
	}
	r.gate = &keyGate{maxAttempts: r.o.MaxDeliveryAttempts, timeout: o.OrderingBlockTimeout}

	// hard ends ShutdownTimeout after ctx: running handlers are cancelled.
	hard, hardCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hardCancel()
	stopTimer := context.AfterFunc(ctx, func() { time.AfterFunc(o.ShutdownTimeout, hardCancel) })
	defer stopTimer()
	r.soft, r.hard = ctx, hard

	if err := sub.Receive(ctx, r.handle); err != nil {
		return fmt.Errorf("pull: receive %s: %w", r.name, err)
	}
	return nil
}

type receiver struct {
	h         handler.Handler
	o         ReceiveOptions
	margin    time.Duration // ProcessOptions.DeadlineMargin
	unordered bool          // ProcessOptions.Unordered, or no ordering on the subscription
	name      string
	log       *slog.Logger
	gate      *keyGate
	soft      context.Context // the caller's ctx: done when shutdown starts
	hard      context.Context // done ShutdownTimeout later
}

// check reads the subscription: it must exist and be reachable. Without
// permission to read it, Receive goes on with the options it was given.
func (r *receiver) check(ctx context.Context, client *gpubsub.Client) error {
	cctx, cancel := context.WithTimeout(ctx, r.o.StartTimeout)
	defer cancel()
	s, err := client.SubscriptionAdminClient.GetSubscription(cctx, &pubsubpb.GetSubscriptionRequest{Subscription: r.name})
	switch status.Code(err) {
	case codes.OK:
	case codes.PermissionDenied:
		r.log.InfoContext(ctx, "pull: cannot read the subscription's settings; using ReceiveOptions", slog.String("subscription", r.name))
		return nil
	default:
		return fmt.Errorf("pull: subscription %s: %w", r.name, err)
	}
	if r.o.MaxDeliveryAttempts == 0 && s.GetDeadLetterPolicy() != nil {
		r.o.MaxDeliveryAttempts = int(s.GetDeadLetterPolicy().GetMaxDeliveryAttempts())
		if r.o.MaxDeliveryAttempts == 0 {
			r.o.MaxDeliveryAttempts = 5 // the service's default
		}
	}
	if !s.GetEnableMessageOrdering() {
		r.unordered = true
	}
	return nil
}

func (r *receiver) message(pm *gpubsub.Message) *handler.Message {
	m := &handler.Message{
		ID:          pm.ID,
		Body:        pm.Data,
		Attributes:  pm.Attributes,
		Source:      handler.SourcePubSub,
		Queue:       r.name,
		OrderingKey: pm.OrderingKey,
		PublishedAt: pm.PublishTime,
	}
	if pm.DeliveryAttempt != nil {
		m.DeliveryAttempt = *pm.DeliveryAttempt
	}
	if r.unordered {
		m.OrderingKey = "" // the handler still sees it through As
	}
	m.SetRaw(pm)
	return m
}

// handle is the client's callback for one message.
func (r *receiver) handle(cbCtx context.Context, pm *gpubsub.Message) {
	m := r.message(pm)
	if !r.gate.admit(m, time.Now()) {
		pm.Nack()
		r.done(cbCtx, handler.Report{
			Result:     handler.Result{Message: m, Err: handler.ErrOrderingKeyFailed, Outcome: handler.Retry},
			Settlement: handler.SettledRetry, Err: handler.ErrOrderingKeyFailed,
		})
		return
	}
	res := r.run(cbCtx, m)
	r.done(cbCtx, r.settle(m, pm, res))
}

func (r *receiver) done(ctx context.Context, rep handler.Report) {
	settled.Done(context.WithoutCancel(ctx), r.log, r.o.OnResult, "pull", rep)
}

// run processes m with a context that survives ctx's cancellation until the
// shutdown timeout, bounded by HandlerTimeout.
func (r *receiver) run(cbCtx context.Context, m *handler.Message) handler.Result {
	mctx, cancel := context.WithTimeout(context.WithoutCancel(cbCtx), r.o.HandlerTimeout)
	defer cancel()
	stop := context.AfterFunc(r.hard, cancel)
	defer stop()
	done := make(chan handler.Result, 1)
	go func() {
		done <- handler.Process(mctx, r.h, []*handler.Message{m}, &handler.ProcessOptions{
			Concurrency: 1, DeadlineMargin: r.margin, Unordered: true,
		})[0]
	}()
	select {
	case res := <-done:
		return res
	case <-r.hard.Done():
	}
	// Shutdown ran out: give a cancelled handler the margin to return.
	t := time.NewTimer(r.margin)
	defer t.Stop()
	select {
	case res := <-done:
		return res
	case <-t.C:
		return handler.Result{Message: m, Err: ErrShutdown, Outcome: handler.Retry, Ran: true}
	}
}

// settle acks or nacks pm by res's outcome and says what it did.
func (r *receiver) settle(m *handler.Message, pm *gpubsub.Message, res handler.Result) handler.Report {
	now := time.Now()
	rep := handler.Report{Result: res, Settlement: handler.SettledRetry, Err: res.Err}
	switch res.Outcome {
	case handler.Ack:
		r.gate.settled(m, true, now)
		pm.Ack()
		rep.Settlement, rep.Err = handler.SettledAck, nil
		return rep
	case handler.Reject:
		if r.o.DeadLetter != nil {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.hard), 30*time.Second)
			err := settled.Call("pull: dead-letter function", func() error { return r.o.DeadLetter(ctx, m, res.Err) })
			cancel()
			if err == nil {
				r.gate.settled(m, true, now)
				pm.Ack()
				rep.Settlement = handler.SettledDeadLetter
				return rep
			}
			rep.Err = fmt.Errorf("%w (rejected by the handler: %w)", err, res.Err)
		}
		r.gate.settled(m, false, now)
		pm.Nack()
	default:
		r.gate.settled(m, false, now)
		if d, ok := handler.RetryDelay(res.Err); ok && d > 0 {
			r.hold(min(d, r.o.MaxRetryDelay))
		}
		pm.Nack()
	}
	return rep
}

// hold keeps a message leased for d (the client extends its ack deadline)
// or until shutdown starts.
func (r *receiver) hold(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.soft.Done():
	}
}

// ErrShutdown is reported for a message whose handler was still running
// when Receive's shutdown timeout ran out; the message is nacked.
var ErrShutdown = errors.New("pull: receiver shut down before the handler finished")
