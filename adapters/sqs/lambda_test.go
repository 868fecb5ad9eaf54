package sqs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventfn/eventfn/adapters/sqs"
	"github.com/eventfn/eventfn/handler"
)

var errTransient = errors.New("transient")

func TestInvokeReportsExactlyTheFailedRecords(t *testing.T) {
	tests := []struct {
		name    string
		recs    []events.SQSMessage
		fn      func(m *handler.Message) error
		wantRun []string
		want    []string
	}{
		{
			name:    "a batch that succeeds reports nothing",
			recs:    []events.SQSMessage{rec("a", "{}"), rec("b", "{}")},
			wantRun: []string{"a", "b"},
			want:    []string{},
		},
		{
			name: "a transient error is reported for its record only",
			recs: []events.SQSMessage{rec("a", "{}"), rec("b", "{}"), rec("c", "{}")},
			fn: func(m *handler.Message) error {
				if m.ID == "b" {
					return errTransient
				}
				return nil
			},
			wantRun: []string{"a", "b", "c"},
			want:    []string{"b"},
		},
		{
			name: "a permanent error without a dead-letter queue is reported",
			recs: []events.SQSMessage{rec("a", "{}"), rec("b", "{}")},
			fn: func(m *handler.Message) error {
				if m.ID == "a" {
					return handler.Permanent(errors.New("bad order"))
				}
				return nil
			},
			wantRun: []string{"a", "b"},
			want:    []string{"a"},
		},
		{
			name: "a panic fails only its record",
			recs: []events.SQSMessage{rec("a", "{}"), rec("b", "{}")},
			fn: func(m *handler.Message) error {
				if m.ID == "b" {
					panic("boom")
				}
				return nil
			},
			wantRun: []string{"a", "b"},
			want:    []string{"b"},
		},
		{
			name: "the same message twice in one batch is reported once",
			recs: []events.SQSMessage{rec("a", "{}"), rec("a", "{}")},
			fn: func(m *handler.Message) error {
				return errTransient
			},
			wantRun: []string{"a", "a"},
			want:    []string{"a"},
		},
		{
			name:    "an empty body reaches the handler",
			recs:    []events.SQSMessage{rec("a", "")},
			wantRun: []string{"a"},
			want:    []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{fn: tt.fn}
			l := sqs.NewLambda(r, &sqs.Options{ReportBatchItemFailures: true})
			resp, err := l.Invoke(context.Background(), payload(t, tt.recs...))
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			if got := failureIDs(resp); !slices.Equal(got, tt.want) {
				t.Errorf("batchItemFailures = %v, want %v", got, tt.want)
			}
			if got := r.ids(); !slices.Equal(got, tt.wantRun) {
				t.Errorf("handled %v, want %v", got, tt.wantRun)
			}
		})
	}
}

