package main

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

func (s *eventSpec) awsRegion() string { return envDefault(s.region, "AWS_REGION", "us-east-1") }

func (s *eventSpec) arn(service, name, def string) string {
	if name == "" {
		name = def
	}
	if strings.HasPrefix(name, "arn:") {
		return name
	}
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, s.awsRegion(), s.account, name)
}

// fifoGroup returns the FIFO message group ID: --group-id, else
// --ordering-key.
func (s *eventSpec) fifoGroup() string {
	if s.groupID != "" {
		return s.groupID
	}
	return s.orderingKey
}

// queueARN returns the event source ARN; a FIFO group makes the queue FIFO.
func (s *eventSpec) queueARN() (string, error) {
	group := s.fifoGroup()
	def := "orders"
	if group != "" {
		def = "orders.fifo"
	}
	arn := s.arn("sqs", s.queue, def)
	fifo := strings.HasSuffix(arn, ".fifo")
	switch {
	case group != "" && !fifo:
		return "", usageErrorf("--group-id needs a FIFO queue: its name ends in .fifo, not %q", arn)
	case group == "" && fifo:
		return "", usageErrorf("queue %s is FIFO: give --group-id", arn)
	}
	return arn, nil
}

// sqsEvent builds an SQS event; with sns, each body is wrapped in the SNS
// envelope SNS writes to a subscribed queue with raw delivery off.
func (s *eventSpec) sqsEvent(msgs []eventMessage, sns bool) (events.SQSEvent, error) {
	arn, err := s.queueARN()
	if err != nil {
		return events.SQSEvent{}, err
	}
	group := s.fifoGroup()
	sent := s.now.Add(-150 * time.Millisecond).UnixMilli()
	ev := events.SQSEvent{Records: make([]events.SQSMessage, 0, len(msgs))}
	for i, m := range msgs {
		body := string(m.Body)
		id := m.ID
		var attrs map[string]events.SQSMessageAttribute
		if sns {
			env, err := s.snsEnvelope(m)
			if err != nil {
				return events.SQSEvent{}, err
			}
			body, id = env, newUUID()
		} else {
			attrs = sqsAttributes(m.Attrs)
		}
		rec := events.SQSMessage{
			MessageId:     id,
			ReceiptHandle: receiptHandle(),
			Body:          body,
			Md5OfBody:     md5Hex([]byte(body)),
			Attributes: map[string]string{
				"ApproximateReceiveCount":          strconv.Itoa(s.attempt),
				"SentTimestamp":                    strconv.FormatInt(sent, 10),
				"SenderId":                         "AIDAIENQZJOLO23YVJ4VO",
				"ApproximateFirstReceiveTimestamp": strconv.FormatInt(sent+12, 10),
			},
			MessageAttributes: attrs,
			EventSourceARN:    arn,
			EventSource:       "aws:sqs",
			AWSRegion:         s.awsRegion(),
		}
		if len(attrs) > 0 {
			rec.Md5OfMessageAttributes = md5OfAttributes(attrs)
		} else {
			rec.MessageAttributes = map[string]events.SQSMessageAttribute{}
		}
		if group != "" {
			rec.Attributes["MessageGroupId"] = group
			dedup := s.dedupID
			if dedup == "" {
				dedup = m.ID
			}
			rec.Attributes["MessageDeduplicationId"] = dedup
			rec.Attributes["SequenceNumber"] = fmt.Sprintf("1886%016d", i+1)
		}
		ev.Records = append(ev.Records, rec)
	}
	return ev, nil
}

func sqsAttributes(a map[string]string) map[string]events.SQSMessageAttribute {
	if len(a) == 0 {
		return nil
	}
	out := make(map[string]events.SQSMessageAttribute, len(a))
	for k, v := range a {
		v := v
		out[k] = events.SQSMessageAttribute{StringValue: &v, DataType: "String", StringListValues: []string{}, BinaryListValues: [][]byte{}}
	}
	return out
}

// snsEnvelope is the JSON SNS writes to a subscribed SQS queue, with the
// field names and order SNS uses.
type snsEnvelope struct {
	Type              string                  `json:"Type"`
	MessageID         string                  `json:"MessageId"`
	SequenceNumber    string                  `json:"SequenceNumber,omitempty"`
	TopicArn          string                  `json:"TopicArn"`
	Subject           string                  `json:"Subject,omitempty"`
	Message           string                  `json:"Message"`
	Timestamp         string                  `json:"Timestamp"`
	SignatureVersion  string                  `json:"SignatureVersion,omitempty"`
	Signature         string                  `json:"Signature,omitempty"`
	SigningCertURL    string                  `json:"SigningCertURL,omitempty"`
	UnsubscribeURL    string                  `json:"UnsubscribeURL"`
	MessageAttributes map[string]snsAttrValue `json:"MessageAttributes,omitempty"`
}

