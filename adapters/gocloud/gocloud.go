// Package gocloud runs a handler.Handler as a long-running consumer of any
// subscription that gocloud.dev/pubsub opens by URL: awssqs://, gcppubsub://,
// azuresb://, kafka://, nats://, rabbit://, mem:// (import the driver
// package for the scheme you use). It is the container and local-run
// counterpart of the serverless adapters.
//
// # Message Delivery Semantics
//
// Messages are received in batches and run through handler.Process. By
// outcome: Ack acknowledges; Retry nacks where the driver can (otherwise the
// message returns after the subscription's ack deadline); Reject publishes
// the message to Options.DeadLetter and acknowledges it once the publish
// succeeded, or nacks it when no dead-letter topic is configured so the
// broker's own dead-letter policy applies. With Options.MaxAttempts, a
// message that keeps failing is dead-lettered the same way after that many
// attempts (counted in process, for brokers without a native policy).
//
// Message.ID is the "eventfn-id" metadata (MetaID) when the producer set
// one, else handler.AttrMessageID (kept by a dead-lettered or redriven
// copy), else the driver's LoggableID (the SQS MessageId, the Pub/Sub
// message ID). When ctx is cancelled, Receive stops receiving, finishes the
// batch in flight and returns nil.
//
// gocloud.dev has no portable ordering key, so Message.OrderingKey is
// empty and messages run concurrently whatever their group: consume SQS
// FIFO queues, ordered Pub/Sub subscriptions and Service Bus sessions with
// the platform's own adapter.
//
// # Results, Logs and Dead Letters
//
// Options.OnResult, a handler.ResultHook, is called once per message after
// it was acked, nacked or dead-lettered, and Options.Logger receives one
// line for every message not acknowledged, with its ID, source, queue,
// settlement and reason. A dead-lettered copy keeps the original metadata
// and gets the handler.Attr* attributes (error text cut to
// handler.MaxAttrError bytes, outcome, message ID, source, queue), MetaID,
// and MetaAttempts, the failed attempts this process saw.
//
// # As
//
// Message.As reaches the *pubsub.Message, and through it the driver's types
// with (*pubsub.Message).As.
package gocloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	"gocloud.dev/pubsub"

	"github.com/eventfn/eventfn/adapters/internal/settled"
	"github.com/eventfn/eventfn/handler"
)

// Metadata keys the consumer reads and writes, next to the handler.Attr*
// dead-letter attributes.
const (
	// MetaID, set by a producer, is used as Message.ID.
	MetaID = "eventfn-id"
	// MetaAttempts is added to dead-lettered messages: the failed attempts
	// this process saw.
	MetaAttempts = "eventfn-attempts"
)

// Options configure Receive. The zero value is ready to use.
type Options struct {
	// BatchSize is the most messages run through one handler.Process call.
	// Default: 10.
	BatchSize int
	// BatchWindow is how long to wait for more messages after the first of a
	// batch arrives. Default: 5ms.
	BatchWindow time.Duration
	// Workers is the number of batches processed at once. Default: 1.
	Workers int
	// Process configures the batch engine.
	Process *handler.ProcessOptions
	// DeadLetter receives rejected messages (and, with MaxAttempts, messages
	// that failed too often). Default: none, rejected messages are nacked.
	DeadLetter *pubsub.Topic
	// MaxAttempts dead-letters a message after that many failed attempts seen
	// by this process. Requires DeadLetter. Default: 0, never.
	MaxAttempts int
	// Source overrides Message.Source. Default: "gocloud:" + the URL scheme
	// given to Open, or "gocloud".
	Source string
	// Queue is reported as Message.Queue.
	Queue string
	// Logger receives one line for every message not acknowledged (with its
	// ID, source, queue, settlement and reason). Default: slog.Default().
	Logger *slog.Logger
	// OnResult, if set, is called once per message after it was settled:
	// SettledAck, SettledRetry (nacked, or left for the ack deadline) or
	// SettledDeadLetter (published to DeadLetter and acked). It must be
	// safe for concurrent use and fast.
	OnResult handler.ResultHook
}

// Open opens the subscription at url and returns it with Options.Source and
// Options.Queue filled in for that URL.
func Open(ctx context.Context, rawURL string) (*pubsub.Subscription, *Options, error) {
	sub, err := pubsub.OpenSubscription(ctx, rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("gocloud: open %q: %w", rawURL, err)
	}
	o := &Options{Source: "gocloud", Queue: rawURL}
	if u, err := url.Parse(rawURL); err == nil && u.Scheme != "" {
		o.Source = handler.SourceGoCloudPrefix + u.Scheme
		o.Queue = u.Host + u.Path
	}
	return sub, o, nil
}

// Receive consumes sub with h until ctx is cancelled (returning nil after the
// batches in flight are settled) or the subscription fails (returning its
// error). It is safe to call once per subscription.
func Receive(ctx context.Context, sub *pubsub.Subscription, h handler.Handler, opts *Options) error {
	c := newConsumer(sub, h, opts)
	var wg sync.WaitGroup
	errc := make(chan error, c.o.Workers)
	for i := 0; i < c.o.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- c.loop(ctx)
		}()
	}
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

