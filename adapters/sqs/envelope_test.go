package sqs_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventfn/eventfn/adapters/sqs"
	"github.com/eventfn/eventfn/handler"
)

const (
	snsID    = "95df01b4-ee98-5cb9-9903-4c221d41eb5e"
	sqsID    = "c80e8021-a70a-42c7-a470-796e1186f753"
	snsTopic = "arn:aws:sns:us-east-1:123456789012:orders-topic"
	order9   = `{"id":"o-9","customer":"c-9","amount_cents":900}`
)

// envelopeRecord returns the SNS-in-SQS record of testdata with its body
// replaced by the JSON encoding of env.
func envelopeRecord(t *testing.T, env map[string]any) events.SQSMessage {
	t.Helper()
	var ev events.SQSEvent
	if err := json.Unmarshal(readTestdata(t, "sns-in-sqs-event.json"), &ev); err != nil {
		t.Fatal(err)
	}
	r := ev.Records[0]
	if env != nil {
		b, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		r.Body = string(b)
	}
	return r
}

func validEnvelope() map[string]any {
	return map[string]any{
		"Type":             "Notification",
		"MessageId":        snsID,
		"TopicArn":         snsTopic,
		"Message":          order9,
		"Timestamp":        "2024-11-18T03:20:00.123Z",
		"SignatureVersion": "1",
		"Signature":        "EXAMPLE",
		"MessageAttributes": map[string]any{
			"tenant": map[string]any{"Type": "String", "Value": "acme"},
		},
	}
}