func TestHandleSQSMatchesInvoke(t *testing.T) {
	var ev events.SQSEvent
	if err := json.Unmarshal(readTestdata(t, "sqs-event.json"), &ev); err != nil {
		t.Fatal(err)
	}
	r := &recorder{fn: func(m *handler.Message) error {
		if m.DeliveryAttempt == 3 {
			return errTransient
		}
		return nil
	}}
	l := sqs.NewLambda(r, &sqs.Options{ReportBatchItemFailures: true})
	resp, err := l.HandleSQS(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := failureIDs(resp), []string{"2e1424d4-f796-459a-8184-9c92662be6da"}; !slices.Equal(got, want) {
		t.Errorf("batchItemFailures = %v, want %v", got, want)
	}
	resp2, err := l.Invoke(context.Background(), readTestdata(t, "sqs-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(failureIDs(resp), failureIDs(resp2)) {
		t.Errorf("Invoke reported %v, HandleSQS %v", failureIDs(resp2), failureIDs(resp))
	}
}

func TestMessageFieldsFromAnSQSRecord(t *testing.T) {
	r := &recorder{}
	l := sqs.NewLambda(r, nil)
	if _, err := l.Invoke(context.Background(), readTestdata(t, "sqs-event.json")); err != nil {
		t.Fatal(err)
	}
	m := r.byID("19dd0b57-b21e-4ac1-bd88-01bbb068cb78")
	if m == nil {
		t.Fatal("first record not handled")
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Body", string(m.Body), `{"id":"o-1","customer":"c-1","amount_cents":1200}`},
		{"Source", m.Source, handler.SourceSQS},
		{"Queue", m.Queue, testARN},
		{"OrderingKey", m.OrderingKey, ""},
		{"DeliveryAttempt", m.DeliveryAttempt, 1},
		{"PublishedAt", m.PublishedAt.UnixMilli(), int64(1731900000000)},
		{"string attribute", m.Attribute("tenant"), "acme"},
		{"binary attribute (base64)", m.Attribute("blob"), "aGVsbG8="},
		{"trace header", m.Attribute("AWSTraceHeader"), "Root=1-673b0f60-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	var native events.SQSMessage
	if !m.As(&native) || native.ReceiptHandle != "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a..." {
		t.Errorf("As(*events.SQSMessage) = %v, receipt handle %q", m.As(&native), native.ReceiptHandle)
	}
	var env events.SNSEntity
	if m.As(&env) {
		t.Error("As(*events.SNSEntity) succeeded for a raw SQS message")
	}
	if m2 := r.byID("2e1424d4-f796-459a-8184-9c92662be6da"); m2 == nil || m2.DeliveryAttempt != 3 || m2.Attributes != nil {
		t.Errorf("second record: %+v", m2)
	}
}

func TestMalformedRecordsFailAlone(t *testing.T) {
	r := &recorder{}
	log, buf := newLogger()
	l := sqs.NewLambda(r, &sqs.Options{Logger: log, ReportBatchItemFailures: true})
	resp, err := l.Invoke(context.Background(), readTestdata(t, "malformed-records.json"))
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	want := []string{"body-is-a-number", "attributes-is-a-list", "attribute-value-is-a-number"}
	if got := failureIDs(resp); !slices.Equal(got, want) {
		t.Errorf("batchItemFailures = %v, want %v", got, want)
	}
	if got := r.ids(); !slices.Equal(got, []string{"good-1", "good-2"}) {
		t.Errorf("handled %v, want the two good records", got)
	}
	if !strings.Contains(buf.String(), "malformed record") {
		t.Errorf("log does not name the malformed records:\n%s", buf)
	}
}

func TestInvokeRejectsEventsWithoutIdentifiableRecords(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    error
	}{
		{"not JSON", `{"Records": [`, sqs.ErrUnknownEvent},
		{"a JSON array", `[1, 2]`, sqs.ErrUnknownEvent},
		{"a JSON string", `"hello"`, sqs.ErrUnknownEvent},
		{"an object without Records", `{"detail-type": "Scheduled Event"}`, sqs.ErrUnknownEvent},
		{"a Kinesis event", string(readTestdata(t, "kinesis-event.json")), sqs.ErrUnknownEvent},
		{"Records that is not a list", `{"Records": {"messageId": "x"}}`, sqs.ErrMalformedEvent},
		{"records that are not objects", `{"Records": [1, 2]}`, sqs.ErrUnknownEvent},
		{"a record without messageId", `{"Records": [{"eventSource": "aws:sqs", "body": "{}"}, {"messageId": "b", "eventSource": "aws:sqs", "body": "{}"}]}`, sqs.ErrMalformedEvent},
		{"a record whose messageId is a number", `{"Records": [{"messageId": 7, "eventSource": "aws:sqs", "body": "{}"}]}`, sqs.ErrMalformedEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{}
			log, _ := newLogger()
			_, err := sqs.NewLambda(r, &sqs.Options{Logger: log}).Invoke(context.Background(), json.RawMessage(tt.payload))
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if got := r.ids(); len(got) != 0 {
				t.Errorf("handler ran for %v", got)
			}
		})
	}
}

func TestInvokeWithNoRecordsDoesNothing(t *testing.T) {
	resp, err := sqs.NewLambda(&recorder{}, nil).Invoke(context.Background(), json.RawMessage(`{"Records": []}`))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Errorf("Invoke = %v, %v; want no failures, no error", resp, err)
	}
}

func TestBodySizeLimit(t *testing.T) {
	big := `"` + strings.Repeat("x", 300<<10) + `"` // 300 KiB: over the old 256 KB limit, under SQS's 1 MiB
	huge := strings.Repeat("y", sqs.DefaultMaxBodyBytes+1)
	tests := []struct {
		name string
		max  int
		want []string
	}{
		{"the default limit admits a 300 KiB body and rejects one over 1 MiB", 0, []string{"huge"}},
		{"a lower limit rejects both", 256 << 10, []string{"big", "huge"}},
		{"a negative limit admits both", -1, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{}
			log, _ := newLogger()
			resp, err := sqs.NewLambda(r, &sqs.Options{MaxBodyBytes: tt.max, Logger: log, ReportBatchItemFailures: true}).
				Invoke(context.Background(), payload(t, rec("ok", "{}"), rec("big", big), rec("huge", huge)))
			if err != nil {
				t.Fatal(err)
			}
			if got := failureIDs(resp); !slices.Equal(got, tt.want) {
				t.Errorf("batchItemFailures = %v, want %v", got, tt.want)
			}
			for _, id := range tt.want {
				if r.byID(id) != nil {
					t.Errorf("handler ran for oversized %s", id)
				}
			}
		})
	}
}

