package idempotency

import (
	"container/list"
	"sync"
	"time"
)

// completedCache remembers keys known to be COMPLETED so a warm process can
// skip duplicates without a store round trip. It is a bounded LRU with
// per-entry expiry, safe for concurrent use.
type completedCache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List
	items map[string]*list.Element
}

type cacheEntry struct {
	key     string
	fp      string
	expires time.Time
}

func newCompletedCache(max int) *completedCache {
	if max <= 0 {
		return nil
	}
	return &completedCache{max: max, ll: list.New(), items: make(map[string]*list.Element)}
}

// get returns the fingerprint stored for key and whether key is cached.
func (c *completedCache) get(key string, now time.Time) (string, bool) {
	if c == nil {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return "", false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.ll.Remove(el)
		delete(c.items, key)
		return "", false
	}
	c.ll.MoveToFront(el)
	return e.fp, true
}

func (c *completedCache) add(key, fp string, expires time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		el.Value = &cacheEntry{key: key, fp: fp, expires: expires}
		c.ll.MoveToFront(el)
		return
	}
	c.items[key] = c.ll.PushFront(&cacheEntry{key: key, fp: fp, expires: expires})
	for c.ll.Len() > c.max {
		el := c.ll.Back()
		c.ll.Remove(el)
		delete(c.items, el.Value.(*cacheEntry).key)
	}
}
