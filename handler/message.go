package handler

import (
	"reflect"
	"time"
)

// Source values set by the adapters shipped with eventfn.
const (
	SourceSQS        = "aws:sqs"
	SourceSNS        = "aws:sns"
	SourcePubSub     = "gcp:pubsub"
	SourceServiceBus = "azure:servicebus"
	// SourceGoCloudPrefix is followed by the URL scheme, as in "gocloud:mem".
	SourceGoCloudPrefix = "gocloud:"
)

// Message is the portable form of one delivery, whatever platform it came
// from. Adapters fill it in; handlers read it. A Message is not safe for
// concurrent mutation, but Process hands each message to one goroutine at a
// time.
type Message struct {
	// ID identifies the message and is stable across redeliveries: the SQS
	// MessageId, the SNS MessageId when an SNS envelope was unwrapped, the
	// Pub/Sub messageId, the Service Bus MessageId.
	ID string
	// Body is the payload, already decoded from any transport encoding
	// (base64, SNS envelope).
	Body []byte
	// Attributes are the message attributes (SQS/SNS), attributes (Pub/Sub)
	// or application properties (Service Bus), as strings.
	Attributes map[string]string
	// Source names the platform, one of the Source constants.
	Source string
	// Queue names where the message came from: a queue ARN, a subscription,
	// an entity path.
	Queue string
	// OrderingKey groups messages that must be handled in order: the SQS FIFO
	// MessageGroupId, the Pub/Sub ordering key, the Service Bus SessionId.
	// Empty means unordered.
	OrderingKey string
	// DeliveryAttempt is 1 on the first delivery, 2 on the first redelivery,
	// and so on; 0 when the platform does not say.
	DeliveryAttempt int
	// PublishedAt is when the producer published the message, if known.
	PublishedAt time.Time

	raw []any
}

// Attribute returns the attribute named key, or "" when it is absent.
func (m *Message) Attribute(key string) string {
	if m == nil {
		return ""
	}
	return m.Attributes[key]
}

// SetRaw records the platform's native values behind m (for example an
// events.SQSMessage, the SNS envelope it carried), so that handlers can reach
// them with As. It is meant for adapters; it replaces earlier values.
func (m *Message) SetRaw(raw ...any) { m.raw = raw }

// As sets target, which must be a non-nil pointer, to the first platform
// value behind m that is assignable to *target, and reports whether it found
// one. Each adapter's package documentation lists the types it supports under
// the heading "As".
//
//	var rec events.SQSMessage
//	if m.As(&rec) { ... rec.ReceiptHandle ... }
func (m *Message) As(target any) bool {
	if m == nil || target == nil {
		return false
	}
	tv := reflect.ValueOf(target)
	if tv.Kind() != reflect.Pointer || tv.IsNil() {
		return false
	}
	want := tv.Elem().Type()
	for _, r := range m.raw {
		if r == nil {
			continue
		}
		rv := reflect.ValueOf(r)
		if rv.Type().AssignableTo(want) {
			tv.Elem().Set(rv)
			return true
		}
		// A pointer to the wanted type is accepted too.
		if rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().Type().AssignableTo(want) {
			tv.Elem().Set(rv.Elem())
			return true
		}
	}
	return false
}
