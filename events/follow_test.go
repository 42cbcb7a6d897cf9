package events_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"omnicc/events"
)

type countingSource struct {
	b *events.Bus
	n atomic.Int32
}

func (s *countingSource) Subscribe(scope events.Scope, buffer int) *events.Subscription {
	defer s.n.Add(1)
	return s.b.Subscribe(scope, buffer)
}

// Follow hands events on in order; when its subscription lagged it tells
// the follower (to catch up from its source of truth) and subscribes anew,
// and it returns nil when its context ends.
func TestFollowResubscribesAfterLag(t *testing.T) {
	b := events.New(events.Options{QueueSize: 2})
	src := &countingSource{b: b}
	got := make(chan string, 16)
	lagged := make(chan error, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- events.Follow(ctx, src, events.Everything, 8,
			func(e events.Event) { got <- e.Type }, func(err error) { lagged <- err })
	}()
	waitFor(t, func() bool { return src.n.Load() == 1 })
	for _, typ := range []string{"a", "b", "c"} { // the queue holds 2: c is dropped
		b.Publish(events.Event{Type: typ})
	}
	runBus(t, b)
	select {
	case err := <-lagged:
		if !errors.Is(err, events.ErrLagged) {
			t.Fatalf("lagged with %v, want ErrLagged", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the follower was never told it lagged")
	}
	waitFor(t, func() bool { return src.n.Load() == 2 })
	b.Publish(events.Event{Type: "after"})
	select {
	case typ := <-got:
		if typ != "after" {
			t.Fatalf("got %q, want the first event after the lag", typ)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event after resubscribing")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Follow returned %v, want nil", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
		time.Sleep(time.Millisecond)
	}
}
