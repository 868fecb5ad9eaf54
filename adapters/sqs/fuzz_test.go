package sqs_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/eventfn/eventfn/adapters/sqs"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/internal/testenv"
)

// FuzzInvoke feeds arbitrary payloads to the Lambda entry point: it must
// never panic, and a successful response may only name records of the event.
func FuzzInvoke(f *testing.F) {
	testenv.AddFileSeeds(f, "testdata/*.json")
	f.Add([]byte(`{"Records":[{"messageId":"1","body":"{\"Type\":\"Notification\",\"Message\":1}","eventSource":"aws:sqs"}]}`))
	f.Add([]byte(`{"Records":[null,{"messageId":7}]}`))
	l := sqs.NewLambda(handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }), &sqs.Options{ReportBatchItemFailures: true})
	f.Fuzz(func(t *testing.T, payload []byte) {
		resp, err := l.Invoke(context.Background(), json.RawMessage(payload))
		if err != nil {
			return
		}
		var ev struct {
			Records []struct {
				MessageID string `json:"messageId"`
			}
		}
		_ = json.Unmarshal(payload, &ev)
		ids := map[string]bool{}
		for _, r := range ev.Records {
			ids[r.MessageID] = true
		}
		for _, f := range resp.BatchItemFailures {
			if len(ev.Records) > 0 && !ids[f.ItemIdentifier] {
				t.Fatalf("failure %q is not a record of the event", f.ItemIdentifier)
			}
		}
	})
}
