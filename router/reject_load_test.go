package router_test

import (
	"testing"
	"time"

	"omnicc/store"
	"omnicc/storetest"
)

// An agent alone in a queue who rejects an offer has its reserved slot
// back and is not offered the same conversation again at once: it waits in
// line for the queue's offer timeout, then a new round offers it again.
// The load stays 0 after a logout.
func TestRejectAloneFreesTheSlot(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newRig(t, db)
		a := g.agent("solo", nil)
		q := g.queue("web", "beepall", a)
		g.start(a)
		it := g.receive("visitor-1", "m1", "hello", q)
		if g.load(a) != 1 {
			t.Fatalf("offered: load %d, want 1", g.load(a))
		}
		if err := g.r.Reject(t.Context(), a, it.ID); err != nil {
			t.Fatal(err)
		}
		g.settle()
		if g.load(a) != 0 {
			t.Fatalf("after reject: load %d, want 0", g.load(a))
		}
		if n := len(g.rec.take("offer", a)); n != 1 {
			t.Fatalf("offers before the next round: %d, want only the first", n)
		}
		g.clock.Advance(19 * time.Second)
		if err := g.r.ExpireDue(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := len(g.rec.take("offer", a)); n != 0 {
			t.Fatalf("19 s after the reject: %d offers, want none (the offer timeout is 20 s)", n)
		}
		g.clock.Advance(time.Second)
		if err := g.r.ExpireDue(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := len(g.rec.take("offer", a)); n != 1 || g.load(a) != 1 {
			t.Fatalf("20 s after the reject: %d offers, load %d; want the next round's offer", n, g.load(a))
		}
		if err := g.r.Reject(t.Context(), a, it.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := g.pres.Logout(t.Context(), a, "api"); err != nil {
			t.Fatal(err)
		}
		g.settle()
		if g.load(a) != 0 {
			t.Fatalf("after logout: load %d, want 0", g.load(a))
		}
	})
}
