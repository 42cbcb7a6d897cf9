package contacts

import (
	"sync"
	"time"
)

// callerCache keeps recent caller lookups — found or not — so that the
// routing path does not query the database on every call from the same
// number. It holds two generations of at most size entries each: when the
// current one fills up, it becomes the old one and the old one is dropped,
// which bounds memory without per-entry bookkeeping. An entry lives at most
// ttl; writes made through this Manager update or drop their numbers at
// once, so only writes by another process can be seen up to ttl late.
type callerCache struct {
	ttl  time.Duration
	size int
	now  func() time.Time

	mu       sync.Mutex
	cur, old map[string]cacheEntry
}

type cacheEntry struct {
	caller  Caller
	found   bool
	expires time.Time
}

func newCallerCache(size int, ttl time.Duration, now func() time.Time) *callerCache {
	return &callerCache{ttl: ttl, size: size, now: now, cur: make(map[string]cacheEntry, size)}
}

func (c *callerCache) get(number string) (Caller, bool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.cur[number]
	if !ok {
		if e, ok = c.old[number]; ok {
			c.putLocked(number, e) // still in use: keep it past the next turnover
		}
	}
	if !ok || !c.now().Before(e.expires) {
		return Caller{}, false, false
	}
	return e.caller, e.found, true
}

func (c *callerCache) put(number string, caller Caller, found bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(number, cacheEntry{caller: caller, found: found, expires: c.now().Add(c.ttl)})
}

func (c *callerCache) putLocked(number string, e cacheEntry) {
	if len(c.cur) >= c.size {
		c.old, c.cur = c.cur, make(map[string]cacheEntry, c.size)
	}
	c.cur[number] = e
}

func (c *callerCache) forget(numbers ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range numbers {
		delete(c.cur, n)
		delete(c.old, n)
	}
}

func (c *callerCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur, c.old = make(map[string]cacheEntry, c.size), nil
}
