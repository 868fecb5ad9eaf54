package idempotency

import (
	"sync"
	"time"
)

// completedCache remembers keys known to be COMPLETED so a warm process can
// skip duplicates without a store round trip. It holds at most size entries
// in two generations: new keys go to the current map; when it is full it
// becomes the previous one and the old previous one is dropped, and a hit in
// the previous map moves the key forward. That approximates LRU without an
// allocation per entry. Safe for concurrent use.
type completedCache struct {
	mu        sync.Mutex
	half      int
	cur, prev map[string]cacheEntry
}

type cacheEntry struct {
	fp      string
	expires time.Time
}

func newCompletedCache(size int) *completedCache {
	if size <= 0 {
		return nil
	}
	half := max(size/2, 1)
	return &completedCache{half: half, cur: make(map[string]cacheEntry, half)}
}

// get returns the fingerprint stored for key and whether key is cached.
func (c *completedCache) get(key string, now time.Time) (string, bool) {
	if c == nil {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.cur[key]
	if !ok {
		if e, ok = c.prev[key]; !ok {
			return "", false
		}
		delete(c.prev, key)
		if now.Before(e.expires) {
			c.put(key, e)
		}
	}
	if !now.Before(e.expires) {
		delete(c.cur, key)
		return "", false
	}
	return e.fp, true
}

func (c *completedCache) add(key, fp string, expires time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.put(key, cacheEntry{fp: fp, expires: expires})
	c.mu.Unlock()
}

// put stores e under key in the current generation. Callers hold c.mu.
func (c *completedCache) put(key string, e cacheEntry) {
	if _, ok := c.cur[key]; !ok && len(c.cur) >= c.half {
		// The dropped generation's map, emptied, becomes the new one: its
		// table is already grown to half entries, so a full cache turns
		// over without allocating.
		old := c.prev
		clear(old)
		if old == nil {
			old = make(map[string]cacheEntry, c.half)
		}
		c.prev, c.cur = c.cur, old
	}
	c.cur[key] = e
}
