package sqs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/eventfn/eventfn/handler"
)

// Start hands aws-lambda-go a lambda.Handler that answers with the JSON of
// Lambda.Invoke's response, and fails the invocation only when Invoke does.
func TestRawHandlerAnswersWithInvokesResponse(t *testing.T) {
	h := handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		if m.ID == "bad" {
			return errors.New("transient")
		}
		return nil
	})
	r := rawHandler{NewLambda(h, &Options{ReportBatchItemFailures: true})}
	ev := `{"Records":[` +
		`{"messageId":"ok","receiptHandle":"r1","body":"{}","eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:us-east-1:123456789012:q","attributes":{"ApproximateReceiveCount":"1"}},` +
		`{"messageId":"bad","receiptHandle":"r2","body":"{}","eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:us-east-1:123456789012:q","attributes":{"ApproximateReceiveCount":"1"}}]}`
	out, err := r.Invoke(context.Background(), []byte(ev))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"batchItemFailures":[{"itemIdentifier":"bad"}]}`; string(out) != want {
		t.Fatalf("response %s, want %s", out, want)
	}
	r.l.o.Logger = discardLogger()
	if out, err := r.Invoke(context.Background(), []byte(`{"Records":[`)); !errors.Is(err, ErrUnknownEvent) || out != nil {
		t.Fatalf("malformed payload: %s, %v; want no response and ErrUnknownEvent", out, err)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