type consumer struct {
	sub *pubsub.Subscription
	h   handler.Handler
	o   Options

	mu       sync.Mutex
	attempts map[string]int // failed attempts by message ID, for MaxAttempts
}

func newConsumer(sub *pubsub.Subscription, h handler.Handler, opts *Options) *consumer {
	c := &consumer{sub: sub, h: h, attempts: map[string]int{}}
	if opts != nil {
		c.o = *opts
	}
	if c.o.BatchSize <= 0 {
		c.o.BatchSize = 10
	}
	if c.o.BatchWindow <= 0 {
		c.o.BatchWindow = 5 * time.Millisecond
	}
	if c.o.Workers <= 0 {
		c.o.Workers = 1
	}
	if c.o.Source == "" {
		c.o.Source = "gocloud"
	}
	if c.o.Logger == nil {
		c.o.Logger = slog.Default()
	}
	return c
}

func (c *consumer) loop(ctx context.Context) error {
	for {
		batch, err := c.receive(ctx)
		if len(batch) > 0 {
			// Settle what was received even when ctx is being cancelled.
			c.process(context.WithoutCancel(ctx), batch)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("gocloud: receive: %w", err)
		}
	}
}

// receive blocks for one message, then gathers more for up to BatchWindow.
func (c *consumer) receive(ctx context.Context) ([]*pubsub.Message, error) {
	first, err := c.sub.Receive(ctx)
	if err != nil {
		return nil, err
	}
	batch := []*pubsub.Message{first}
	if c.o.BatchSize == 1 {
		return batch, nil
	}
	wctx, cancel := context.WithTimeout(ctx, c.o.BatchWindow)
	defer cancel()
	for len(batch) < c.o.BatchSize {
		m, err := c.sub.Receive(wctx)
		if err != nil {
			break // window over (or ctx cancelled: the caller sees it next time)
		}
		batch = append(batch, m)
	}
	return batch, nil
}

func (c *consumer) toMessage(pm *pubsub.Message) *handler.Message {
	m := &handler.Message{
		ID:         pm.Metadata[MetaID],
		Body:       pm.Body,
		Attributes: pm.Metadata,
		Source:     c.o.Source,
		Queue:      c.o.Queue,
	}
	if m.ID == "" {
		m.ID = pm.Metadata[handler.AttrMessageID]
	}
	if m.ID == "" {
		m.ID = pm.LoggableID
	}
	c.mu.Lock()
	m.DeliveryAttempt = c.attempts[m.ID] + 1
	c.mu.Unlock()
	m.SetRaw(pm)
	return m
}

func (c *consumer) process(ctx context.Context, batch []*pubsub.Message) {
	msgs := make([]*handler.Message, len(batch))
	for i, pm := range batch {
		msgs[i] = c.toMessage(pm)
	}
	for i, r := range handler.Process(ctx, c.h, msgs, c.o.Process) {
		settled.Done(ctx, c.o.Logger, c.o.OnResult, "gocloud", c.settle(ctx, batch[i], r))
	}
}

// settle acks, nacks or dead-letters one message and says what it did.
func (c *consumer) settle(ctx context.Context, pm *pubsub.Message, r handler.Result) handler.Report {
	id := r.Message.ID
	rep := handler.Report{Result: r, Settlement: handler.SettledRetry, Err: r.Err}
	if r.Outcome == handler.Ack {
		c.forget(id)
		pm.Ack()
		rep.Settlement, rep.Err = handler.SettledAck, nil
		return rep
	}
	attempts := c.fail(id)
	deadLetter := r.Outcome == handler.Reject || (c.o.MaxAttempts > 0 && attempts >= c.o.MaxAttempts)
	if deadLetter && c.o.DeadLetter != nil {
		md := make(map[string]string, len(pm.Metadata)+7)
		for k, v := range pm.Metadata {
			md[k] = v
		}
		for k, v := range settled.DeadLetterAttributes(r.Message, r.Outcome, r.Err) {
			md[k] = v
		}
		md[MetaID] = id
		md[MetaAttempts] = strconv.Itoa(attempts)
		if err := c.o.DeadLetter.Send(ctx, &pubsub.Message{Body: pm.Body, Metadata: md}); err != nil {
			rep.Err = fmt.Errorf("gocloud: dead-letter publish: %w (handler: %w)", err, r.Err)
		} else {
			c.forget(id)
			pm.Ack()
			rep.Settlement = handler.SettledDeadLetter
			return rep
		}
	}
	if pm.Nackable() {
		pm.Nack()
	} // else: redelivered when the ack deadline passes
	return rep
}

func (c *consumer) fail(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.attempts) > 100_000 { // bound memory: forget everything rather than grow
		clear(c.attempts)
	}
	c.attempts[id]++
	return c.attempts[id]
}

func (c *consumer) forget(id string) {
	c.mu.Lock()
	delete(c.attempts, id)
	c.mu.Unlock()
}
