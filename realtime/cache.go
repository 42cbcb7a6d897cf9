package realtime

import (
	"sync"
	"time"
)

// lookupCache keeps the encoded replies of lookups (single, multi, static)
// per table. It only accelerates and shields: the database stays the truth.
//
// Freshness is a per-table generation. Invalidate bumps it, and a reply is
// stored only if the generation did not move while it was read from the
// database, so a read that raced a commit can never put the old rows back.
// Invalidated and expired entries are kept (up to staleFor) as the "last
// known rows" served while the database cannot be reached.
type lookupCache struct {
	ttl        time.Duration
	staleFor   time.Duration
	maxEntries int
	now        func() time.Time

	mu     sync.Mutex
	tables map[string]*tableCache
}

type tableCache struct {
	gen     uint64
	entries map[string]cacheEntry
}

type cacheEntry struct {
	body   []byte
	gen    uint64
	stored time.Time
}

func newLookupCache(ttl, staleFor time.Duration, maxEntries int, now func() time.Time) *lookupCache {
	return &lookupCache{ttl: ttl, staleFor: staleFor, maxEntries: maxEntries, now: now, tables: map[string]*tableCache{}}
}

func (c *lookupCache) table(name string) *tableCache {
	tc := c.tables[name]
	if tc == nil {
		tc = &tableCache{entries: map[string]cacheEntry{}}
		c.tables[name] = tc
	}
	return tc
}

// generation is read before going to the database, and handed back to put.
func (c *lookupCache) generation(table string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.table(table).gen
}

// fresh returns a reply that is current: stored in this generation and
// younger than the TTL.
func (c *lookupCache) fresh(table, key string) ([]byte, bool) {
	if c.ttl <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	tc := c.table(table)
	e, ok := tc.entries[key]
	if !ok || e.gen != tc.gen || c.now().Sub(e.stored) >= c.ttl {
		return nil, false
	}
	return e.body, true
}

// stale returns the last known reply, however old within staleFor, and its
// age — for when the database cannot answer.
func (c *lookupCache) stale(table, key string) ([]byte, time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.table(table).entries[key]
	if !ok {
		return nil, 0, false
	}
	age := c.now().Sub(e.stored)
	if age >= c.staleFor {
		return nil, 0, false
	}
	return e.body, age, true
}

func (c *lookupCache) put(table, key string, body []byte, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tc := c.table(table)
	if gen != tc.gen {
		return
	}
	if _, ok := tc.entries[key]; !ok && len(tc.entries) >= c.maxEntries {
		c.evict(tc)
	}
	tc.entries[key] = cacheEntry{body: body, gen: gen, stored: c.now()}
}

// evict drops entries of older generations or past staleFor first, then any
// one: the cache is bounded, whatever keys the callers send.
func (c *lookupCache) evict(tc *tableCache) {
	now := c.now()
	n := 0
	for k, e := range tc.entries {
		if e.gen != tc.gen || now.Sub(e.stored) >= c.staleFor {
			delete(tc.entries, k)
			n++
		}
	}
	if n > 0 {
		return
	}
	for k := range tc.entries {
		delete(tc.entries, k)
		return
	}
}

func (c *lookupCache) invalidate(table string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.table(table).gen++
}
