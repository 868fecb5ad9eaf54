package sqs

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// eventKind is what an invocation payload holds.
type eventKind int

const (
	kindUnknown eventKind = iota
	kindSQS
	kindSNS
)

// lambdaRecord decodes a record of either event. encoding/json matches
// field names case-insensitively, so SQS's "eventSource" and SNS's
// "EventSource" land in the same field.
type lambdaRecord struct {
	events.SQSMessage
	EventVersion         string            `json:"EventVersion"`
	EventSubscriptionArn string            `json:"EventSubscriptionArn"` //nolint:staticcheck // AWS's spelling
	SNS                  *events.SNSEntity `json:"Sns"`
}

// decodedEvent is an invocation payload split into records. A record that
// did not decode has a non-nil err (and whatever fields did decode).
type decodedEvent struct {
	kind eventKind
	sqs  []events.SQSMessage
	sns  []events.SNSEventRecord
	errs []error // per record, nil when the record decoded
}

// decodeEvent splits payload into records, decoding each one on its own so
// that a record with fields of the wrong type fails alone. It fails as a
// whole only when the payload is not an SQS or SNS event, or when a broken
// record does not even carry its message ID (Lambda could not be told which
// record failed).
func decodeEvent(payload []byte) (*decodedEvent, error) {
	// Fast path: one decode of the whole event, good for every record.
	var all struct {
		Records []lambdaRecord `json:"Records"`
	}
	if json.Unmarshal(payload, &all) == nil && all.Records != nil {
		if ev, ok := fastEvent(all.Records); ok {
			return ev, nil
		}
	}
	return slowDecodeEvent(payload)
}

// fastEvent builds the event from records that all decoded, if they are all
// well-formed records of one kind.
func fastEvent(recs []lambdaRecord) (*decodedEvent, bool) {
	if len(recs) == 0 {
		return &decodedEvent{}, true
	}
	ev := &decodedEvent{}
	switch recs[0].EventSource {
	case "aws:sqs":
		ev.kind = kindSQS
		ev.sqs = make([]events.SQSMessage, len(recs))
		for i := range recs {
			if recs[i].EventSource != "aws:sqs" || recs[i].MessageId == "" {
				return nil, false
			}
			ev.sqs[i] = recs[i].SQSMessage
		}
	case "aws:sns":
		ev.kind = kindSNS
		ev.sns = make([]events.SNSEventRecord, len(recs))
		for i := range recs {
			r := &recs[i]
			if r.EventSource != "aws:sns" || r.SNS == nil {
				return nil, false
			}
			ev.sns[i] = events.SNSEventRecord{EventVersion: r.EventVersion, EventSubscriptionArn: r.EventSubscriptionArn, EventSource: r.EventSource, SNS: *r.SNS}
		}
	default:
		return nil, false
	}
	return ev, true
}

// slowDecodeEvent decodes record by record, to tell which ones are broken.
func slowDecodeEvent(payload []byte) (*decodedEvent, error) {
	var top struct {
		Records *[]json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(payload, &top); err != nil {
		var probe map[string]json.RawMessage
		if json.Unmarshal(payload, &probe) == nil && probe["Records"] != nil {
			return nil, fmt.Errorf("%w: Records: %w", ErrMalformedEvent, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrUnknownEvent, err)
	}
	if top.Records == nil {
		return nil, fmt.Errorf("%w: no Records", ErrUnknownEvent)
	}
	raws := *top.Records
	recs := make([]lambdaRecord, len(raws))
	errs := make([]error, len(raws))
	ev := &decodedEvent{}
	for i, raw := range raws {
		errs[i] = json.Unmarshal(raw, &recs[i])
		if ev.kind == kindUnknown {
			switch recs[i].EventSource {
			case "aws:sqs":
				ev.kind = kindSQS
			case "aws:sns":
				ev.kind = kindSNS
			}
		}
	}
	if len(raws) > 0 && ev.kind == kindUnknown {
		return nil, fmt.Errorf("%w: eventSource %q", ErrUnknownEvent, recs[0].EventSource)
	}
	ev.errs = errs
	for i := range recs {
		r := &recs[i]
		switch ev.kind {
		case kindSQS:
			if r.MessageId == "" {
				return nil, fmt.Errorf("%w: record %d has no messageId", ErrMalformedEvent, i)
			}
			if errs[i] == nil && r.EventSource != "aws:sqs" {
				errs[i] = fmt.Errorf("eventSource %q in an SQS event", r.EventSource)
			}
			if errs[i] != nil {
				errs[i] = &RecordError{MessageID: r.MessageId, Index: i, Err: fmt.Errorf("%w: %w", ErrMalformedRecord, errs[i])}
				salvageOrdering(raws[i], &r.SQSMessage)
			}
			ev.sqs = append(ev.sqs, r.SQSMessage)
		case kindSNS:
			rec := events.SNSEventRecord{EventVersion: r.EventVersion, EventSubscriptionArn: r.EventSubscriptionArn, EventSource: r.EventSource}
			if r.SNS != nil {
				rec.SNS = *r.SNS
			}
			if errs[i] == nil && (r.EventSource != "aws:sns" || r.SNS == nil) {
				errs[i] = fmt.Errorf("eventSource %q without Sns in an SNS event", r.EventSource)
			}
			if errs[i] != nil {
				errs[i] = &RecordError{MessageID: rec.SNS.MessageID, Index: i, Err: fmt.Errorf("%w: %w", ErrMalformedRecord, errs[i])}
			}
			ev.sns = append(ev.sns, rec)
		}
	}
	return ev, nil
}

// salvageOrdering recovers, from a record that did not decode, the fields
// FIFO ordering needs: the queue ARN and the MessageGroupId, each kept only
// when it is a JSON string. What cannot be recovered stays empty, and
// runBatch then treats the record's group as unknown.
func salvageOrdering(raw json.RawMessage, rec *events.SQSMessage) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return
	}
	rec.EventSourceARN = ""
	group := ""
	for k, v := range fields {
		switch {
		case strings.EqualFold(k, "eventSourceARN"):
			if json.Unmarshal(v, &rec.EventSourceARN) != nil {
				rec.EventSourceARN = ""
			}
		case strings.EqualFold(k, "attributes"):
			var attrs map[string]json.RawMessage
			if json.Unmarshal(v, &attrs) == nil && json.Unmarshal(attrs["MessageGroupId"], &group) != nil {
				group = ""
			}
		}
	}
	if rec.Attributes == nil {
		rec.Attributes = make(map[string]string, 1)
	}
	if group == "" {
		delete(rec.Attributes, "MessageGroupId")
	} else {
		rec.Attributes["MessageGroupId"] = group
	}
}