func TestFIFOGroupFailsMidway(t *testing.T) {
	fifo := func(id, group string) events.SQSMessage {
		r := rec(id, "{}")
		r.EventSourceARN = "arn:aws:sqs:us-east-1:123456789012:orders.fifo"
		r.Attributes["MessageGroupId"] = group
		return r
	}
	r := &recorder{fn: func(m *handler.Message) error {
		if m.ID == "a2" {
			return errTransient
		}
		return nil
	}}
	resp, err := sqs.NewLambda(r, &sqs.Options{ReportBatchItemFailures: true}).Invoke(context.Background(),
		payload(t, fifo("a1", "A"), fifo("b1", "B"), fifo("a2", "A"), fifo("b2", "B"), fifo("a3", "A")))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := failureIDs(resp), []string{"a2", "a3"}; !slices.Equal(got, want) {
		t.Errorf("batchItemFailures = %v, want %v", got, want)
	}
	if got, want := r.ids(), []string{"a1", "a2", "b1", "b2"}; !slices.Equal(got, want) {
		t.Errorf("handled %v, want %v (a3 must not run after a2 failed)", got, want)
	}
	if m := r.byID("a1"); m.OrderingKey != "A" {
		t.Errorf("OrderingKey = %q, want the MessageGroupId", m.OrderingKey)
	}
}

