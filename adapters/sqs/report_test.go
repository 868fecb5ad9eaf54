package sqs_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/eventfn/eventfn/adapters/internal/settled/settledtest"
	"github.com/eventfn/eventfn/adapters/sqs"
	"github.com/eventfn/eventfn/handler"
)

// checkSettlements asserts one report per message with the given
// settlement, and one log line naming each message that was not acked,
// with its reason.
func checkSettlements(t *testing.T, hooks *settledtest.Hooks, logs *settledtest.Logs, want map[string]handler.Settlement, reason map[string]string) {
	t.Helper()
	got := hooks.Get()
	lines := logs.ByMessage()
	for id, st := range want {
		rs := got[id]
		if len(rs) != 1 {
			t.Errorf("%s: hook called %d times, want once", id, len(rs))
			continue
		}
		if rs[0].Settlement != st {
			t.Errorf("%s: settlement %s, want %s (err %v)", id, rs[0].Settlement, st, rs[0].Err)
		}
		if st == handler.SettledAck {
			if rs[0].Err != nil {
				t.Errorf("%s: acked with Err %v", id, rs[0].Err)
			}
			if len(lines[id]) != 0 {
				t.Errorf("%s: acked message logged: %v", id, lines[id])
			}
			continue
		}
		if rs[0].Err == nil || !strings.Contains(rs[0].Err.Error(), reason[id]) {
			t.Errorf("%s: Err %v, want it to say %q", id, rs[0].Err, reason[id])
		}
		var settled []map[string]string
		for _, l := range lines[id] {
			if _, ok := l["settlement"]; ok {
				settled = append(settled, l)
			}
		}
		if len(settled) != 1 {
			t.Errorf("%s: %d settlement log lines, want 1: %v", id, len(settled), lines[id])
			continue
		}
		l := settled[0]
		if l["settlement"] != st.String() || !strings.Contains(l["error"], reason[id]) || l["source"] == "" || l["queue"] == "" {
			t.Errorf("%s: log line %v, want settlement %s, source, queue and reason %q", id, l, st, reason[id])
		}
	}
	if len(got) != len(want) {
		t.Errorf("hook saw %d messages, want %d: %v", len(got), len(want), got)
	}
}

func TestLambdaReportsEveryRecordOnceAndLogsFailures(t *testing.T) {
	c := &fakeClient{}
	logs := &settledtest.Logs{}
	hooks := &settledtest.Hooks{}
	h := handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		switch m.ID {
		case "flaky":
			return errTransient
		case "poison":
			return handler.Permanent(errors.New("amount must be positive"))
		}
		return nil
	})
	big := rec("big", strings.Repeat("x", 64))
	l := sqs.NewLambda(h, &sqs.Options{Client: c, DeadLetterQueueURL: dlqURL, MaxBodyBytes: 32,
		Logger: slog.New(logs), OnResult: hooks.Hook, ReportBatchItemFailures: true})
	if _, err := l.Invoke(context.Background(), payload(t, rec("ok", "{}"), rec("flaky", "{}"), rec("poison", "{}"), big)); err != nil {
		t.Fatal(err)
	}
	checkSettlements(t, hooks, logs,
		map[string]handler.Settlement{"ok": handler.SettledAck, "flaky": handler.SettledRetry, "poison": handler.SettledDeadLetter, "big": handler.SettledDeadLetter},
		map[string]string{"flaky": "transient", "poison": "amount must be positive", "big": "body too large"})

	// The dead-letter copies carry the one attribute scheme.
	sent := c.sentMessages()
	if len(sent) != 2 {
		t.Fatalf("sent %d dead letters, want 2", len(sent))
	}
	for _, in := range sent {
		a := func(k string) string { return aws.ToString(in.MessageAttributes[k].StringValue) }
		id := a(handler.AttrMessageID)
		if (id != "poison" && id != "big") || a(handler.AttrOutcome) != "reject" || a(handler.AttrSource) != handler.SourceSQS || a(handler.AttrQueue) != testARN || a(handler.AttrError) == "" {
			t.Errorf("dead-letter attributes %v", in.MessageAttributes)
		}
	}
}

func TestLambdaReportsAFailedDeadLetterSendAsRetry(t *testing.T) {
	c := &fakeClient{sendErr: errors.New("queue unreachable")}
	logs := &settledtest.Logs{}
	hooks := &settledtest.Hooks{}
	h := handler.HandlerFunc(func(context.Context, *handler.Message) error { return handler.Permanent(errors.New("never")) })
	l := sqs.NewLambda(h, &sqs.Options{Client: c, DeadLetterQueueURL: dlqURL, Logger: slog.New(logs), OnResult: hooks.Hook, ReportBatchItemFailures: true})
	resp, err := l.Invoke(context.Background(), payload(t, rec("p", "{}")))
	if err != nil || len(resp.BatchItemFailures) != 1 {
		t.Fatalf("Invoke = %v, %v; want p reported failed", resp, err)
	}
	checkSettlements(t, hooks, logs, map[string]handler.Settlement{"p": handler.SettledRetry}, map[string]string{"p": "queue unreachable"})
}

