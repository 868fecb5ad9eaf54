package handler_test

import (
	"context"
	"testing"

	"github.com/eventfn/eventfn/handler"
)

type sqsRecord struct{ ReceiptHandle string }
type envelope struct{ TopicArn string }

func TestAsReachesThePlatformRecord(t *testing.T) {
	m := &handler.Message{ID: "1"}
	m.SetRaw(sqsRecord{ReceiptHandle: "rh"}, &envelope{TopicArn: "arn"})

	var rec sqsRecord
	if !m.As(&rec) || rec.ReceiptHandle != "rh" {
		t.Fatalf("As(&sqsRecord) = %+v", rec)
	}
	var env envelope
	if !m.As(&env) || env.TopicArn != "arn" {
		t.Fatalf("As(&envelope) through a pointer = %+v", env)
	}
	var envp *envelope
	if !m.As(&envp) || envp.TopicArn != "arn" {
		t.Fatal("As(&*envelope) failed")
	}
	var s string
	if m.As(&s) || m.As(nil) || m.As(rec) || (*handler.Message)(nil).As(&rec) {
		t.Fatal("As accepted a type it does not hold or a bad target")
	}
}

func TestChainOrder(t *testing.T) {
	var trace []string
	mw := func(name string) handler.Middleware {
		return func(next handler.Handler) handler.Handler {
			return handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
				trace = append(trace, name)
				return next.Handle(ctx, m)
			})
		}
	}
	h := handler.Chain(handler.HandlerFunc(func(context.Context, *handler.Message) error {
		trace = append(trace, "h")
		return nil
	}), mw("a"), nil, mw("b"))
	_ = h.Handle(context.Background(), &handler.Message{})
	if got := len(trace); got != 3 || trace[0] != "a" || trace[1] != "b" || trace[2] != "h" {
		t.Fatalf("trace = %v, want [a b h]", trace)
	}
}
