package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/eventfn/eventfn/idempotency"
)

func TestScratchCommandsKeepTheirArgumentsAndReleaseClears(t *testing.T) {
	ctx := context.Background()
	sb := getScratch(4, 2)
	sb.args = append(sb.args, "set", "k1", "v1", "get")
	a := sb.cmd(ctx, sb.args[0:3:3]...)
	b := sb.cmd(ctx, sb.args[3:4:4]...)
	c := sb.cmd(ctx, "past", "room") // past the array's room: a command of its own
	if got := a.Args(); len(got) != 3 || got[1] != "k1" {
		t.Fatalf("first command's args changed: %v", got)
	}
	if got := b.Args(); len(got) != 1 || got[0] != "get" {
		t.Fatalf("second command's args: %v", got)
	}
	if got := c.Args(); len(got) != 2 || got[0] != "past" {
		t.Fatalf("command past the room: %v", got)
	}
	if len(sb.cmds) != 2 || a != &sb.cmds[0] || b != &sb.cmds[1] {
		t.Fatal("commands within the room are not built in the scratch array")
	}
	args, cmds := sb.args, sb.cmds
	sb.release()
	for i, v := range args[:cap(args)] {
		if v != nil {
			t.Errorf("released scratch keeps argument %d: %v", i, v)
		}
	}
	for i := range cmds {
		if cmds[i].Args() != nil {
			t.Errorf("released scratch keeps command %d's args", i)
		}
	}
}

func TestCompletedLenIsTheValuesLength(t *testing.T) {
	claimed := encodeClaim(idempotency.HashKey("fp", "1"), time.Now())
	for _, result := range [][]byte{nil, []byte(`{"ok":true}`)} {
		v := appendCompleted(nil, claimed, result, time.Now().Add(time.Hour))
		if n := completedLen(claimed, result); n != len(v) {
			t.Errorf("completedLen = %d, value is %d bytes", n, len(v))
		}
	}
}