func TestFIFOGroupStopsAtARecordThatCannotRun(t *testing.T) {
	fifo := func(id, group, body string) events.SQSMessage {
		r := rec(id, body)
		r.EventSourceARN = "arn:aws:sqs:us-east-1:123456789012:orders.fifo"
		r.Attributes["MessageGroupId"] = group
		return r
	}
	tests := []struct {
		name string
		opts sqs.Options
		bad  events.SQSMessage
	}{
		{"an oversized body", sqs.Options{MaxBodyBytes: 8}, fifo("a2", "A", `"far too large"`)},
		{"a bad SNS envelope", sqs.Options{}, fifo("a2", "A", `{"Type":"Notification","MessageId":7,"TopicArn":"t","Timestamp":"x","Message":"m"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{}
			log, _ := newLogger()
			tt.opts.Logger, tt.opts.ReportBatchItemFailures = log, true
			resp, err := sqs.NewLambda(r, &tt.opts).Invoke(context.Background(),
				payload(t, fifo("a1", "A", "{}"), tt.bad, fifo("b1", "B", "{}"), fifo("a3", "A", "{}")))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := failureIDs(resp), []string{"a2", "a3"}; !slices.Equal(got, want) {
				t.Errorf("batchItemFailures = %v, want %v", got, want)
			}
			if got, want := r.ids(), []string{"a1", "b1"}; !slices.Equal(got, want) {
				t.Errorf("handled %v, want %v (a3 must not run after a2 failed)", got, want)
			}
		})
	}
}

func TestStandardQueueIgnoresMessageGroupId(t *testing.T) {
	x := rec("a", "{}")
	x.Attributes["MessageGroupId"] = "tenant-1" // fair queues set it on standard queues
	r := &recorder{}
	if _, err := sqs.NewLambda(r, nil).Invoke(context.Background(), payload(t, x)); err != nil {
		t.Fatal(err)
	}
	if k := r.byID("a").OrderingKey; k != "" {
		t.Errorf("OrderingKey = %q on a standard queue", k)
	}
}

func TestDeadlineReportsUnstartedRecordsAndReturnsInTime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var recs []events.SQSMessage
	for i := range 10 {
		recs = append(recs, rec(fmt.Sprint("m", i), "{}"))
	}
	r := &recorder{fn: func(m *handler.Message) error {
		if m.ID == "m1" {
			<-time.After(time.Hour) // stuck: Process abandons it
		}
		return nil
	}}
	l := sqs.NewLambda(r, &sqs.Options{
		Process:                 &handler.ProcessOptions{Concurrency: 1, DeadlineMargin: 600 * time.Millisecond},
		ReportBatchItemFailures: true,
	})
	resp, err := l.Invoke(ctx, payload(t, recs...))
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Errorf("Invoke returned after the deadline")
	}
	want := []string{"m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"}
	if got := failureIDs(resp); !slices.Equal(got, want) {
		t.Errorf("batchItemFailures = %v, want %v", got, want)
	}
	if got := r.ids(); !slices.Equal(got, []string{"m0", "m1"}) {
		t.Errorf("handled %v, want only m0 and the stuck m1", got)
	}
}

func TestWarnsOnceWithoutReportBatchItemFailures(t *testing.T) {
	failing := &recorder{fn: func(*handler.Message) error { return errTransient }}
	const warning = "response reports failed records"
	t.Run("warns once per process", func(t *testing.T) {
		log, buf := newLogger()
		l := sqs.NewLambda(failing, &sqs.Options{Logger: log})
		for range 3 {
			if _, err := l.Invoke(context.Background(), payload(t, rec("a", "{}"))); err != nil {
				t.Fatal(err)
			}
		}
		if n := strings.Count(buf.String(), warning); n != 1 {
			t.Errorf("%d warnings, want 1:\n%s", n, buf)
		}
	})
	t.Run("the option silences it", func(t *testing.T) {
		log, buf := newLogger()
		l := sqs.NewLambda(failing, &sqs.Options{Logger: log, ReportBatchItemFailures: true})
		if _, err := l.Invoke(context.Background(), payload(t, rec("a", "{}"))); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(buf.String(), warning) {
			t.Errorf("warned despite the option:\n%s", buf)
		}
	})
	t.Run("the environment variable silences it", func(t *testing.T) {
		t.Setenv(sqs.EnvReportBatchItemFailures, "true")
		log, buf := newLogger()
		l := sqs.NewLambda(failing, &sqs.Options{Logger: log})
		if _, err := l.Invoke(context.Background(), payload(t, rec("a", "{}"))); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(buf.String(), warning) {
			t.Errorf("warned despite %s:\n%s", sqs.EnvReportBatchItemFailures, buf)
		}
	})
	t.Run("no failures, no warning", func(t *testing.T) {
		log, buf := newLogger()
		l := sqs.NewLambda(&recorder{}, &sqs.Options{Logger: log})
		if _, err := l.Invoke(context.Background(), payload(t, rec("a", "{}"))); err != nil {
			t.Fatal(err)
		}
		if buf.String() != "" {
			t.Errorf("logged:\n%s", buf)
		}
	})
}

func TestDirectSNS(t *testing.T) {
	var ev events.SNSEvent
	if err := json.Unmarshal(readTestdata(t, "sns-event.json"), &ev); err != nil {
		t.Fatal(err)
	}
	t.Run("success returns nil and the message carries the SNS fields", func(t *testing.T) {
		r := &recorder{}
		if _, err := sqs.NewLambda(r, nil).HandleSNS(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		m := r.byID("95df01b4-ee98-5cb9-9903-4c221d41eb5e")
		if m == nil || m.Source != handler.SourceSNS || m.Attribute("tenant") != "acme" ||
			m.Queue != "arn:aws:sns:us-east-1:123456789012:orders-topic" || string(m.Body) != `{"id":"o-9","customer":"c-9","amount_cents":900}` {
			t.Fatalf("message = %+v", m)
		}
		var rec events.SNSEventRecord
		if !m.As(&rec) || rec.EventSubscriptionArn == "" {
			t.Error("As(*events.SNSEventRecord) failed")
		}
	})
	t.Run("a failed record fails the invocation", func(t *testing.T) {
		r := &recorder{fn: func(*handler.Message) error { return errTransient }}
		log, _ := newLogger()
		_, err := sqs.NewLambda(r, &sqs.Options{Logger: log}).HandleSNS(context.Background(), ev)
		if !errors.Is(err, sqs.ErrSNSFailed) || !errors.Is(err, errTransient) {
			t.Errorf("err = %v, want ErrSNSFailed wrapping the handler's error", err)
		}
	})
	t.Run("Invoke recognises an SNS event", func(t *testing.T) {
		r := &recorder{fn: func(*handler.Message) error { return errTransient }}
		log, _ := newLogger()
		_, err := sqs.NewLambda(r, &sqs.Options{Logger: log}).Invoke(context.Background(), readTestdata(t, "sns-event.json"))
		if !errors.Is(err, sqs.ErrSNSFailed) || len(r.ids()) != 1 {
			t.Errorf("err = %v, handled %v", err, r.ids())
		}
	})
	t.Run("a malformed SNS record fails the invocation without running", func(t *testing.T) {
		r := &recorder{}
		log, _ := newLogger()
		_, err := sqs.NewLambda(r, &sqs.Options{Logger: log}).Invoke(context.Background(),
			json.RawMessage(`{"Records":[{"EventSource":"aws:sns","Sns":{"MessageId":"x","Message":"{}","Timestamp":"not a time"}}]}`))
		if !errors.Is(err, sqs.ErrSNSFailed) || !errors.Is(err, sqs.ErrMalformedRecord) || len(r.ids()) != 0 {
			t.Errorf("err = %v, handled %v", err, r.ids())
		}
	})
	t.Run("a permanent failure goes to the explicit dead-letter queue", func(t *testing.T) {
		r := &recorder{fn: func(*handler.Message) error { return handler.Permanent(errors.New("bad order")) }}
		c := &fakeClient{}
		_, err := sqs.NewLambda(r, &sqs.Options{Client: c, DeadLetterQueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/dlq"}).HandleSNS(context.Background(), ev)
		if err != nil {
			t.Fatalf("err = %v, want nil after the dead-letter send", err)
		}
		sent := c.sentMessages()
		if len(sent) != 1 || *sent[0].MessageBody != ev.Records[0].SNS.Message || *sent[0].MessageAttributes[handler.AttrMessageID].StringValue != "95df01b4-ee98-5cb9-9903-4c221d41eb5e" {
			t.Errorf("sent %+v", sent)
		}
	})
}

func TestConcurrentInvocationsAreIndependent(t *testing.T) {
	var n atomic.Int64
	l := sqs.NewLambda(handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		n.Add(1)
		return nil
	}), nil)
	done := make(chan error)
	for i := range 8 {
		go func() {
			_, err := l.Invoke(context.Background(), payload(t, rec(fmt.Sprint("x", i), "{}"), rec(fmt.Sprint("y", i), "{}")))
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if n.Load() != 16 {
		t.Errorf("handled %d, want 16", n.Load())
	}
}
