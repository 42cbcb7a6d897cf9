package clock

import (
	"testing"
	"time"
)

func TestFakeFiresWhenDue(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	f := NewFake(t0)
	a := f.After(2 * time.Second)
	b := f.After(5 * time.Second)
	if f.Waiters() != 2 {
		t.Fatalf("waiters = %d, want 2", f.Waiters())
	}
	f.Advance(time.Second)
	select {
	case <-a:
		t.Fatal("fired a second early")
	default:
	}
	f.Advance(time.Second)
	if got := <-a; !got.Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("fired at %v", got)
	}
	select {
	case <-b:
		t.Fatal("b fired early")
	default:
	}
	f.Set(t0) // never backwards
	if !f.Now().Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("moved backwards to %v", f.Now())
	}
	f.Advance(time.Hour)
	<-b
	if f.Waiters() != 0 {
		t.Fatalf("waiters = %d after all fired", f.Waiters())
	}
	select {
	case <-f.After(0):
	default:
		t.Fatal("After(0) did not fire at once")
	}
}

func TestOr(t *testing.T) {
	if Or(nil) != Wall {
		t.Fatal("Or(nil) is not Wall")
	}
	f := NewFake(time.Time{})
	if Or(f) != Clock(f) {
		t.Fatal("Or(f) is not f")
	}
}
