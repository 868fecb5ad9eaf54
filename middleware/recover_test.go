package middleware_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/middleware"
)

func boom(context.Context, *handler.Message) error { panic("boom") }

func TestRecoverTurnsAPanicIntoAnErrorAndLogsTheStack(t *testing.T) {
	rec := newRecorder(slog.LevelInfo)
	h := middleware.Recover(&middleware.RecoverOptions{Logger: slog.New(rec)})(handler.HandlerFunc(boom))
	err := h.Handle(context.Background(), msg("m1"))
	var pe *handler.PanicError
	if !errors.As(err, &pe) || pe.Value != "boom" || handler.Classify(err) != handler.Retry {
		t.Fatalf("Handle = %v, want a retryable *PanicError", err)
	}
	logs := rec.all()
	if len(logs) != 1 || logs[0].Level != slog.LevelError || logs[0].Attrs["message_id"].String() != "m1" ||
		!strings.Contains(logs[0].Attrs["stack"].String(), "boom") {
		t.Errorf("logs = %+v, want one error line with the message ID and a stack through boom", logs)
	}
}

func TestRecoverPermanentRejects(t *testing.T) {
	h := middleware.Recover(&middleware.RecoverOptions{Quiet: true, Permanent: true})(handler.HandlerFunc(boom))
	if err := h.Handle(context.Background(), msg("m1")); handler.Classify(err) != handler.Reject {
		t.Errorf("Handle = %v, want a rejection", err)
	}
}
