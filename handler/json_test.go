package handler_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/eventfn/eventfn/handler"
)

type order struct {
	ID     string `json:"id"`
	Amount int    `json:"amount"`
}

func TestDecodeErrorsArePermanentAndSayWhere(t *testing.T) {
	tests := []struct {
		name, body string
		wantIn     string
	}{
		{"empty body", "", "empty body"},
		{"blank body", "  \n", "empty body"},
		{"not JSON", "hello", "offset 1"},
		{"truncated", `{"id":"a"`, "offset 9"},
		{"wrong type names the field", `{"id":"a","amount":"ten"}`, `field "amount"`},
		{"trailing data", `{"id":"a"} {"id":"b"}`, "after JSON value"},
		{"an array where an object belongs", `[1,2]`, "order"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := handler.Decode[order](&handler.Message{Body: []byte(tt.body)})
			if err == nil {
				t.Fatal("no error")
			}
			var de *handler.DecodeError
			if !errors.As(err, &de) || !handler.IsPermanent(err) {
				t.Fatalf("err = %v (%T), want a permanent *DecodeError", err, err)
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Fatalf("err = %q, want it to mention %q", err, tt.wantIn)
			}
		})
	}
	if _, err := handler.Decode[order](nil); !handler.IsPermanent(err) {
		t.Fatalf("nil message: %v", err)
	}
}

func TestJSONCallsTheFunctionWithTheValue(t *testing.T) {
	var got order
	h := handler.JSON(func(_ context.Context, m *handler.Message, o order) error { got = o; return nil })
	if err := h.Handle(context.Background(), &handler.Message{Body: []byte(`{"id":"o-1","amount":5}`)}); err != nil {
		t.Fatal(err)
	}
	if got != (order{"o-1", 5}) {
		t.Fatalf("got %+v", got)
	}
	called := false
	h = handler.JSON(func(context.Context, *handler.Message, order) error { called = true; return nil })
	if err := h.Handle(context.Background(), &handler.Message{Body: []byte(`nope`)}); handler.Classify(err) != handler.Reject || called {
		t.Fatalf("bad body: err = %v, called = %v", err, called)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"id":"a","amount":1}`))
	f.Add([]byte(`{"amount":"x"}`))
	f.Add([]byte{0xff, 0x00})
	f.Fuzz(func(t *testing.T, body []byte) {
		_, err := handler.Decode[order](&handler.Message{Body: body})
		if err != nil && !handler.IsPermanent(err) {
			t.Fatalf("decode error is not permanent: %v", err)
		}
	})
}
