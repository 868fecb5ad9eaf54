package pubsub

import (
	"context"
	"strconv"
	"time"

	"github.com/eventfn/eventfn/adapters/internal/settled"
	"github.com/eventfn/eventfn/handler"
)

// DeadLetterFunc keeps a message the handler rejected with
// handler.Permanent somewhere it is not lost, typically a dead-letter topic.
// When it returns nil the message is acknowledged; when it fails the message
// is reported failed (nacked, non-2xx) so the platform redelivers it. A
// panic in it is recovered and counts as a failure. It must be safe for
// concurrent use.
type DeadLetterFunc func(ctx context.Context, m *handler.Message, cause error) error

// Pub/Sub-specific attributes DeadLetterAttributes adds next to the
// handler.Attr* ones, for what a dead-letter topic would otherwise lose.
const (
	AttrDeliveryAttempt = "eventfn-delivery-attempt" // the attempt that was rejected, when known
	AttrOrderingKey     = "eventfn-ordering-key"     // the original ordering key, when set
	AttrPublishTime     = "eventfn-publish-time"     // the original publish time, RFC 3339
	AttrRejectedAt      = "eventfn-rejected-at"      // when the handler rejected it, RFC 3339
)

// DeadLetterAttributes returns the attributes of a dead-lettered copy of m:
// m's own attributes, the dead-letter attributes of package handler
// (handler.AttrError with cause's text cut to handler.MaxAttrError bytes,
// AttrOutcome, AttrMessageID, AttrSource, AttrQueue) and the Attr*
// constants above. A DeadLetterFunc that publishes copies uses it; it
// returns a new map.
func DeadLetterAttributes(m *handler.Message, cause error) map[string]string {
	attrs := make(map[string]string, len(m.Attributes)+9)
	for k, v := range m.Attributes {
		attrs[k] = v
	}
	for k, v := range settled.DeadLetterAttributes(m, handler.Classify(cause), cause) {
		attrs[k] = v
	}
	attrs[AttrRejectedAt] = time.Now().UTC().Format(time.RFC3339Nano)
	if m.DeliveryAttempt > 0 {
		attrs[AttrDeliveryAttempt] = strconv.Itoa(m.DeliveryAttempt)
	}
	if m.OrderingKey != "" {
		attrs[AttrOrderingKey] = m.OrderingKey
	}
	if !m.PublishedAt.IsZero() {
		attrs[AttrPublishTime] = m.PublishedAt.UTC().Format(time.RFC3339Nano)
	}
	return attrs
}
