package joinhook

import (
	"sync"
	"time"
)

// cache remembers allowed (user, room) pairs until they expire. It is
// bounded: when full, expired entries go, and if none had expired the whole
// cache is dropped (a burst of misses, never unbounded memory).
type cache struct {
	ttl time.Duration // <= 0: disabled
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[cacheKey]time.Time // expiry
}

type cacheKey struct{ user, room string }

func newCache(ttl time.Duration, max int) *cache {
	return &cache{ttl: ttl, max: max, now: time.Now, entries: map[cacheKey]time.Time{}}
}

func (c *cache) allowed(user, room string) bool {
	if c.ttl <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.entries[cacheKey{user, room}]
	return ok && c.now().Before(exp)
}

func (c *cache) allow(user, room string) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.entries) >= c.max {
		for k, exp := range c.entries {
			if !now.Before(exp) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[cacheKey{user, room}] = now.Add(c.ttl)
}
