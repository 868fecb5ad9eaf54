package handler

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// A worker that starts after its batch has ended (started late, after the
// others had taken every message) runs nothing and ends nothing twice.
func TestALateWorkerRunsNothing(t *testing.T) {
	var ran atomic.Int32
	h := HandlerFunc(func(context.Context, *Message) error { ran.Add(1); return nil })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := newBatch(ctx, h, []*Message{{ID: "a"}, {ID: "b"}, {ID: "c"}}, nil)
	defer b.cancel()
	b.start()
	b.wait()
	res := b.collect()
	b.helper() // would run a message again, or close finished twice
	if n := ran.Load(); n != 3 {
		t.Fatalf("the handler ran %d times for 3 messages", n)
	}
	for _, r := range res {
		if r.Err != nil || !r.Ran {
			t.Errorf("%s: ran %v, err %v", r.Message.ID, r.Ran, r.Err)
		}
	}
}
