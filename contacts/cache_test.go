package contacts

import (
	"testing"
	"time"
)

func TestCallerCache(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newCallerCache(2, 30*time.Second, func() time.Time { return now })
	c.put("1", Caller{ID: 1}, true)
	c.put("2", Caller{}, false)
	if got, found, ok := c.get("1"); !ok || !found || got.ID != 1 {
		t.Fatalf("hit: %v %v %v", got, found, ok)
	}
	if _, found, ok := c.get("2"); !ok || found {
		t.Fatalf("a remembered unknown caller: found=%v ok=%v", found, ok)
	}
	// A third number turns the generation over: the first two survive in
	// the old one, and "1", read again, moves to the new one.
	c.put("3", Caller{ID: 3}, true)
	if _, _, ok := c.get("1"); !ok {
		t.Fatal("1 lost at the first turnover")
	}
	c.put("4", Caller{ID: 4}, true) // turns over again: "2" was never read back
	if _, _, ok := c.get("2"); ok {
		t.Fatal("2 survived two turnovers without being read")
	}
	now = now.Add(31 * time.Second)
	if _, _, ok := c.get("4"); ok {
		t.Fatal("an entry outlived its TTL")
	}
	c.put("5", Caller{ID: 5}, true)
	c.forget("5")
	if _, _, ok := c.get("5"); ok {
		t.Fatal("forget kept the entry")
	}
}