func TestDeadLetterErrorIsTruncatedUTF8Safely(t *testing.T) {
	c := &fakeClient{}
	long := strings.Repeat("é", handler.MaxAttrError) // 2 bytes each
	h := handler.HandlerFunc(func(context.Context, *handler.Message) error { return handler.Permanent(errors.New(long)) })
	log, _ := newLogger()
	if _, err := sqs.NewLambda(h, &sqs.Options{Client: c, DeadLetterQueueURL: dlqURL, Logger: log}).Invoke(context.Background(), payload(t, rec("p", "{}"))); err != nil {
		t.Fatal(err)
	}
	sent := c.sentMessages()
	if len(sent) != 1 {
		t.Fatalf("sent %d", len(sent))
	}
	e := aws.ToString(sent[0].MessageAttributes[handler.AttrError].StringValue)
	if len(e) > handler.MaxAttrError || len(e) < handler.MaxAttrError-4 || !strings.HasSuffix(e, "é") {
		t.Errorf("AttrError is %d bytes ending %q, want at most %d ending in a whole rune", len(e), e[len(e)-3:], handler.MaxAttrError)
	}
}

func TestDirectSNSReportsEveryRecord(t *testing.T) {
	logs := &settledtest.Logs{}
	hooks := &settledtest.Hooks{}
	h := handler.HandlerFunc(func(context.Context, *handler.Message) error { return errTransient })
	ev := events.SNSEvent{Records: []events.SNSEventRecord{{EventSource: "aws:sns", SNS: events.SNSEntity{MessageID: "sns-1", TopicArn: "arn:aws:sns:us-east-1:1:t", Message: "{}"}}}}
	_, err := sqs.NewLambda(h, &sqs.Options{Logger: slog.New(logs), OnResult: hooks.Hook}).HandleSNS(context.Background(), ev)
	if !errors.Is(err, sqs.ErrSNSFailed) {
		t.Fatalf("HandleSNS = %v", err)
	}
	checkSettlements(t, hooks, logs, map[string]handler.Settlement{"sns-1": handler.SettledRetry}, map[string]string{"sns-1": "transient"})
}

func TestConsumerReportsAfterSettling(t *testing.T) {
	c := &fakeClient{receives: make(chan []types.Message, 1),
		entryFaults: map[string][]types.BatchResultErrorEntry{"rh-undeleted": {
			{Code: aws.String("ReceiptHandleIsInvalid"), Message: aws.String("gone"), SenderFault: true}}}}
	c.receives <- []types.Message{received("ok", "{}", "1"), received("flaky", "{}", "1"), received("poison", "{}", "1"), received("undeleted", "{}", "1")}
	logs := &settledtest.Logs{}
	hooks := &settledtest.Hooks{}
	h := handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		switch m.ID {
		case "flaky":
			return errTransient
		case "poison":
			return handler.Permanent(errors.New("never"))
		}
		return nil
	})
	cons := sqs.NewConsumer(c, queueURL, h, &sqs.ConsumerOptions{DeadLetterQueueURL: dlqURL, Logger: slog.New(logs), OnResult: hooks.Hook})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- cons.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(hooks.Get()) < 4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	checkSettlements(t, hooks, logs,
		map[string]handler.Settlement{"ok": handler.SettledAck, "flaky": handler.SettledRetry, "poison": handler.SettledDeadLetter, "undeleted": handler.SettledRetry},
		map[string]string{"flaky": "transient", "poison": "never", "undeleted": "gone"})
}

func TestTraceHeaderIsExposedWithoutOverwritingAttributes(t *testing.T) {
	const th = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	plain := rec("plain", "{}")
	plain.Attributes["AWSTraceHeader"] = th
	mine := rec("mine", "{}")
	mine.Attributes["AWSTraceHeader"] = th
	mine.MessageAttributes = map[string]events.SQSMessageAttribute{"AWSTraceHeader": {DataType: "String", StringValue: aws.String("user value")}}
	sns := rec("sns", `{"Type":"Notification","MessageId":"sns-id","TopicArn":"arn:aws:sns:us-east-1:1:t","Timestamp":"2024-01-01T00:00:00Z","Message":"{}"}`)
	sns.Attributes["AWSTraceHeader"] = th
	r := &recorder{}
	if _, err := sqs.NewLambda(r, nil).Invoke(context.Background(), payload(t, plain, mine, sns)); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"plain": th, "mine": "user value", "sns-id": th} {
		if m := r.byID(id); m == nil || m.Attribute(sqs.AttrTraceHeader) != want {
			t.Errorf("%s: AWSTraceHeader attribute = %v, want %q", id, m, want)
		}
	}
}
