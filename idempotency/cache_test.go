package idempotency

import (
	"fmt"
	"testing"
	"time"
)

func TestCompletedCacheBoundsAndExpiry(t *testing.T) {
	now := time.Now()
	c := newCompletedCache(10)
	for i := 0; i < 100; i++ {
		c.add(fmt.Sprint(i), "fp", now.Add(time.Hour))
	}
	if n := len(c.cur) + len(c.prev); n > 10 {
		t.Fatalf("cache holds %d entries, bound 10", n)
	}
	if _, ok := c.get("99", now); !ok {
		t.Fatal("most recent key evicted")
	}
	if _, ok := c.get("0", now); ok {
		t.Fatal("oldest key still cached")
	}
	// The previous generation answers too, though its map was reused.
	if _, ok := c.get("90", now); !ok {
		t.Fatal("a key of the previous generation evicted")
	}
	// A key used again survives the next generation change.
	c.add("keep", "fp", now.Add(time.Hour))
	for i := 0; i < 5; i++ {
		c.add(fmt.Sprint("a", i), "fp", now.Add(time.Hour))
		if _, ok := c.get("keep", now); !ok {
			t.Fatalf("a key in use was evicted after %d adds", i)
		}
	}
	c.add("old", "fp", now.Add(-time.Second))
	if _, ok := c.get("old", now); ok {
		t.Fatal("expired key returned")
	}
	var nilCache *completedCache
	nilCache.add("x", "fp", now)
	if _, ok := nilCache.get("x", now); ok {
		t.Fatal("disabled cache returned a key")
	}
}