type snsAttrValue struct {
	Type  string `json:"Type"`
	Value string `json:"Value"`
}

func (s *eventSpec) topicARN() string { return s.arn("sns", s.topic, "orders-topic") }

func (s *eventSpec) snsEnvelope(m eventMessage) (string, error) {
	topic := s.topicARN()
	env := snsEnvelope{
		Type:             "Notification",
		MessageID:        m.ID,
		TopicArn:         topic,
		Message:          string(m.Body),
		Timestamp:        s.now.Add(-200 * time.Millisecond).Format("2006-01-02T15:04:05.000Z"),
		SignatureVersion: "1",
		Signature:        base64.StdEncoding.EncodeToString([]byte("EXAMPLE-" + randomToken(32))),
		SigningCertURL:   "https://sns." + s.awsRegion() + ".amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
		UnsubscribeURL:   "https://sns." + s.awsRegion() + ".amazonaws.com/?Action=Unsubscribe&SubscriptionArn=" + topic + ":" + newUUID(),
	}
	if strings.HasSuffix(topic, ".fifo") {
		env.SequenceNumber = "10000000000000001000"
		env.SignatureVersion, env.Signature, env.SigningCertURL = "", "", ""
	}
	if len(m.Attrs) > 0 {
		env.MessageAttributes = map[string]snsAttrValue{}
		for k, v := range m.Attrs {
			env.MessageAttributes[k] = snsAttrValue{Type: "String", Value: v}
		}
	}
	b, err := json.MarshalIndent(env, "", "  ")
	return string(b), err
}

// snsEvent builds the event of a Lambda function subscribed to a topic.
func (s *eventSpec) snsEvent(msgs []eventMessage) (events.SNSEvent, error) {
	if s.fifoGroup() != "" {
		return events.SNSEvent{}, usageErrorf("--group-id: Lambda cannot subscribe to an SNS FIFO topic; use sns-sqs with a FIFO queue")
	}
	topic := s.topicARN()
	ev := events.SNSEvent{Records: make([]events.SNSEventRecord, 0, len(msgs))}
	for _, m := range msgs {
		var attrs map[string]any
		if len(m.Attrs) > 0 {
			attrs = map[string]any{}
			for k, v := range m.Attrs {
				attrs[k] = map[string]any{"Type": "String", "Value": v}
			}
		}
		ev.Records = append(ev.Records, events.SNSEventRecord{
			EventVersion:         "1.0",
			EventSubscriptionArn: topic + ":" + newUUID(),
			EventSource:          "aws:sns",
			SNS: events.SNSEntity{
				Signature:         base64.StdEncoding.EncodeToString([]byte("EXAMPLE-" + randomToken(32))),
				MessageID:         m.ID,
				Type:              "Notification",
				TopicArn:          topic,
				MessageAttributes: attrs,
				SignatureVersion:  "1",
				Timestamp:         s.now.Add(-200 * time.Millisecond).Truncate(time.Millisecond),
				SigningCertURL:    "https://sns." + s.awsRegion() + ".amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
				Message:           string(m.Body),
				UnsubscribeURL:    "https://sns." + s.awsRegion() + ".amazonaws.com/?Action=Unsubscribe&SubscriptionArn=" + topic + ":" + newUUID(),
			},
		})
	}
	return ev, nil
}

func receiptHandle() string {
	return "AQEB" + base64.StdEncoding.EncodeToString([]byte(randomToken(48)))
}

func md5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// md5OfAttributes is SQS's MD5OfMessageAttributes of string attributes:
// for each attribute in name order, the length-prefixed name, data type,
// transport type 1 (string) and length-prefixed value.
func md5OfAttributes(a map[string]events.SQSMessageAttribute) string {
	names := make([]string, 0, len(a))
	for k := range a {
		names = append(names, k)
	}
	sort.Strings(names)
	h := md5.New()
	put := func(b []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	for _, k := range names {
		v := a[k]
		put([]byte(k))
		put([]byte(v.DataType))
		h.Write([]byte{1})
		if v.StringValue != nil {
			put([]byte(*v.StringValue))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