func TestSNSEnvelopes(t *testing.T) {
	with := func(k string, v any) map[string]any {
		e := validEnvelope()
		if v == nil {
			delete(e, k)
		} else {
			e[k] = v
		}
		return e
	}
	tests := []struct {
		name     string
		rec      func(t *testing.T) events.SQSMessage
		opts     sqs.Options
		wantID   string // "" when the record must fail
		wantBody string
		wantAttr string // Attribute("tenant")
	}{
		{
			name:     "a captured envelope is unwrapped; its attributes are not trusted by default",
			rec:      func(t *testing.T) events.SQSMessage { return envelopeRecord(t, nil) },
			wantID:   snsID,
			wantBody: order9,
		},
		{
			name:     "TrustSNSAttributes promotes the envelope's attributes",
			rec:      func(t *testing.T) events.SQSMessage { return envelopeRecord(t, nil) },
			opts:     sqs.Options{TrustSNSAttributes: true},
			wantID:   snsID,
			wantBody: order9,
			wantAttr: "acme",
		},
		{
			name:     "a listed topic is unwrapped",
			rec:      func(t *testing.T) events.SQSMessage { return envelopeRecord(t, nil) },
			opts:     sqs.Options{SNSTopicARNs: []string{snsTopic}},
			wantID:   snsID,
			wantBody: order9,
		},
		{
			name:   "an unlisted topic passes through raw",
			rec:    func(t *testing.T) events.SQSMessage { return envelopeRecord(t, validEnvelope()) },
			opts:   sqs.Options{SNSTopicARNs: []string{"arn:aws:sns:us-east-1:123456789012:other"}, TrustSNSAttributes: true},
			wantID: sqsID,
		},
		{
			name:   "Raw passes an envelope through untouched",
			rec:    func(t *testing.T) events.SQSMessage { return envelopeRecord(t, validEnvelope()) },
			opts:   sqs.Options{Raw: true, TrustSNSAttributes: true},
			wantID: sqsID,
		},
		{
			name: "a body with SQS message attributes is a raw delivery",
			rec: func(t *testing.T) events.SQSMessage {
				r := envelopeRecord(t, validEnvelope())
				s := "raw"
				r.MessageAttributes = map[string]events.SQSMessageAttribute{"tenant": {StringValue: &s, DataType: "String"}}
				return r
			},
			opts:     sqs.Options{TrustSNSAttributes: true},
			wantID:   sqsID,
			wantAttr: "raw",
		},
		{
			name:   "a notification without Message is not an envelope",
			rec:    func(t *testing.T) events.SQSMessage { return envelopeRecord(t, with("Message", nil)) },
			opts:   sqs.Options{TrustSNSAttributes: true},
			wantID: sqsID,
		},
		{
			name: "another Type is not an envelope",
			rec: func(t *testing.T) events.SQSMessage {
				return envelopeRecord(t, with("Type", "SubscriptionConfirmation"))
			},
			wantID: sqsID,
		},
		{
			name: "invalid JSON that mentions Notification is a raw body",
			rec: func(t *testing.T) events.SQSMessage {
				r := envelopeRecord(t, nil)
				r.Body = `{"Type": "Notification", "MessageId": `
				return r
			},
			wantID: sqsID,
		},
		{
			name: "an envelope with a bad Timestamp fails alone",
			rec:  func(t *testing.T) events.SQSMessage { return envelopeRecord(t, with("Timestamp", "yesterday")) },
		},
		{
			name: "an envelope whose Message is not a string fails alone",
			rec: func(t *testing.T) events.SQSMessage {
				return envelopeRecord(t, with("Message", map[string]any{"id": "o-9"}))
			},
		},
		{
			name: "an envelope with an empty MessageId fails alone",
			rec:  func(t *testing.T) events.SQSMessage { return envelopeRecord(t, with("MessageId", "")) },
		},
		{
			name: "an envelope whose attribute is not an object fails alone",
			rec: func(t *testing.T) events.SQSMessage {
				return envelopeRecord(t, with("MessageAttributes", map[string]any{"tenant": "acme"}))
			},
		},
		{
			name: "an envelope whose attribute Value is not a string fails alone",
			rec: func(t *testing.T) events.SQSMessage {
				return envelopeRecord(t, with("MessageAttributes", map[string]any{"n": map[string]any{"Type": "Number", "Value": 7}}))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{}
			opts := tt.opts
			opts.Logger, _ = newLogger()
			opts.ReportBatchItemFailures = true
			x := tt.rec(t)
			resp, err := sqs.NewLambda(r, &opts).Invoke(context.Background(), payload(t, x, rec("other", "{}")))
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantID == "" {
				if got := failureIDs(resp); !slices.Equal(got, []string{x.MessageId}) {
					t.Errorf("batchItemFailures = %v, want only the bad envelope", got)
				}
				if got := r.ids(); !slices.Equal(got, []string{"other"}) {
					t.Errorf("handled %v, want only the other record", got)
				}
				return
			}
			if len(resp.BatchItemFailures) != 0 {
				t.Fatalf("batchItemFailures = %v", failureIDs(resp))
			}
			m := r.byID(tt.wantID)
			if m == nil {
				t.Fatalf("no message with ID %s; handled %v", tt.wantID, r.ids())
			}
			if tt.wantBody != "" && string(m.Body) != tt.wantBody {
				t.Errorf("Body = %s, want %s", m.Body, tt.wantBody)
			}
			if tt.wantID == sqsID && string(m.Body) != x.Body {
				t.Errorf("raw Body = %s, want the record's body untouched", m.Body)
			}
			if got := m.Attribute("tenant"); got != tt.wantAttr {
				t.Errorf("Attribute(tenant) = %q, want %q", got, tt.wantAttr)
			}
			var env events.SNSEntity
			unwrapped := tt.wantID == snsID
			if m.As(&env) != unwrapped {
				t.Errorf("As(*events.SNSEntity) = %v, want %v", !unwrapped, unwrapped)
			}
			if unwrapped {
				var native events.SQSMessage
				if env.TopicArn != snsTopic || m.Source != handler.SourceSNS || m.PublishedAt.IsZero() || !m.As(&native) || native.MessageId != sqsID {
					t.Errorf("unwrapped message: %+v, envelope %+v", m, env)
				}
			}
		})
	}
}

func TestSNSDuplicateDeliveriesShareTheID(t *testing.T) {
	a, b := envelopeRecord(t, nil), envelopeRecord(t, nil)
	b.MessageId, b.ReceiptHandle = "second-sqs-id", "rh-second"
	r := &recorder{}
	if _, err := sqs.NewLambda(r, nil).Invoke(context.Background(), payload(t, a, b)); err != nil {
		t.Fatal(err)
	}
	if got := r.ids(); !slices.Equal(got, []string{snsID, snsID}) {
		t.Errorf("IDs = %v, want the SNS MessageId twice", got)
	}
}
