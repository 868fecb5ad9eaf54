package pubsub

import (
	"context"
	"fmt"
	"runtime/debug"
	"strconv"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/pubsub/v2"

	"github.com/eventfn/eventfn/handler"
)

// DeadLetterFunc keeps a message the handler rejected with
// handler.Permanent somewhere it is not lost, typically a dead-letter topic.
// When it returns nil the message is acknowledged; when it fails the message
// is reported failed (nacked, non-2xx) so the platform redelivers it. It must
// be safe for concurrent use.
type DeadLetterFunc func(ctx context.Context, m *handler.Message, cause error) error

// callDeadLetter runs fn and turns a panic into an error, so a bug in a
// DeadLetterFunc keeps the message (nacked) instead of taking down the
// process and every message in flight with it.
func callDeadLetter(ctx context.Context, fn DeadLetterFunc, m *handler.Message, cause error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("pubsub: dead-letter function: %w", &handler.PanicError{Value: v, Stack: debug.Stack()})
		}
	}()
	return fn(ctx, m, cause)
}

// Attributes PublishDeadLetters adds to a dead-lettered copy, next to the
// original attributes.
const (
	AttrError           = "eventfn-error"            // the handler's error text, at most 1024 bytes
	AttrMessageID       = "eventfn-message-id"       // the original message ID
	AttrSubscription    = "eventfn-subscription"     // where it was received
	AttrDeliveryAttempt = "eventfn-delivery-attempt" // the attempt that was rejected, when known
	AttrOrderingKey     = "eventfn-ordering-key"     // the original ordering key, when set
	AttrPublishTime     = "eventfn-publish-time"     // the original publish time, RFC 3339
	AttrRejectedAt      = "eventfn-rejected-at"      // when the handler rejected it, RFC 3339
)

// maxAttrValue is Pub/Sub's limit on an attribute value.
const maxAttrValue = 1024

// PublishDeadLetters returns a DeadLetterFunc that publishes each rejected
// message to p (the dead-letter topic) with its body and attributes, plus
// the Attr* attributes describing the rejection, and waits for the publish
// to be confirmed. The copy gets a new message ID and no ordering key (p
// need not enable message ordering); AttrMessageID and AttrOrderingKey keep
// the originals. The caller owns p and stops it after the receiver returns.
func PublishDeadLetters(p *pubsub.Publisher) DeadLetterFunc {
	return func(ctx context.Context, m *handler.Message, cause error) error {
		attrs := make(map[string]string, len(m.Attributes)+7)
		for k, v := range m.Attributes {
			attrs[k] = v
		}
		attrs[AttrError] = truncate(cause.Error(), maxAttrValue)
		attrs[AttrMessageID] = m.ID
		attrs[AttrRejectedAt] = time.Now().UTC().Format(time.RFC3339Nano)
		if m.Queue != "" {
			attrs[AttrSubscription] = truncate(m.Queue, maxAttrValue)
		}
		if m.DeliveryAttempt > 0 {
			attrs[AttrDeliveryAttempt] = strconv.Itoa(m.DeliveryAttempt)
		}
		if m.OrderingKey != "" {
			attrs[AttrOrderingKey] = m.OrderingKey
		}
		if !m.PublishedAt.IsZero() {
			attrs[AttrPublishTime] = m.PublishedAt.UTC().Format(time.RFC3339Nano)
		}
		if _, err := p.Publish(ctx, &pubsub.Message{Data: m.Body, Attributes: attrs}).Get(ctx); err != nil {
			return fmt.Errorf("pubsub: publish message %s to dead-letter topic %s: %w", m.ID, p, err)
		}
		return nil
	}
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
