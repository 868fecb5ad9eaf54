package sqs

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventfn/eventfn/handler"
)

// newMessage turns an SQS record into a handler.Message, unwrapping an SNS
// envelope when o allows it. The error, already wrapped with
// handler.Permanent, says why the record cannot be handled.
func (o *Options) newMessage(rec *events.SQSMessage, native any) (*handler.Message, error) {
	if o.MaxBodyBytes > 0 && len(rec.Body) > o.MaxBodyBytes {
		return nil, handler.Permanent(fmt.Errorf("%w: %d bytes, limit %d", ErrBodyTooLarge, len(rec.Body), o.MaxBodyBytes))
	}
	m := &handler.Message{
		ID:              rec.MessageId,
		Body:            []byte(rec.Body),
		Source:          handler.SourceSQS,
		Queue:           rec.EventSourceARN,
		DeliveryAttempt: atoi(rec.Attributes["ApproximateReceiveCount"]),
		PublishedAt:     millis(rec.Attributes["SentTimestamp"]),
		Attributes:      sqsAttributes(rec.MessageAttributes),
	}
	if isFIFO(rec.EventSourceARN) {
		m.OrderingKey = rec.Attributes["MessageGroupId"]
	}
	if !o.Raw && len(rec.MessageAttributes) == 0 {
		env, ok, err := o.envelope(rec.Body)
		if err != nil {
			return nil, err
		}
		if ok {
			m.ID = env.MessageID
			m.Body = []byte(env.Message)
			m.Source = handler.SourceSNS
			m.PublishedAt = env.Timestamp
			if o.TrustSNSAttributes {
				m.Attributes, err = snsAttributes(env.MessageAttributes)
				if err != nil {
					return nil, err
				}
			}
			traceHeader(m, rec)
			setRaw(m, native, *rec, *env)
			return m, nil
		}
	}
	traceHeader(m, rec)
	setRaw(m, native, *rec)
	return m, nil
}

// AttrTraceHeader is the Message.Attributes key under which the record's
// AWSTraceHeader system attribute (the producer's X-Ray trace context) is
// exposed, unless a message attribute of that name is already there.
const AttrTraceHeader = "AWSTraceHeader"

func traceHeader(m *handler.Message, rec *events.SQSMessage) {
	th := rec.Attributes[AttrTraceHeader]
	if th == "" {
		return
	}
	if _, taken := m.Attributes[AttrTraceHeader]; taken {
		return
	}
	if m.Attributes == nil {
		m.Attributes = make(map[string]string, 1)
	}
	m.Attributes[AttrTraceHeader] = th
}

// setRaw records the native values behind m, native (the SDK's message, for
// the Consumer) first when set.
func setRaw(m *handler.Message, native any, raw ...any) {
	if native != nil {
		raw = append([]any{native}, raw...)
	}
	m.SetRaw(raw...)
}

// envelopeProbe holds the fields every SNS notification has, undecoded.
type envelopeProbe struct {
	Type, MessageId, TopicArn, Timestamp, Message json.RawMessage //nolint:staticcheck // SNS's spelling
}

var notification = []byte(`"Notification"`)

// envelope reports whether body is an SNS notification envelope this
// handler unwraps, and decodes it. A body with the envelope's shape whose
// fields do not decode is a permanent ErrBadEnvelope.
func (o *Options) envelope(body string) (*events.SNSEntity, bool, error) {
	b := []byte(body)
	if !bytes.Contains(b, notification) {
		return nil, false, nil
	}
	var p envelopeProbe
	if json.Unmarshal(b, &p) != nil || !bytes.Equal(p.Type, notification) ||
		p.MessageId == nil || p.TopicArn == nil || p.Timestamp == nil || p.Message == nil {
		return nil, false, nil // not an envelope: a raw body
	}
	if len(o.SNSTopicARNs) > 0 {
		var topic string
		if json.Unmarshal(p.TopicArn, &topic) != nil || !slices.Contains(o.SNSTopicARNs, topic) {
			return nil, false, nil // not from a topic we unwrap
		}
	}
	var env events.SNSEntity
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, false, handler.Permanent(fmt.Errorf("%w: %w", ErrBadEnvelope, err))
	}
	if env.MessageID == "" {
		return nil, false, handler.Permanent(fmt.Errorf("%w: empty MessageId", ErrBadEnvelope))
	}
	if _, err := snsAttributes(env.MessageAttributes); err != nil {
		return nil, false, err
	}
	return &env, true, nil
}

// sqsAttributes flattens SQS message attributes to strings; binary values
// are base64-encoded.
func sqsAttributes(in map[string]events.SQSMessageAttribute) map[string]string {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		switch {
		case v.StringValue != nil:
			out[k] = *v.StringValue
		case v.BinaryValue != nil:
			out[k] = base64.StdEncoding.EncodeToString(v.BinaryValue)
		default:
			out[k] = ""
		}
	}
	return out
}

// snsAttributes flattens SNS message attributes ({"Type": ..., "Value": ...}
// objects; binary values stay base64 as SNS sends them).
func snsAttributes(in map[string]any) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, handler.Permanent(fmt.Errorf("%w: message attribute %q is %T, want an object", ErrBadEnvelope, k, v))
		}
		s, ok := obj["Value"].(string)
		if !ok {
			return nil, handler.Permanent(fmt.Errorf("%w: message attribute %q has Value %T, want a string", ErrBadEnvelope, k, obj["Value"]))
		}
		out[k] = s
	}
	return out, nil
}

// snsMessage turns a direct SNS record into a handler.Message. SNS itself
// invoked the function, so its attributes are trusted.
func (o *Options) snsMessage(rec *events.SNSEventRecord) (*handler.Message, error) {
	e := &rec.SNS
	if e.MessageID == "" {
		return nil, fmt.Errorf("%w: SNS record without MessageId", ErrMalformedRecord)
	}
	if o.MaxBodyBytes > 0 && len(e.Message) > o.MaxBodyBytes {
		return nil, handler.Permanent(fmt.Errorf("%w: %d bytes, limit %d", ErrBodyTooLarge, len(e.Message), o.MaxBodyBytes))
	}
	attrs, err := snsAttributes(e.MessageAttributes)
	if err != nil {
		return nil, err
	}
	m := &handler.Message{
		ID:          e.MessageID,
		Body:        []byte(e.Message),
		Attributes:  attrs,
		Source:      handler.SourceSNS,
		Queue:       e.TopicArn,
		PublishedAt: e.Timestamp,
	}
	m.SetRaw(*rec, *e)
	return m, nil
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func millis(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(n)
}
