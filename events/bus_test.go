package events_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"omnicc/events"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runBus starts b.Run and stops it (waiting for it) when the test ends.
func runBus(t testing.TB, b *events.Bus) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Bus.Run: %v", err)
		}
	})
}

// drain reads until C closes and returns the types seen.
func drain(s *events.Subscription) []string {
	var got []string
	for e := range s.C() {
		got = append(got, e.Type)
	}
	return got
}

// take reads n events.
func take(t *testing.T, s *events.Subscription, n int) []string {
	t.Helper()
	var got []string
	for range n {
		e, ok := <-s.C()
		if !ok {
			t.Fatalf("subscription ended after %v: %v", got, s.Err())
		}
		got = append(got, e.Type)
	}
	return got
}

func TestScopeMatches(t *testing.T) {
	agent7 := events.Event{Type: "agent_state", AgentID: 7}
	sales := events.Event{Type: "offer", Queues: []string{"support", "sales"}}
	team3 := events.Event{Type: "team_note", Teams: []int64{3}}
	none := events.Event{Type: "queue_summary"}
	tests := []struct {
		name  string
		scope events.Scope
		want  []bool // agent7, sales, team3, none
	}{
		{"everything", events.Everything, []bool{true, true, true, true}},
		{"zero scope", events.Scope{}, []bool{false, false, false, false}},
		{"an agent", events.Scope{Agents: []int64{7}}, []bool{true, false, false, false}},
		{"another agent", events.Scope{Agents: []int64{8}}, []bool{false, false, false, false}},
		{"a queue", events.Scope{Queues: []string{"sales"}}, []bool{false, true, false, false}},
		{"a team", events.Scope{Teams: []int64{3}}, []bool{false, false, true, false}},
		{"agent 0 is no agent", events.Scope{Agents: []int64{0}}, []bool{false, false, false, false}},
		{"mixed", events.Scope{Agents: []int64{7}, Teams: []int64{3}}, []bool{true, false, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, e := range []events.Event{agent7, sales, team3, none} {
				if got := tt.scope.Matches(e); got != tt.want[i] {
					t.Errorf("%s: Matches = %v, want %v", e.Type, got, tt.want[i])
				}
			}
		})
	}
}

// Each subscriber receives the events of its scope, in publish order.
func TestBusDeliversByScopeInOrder(t *testing.T) {
	b := events.New(events.Options{})
	all := b.Subscribe(events.Everything, 0)
	alice := b.Subscribe(events.Scope{Agents: []int64{7}}, 0)
	salesSup := b.Subscribe(events.Scope{Queues: []string{"sales"}}, 0)
	teamSup := b.Subscribe(events.Scope{Teams: []int64{3}}, 0)
	runBus(t, b)

	pub := []events.Event{
		{Type: "a7", AgentID: 7},
		{Type: "a8-sales", AgentID: 8, Queues: []string{"sales"}},
		{Type: "staff"},
		{Type: "a7-team3", AgentID: 7, Teams: []int64{3}},
		{Type: "sales", Queues: []string{"sales"}},
	}
	for _, e := range pub {
		b.Publish(e)
	}
	for name, c := range map[string]struct {
		s    *events.Subscription
		want []string
	}{
		"everything": {all, []string{"a7", "a8-sales", "staff", "a7-team3", "sales"}},
		"agent 7":    {alice, []string{"a7", "a7-team3"}},
		"sales":      {salesSup, []string{"a8-sales", "sales"}},
		"team 3":     {teamSup, []string{"a7-team3"}},
	} {
		if got := take(t, c.s, len(c.want)); !slices.Equal(got, c.want) {
			t.Errorf("%s got %v, want %v", name, got, c.want)
		}
	}
	// Nothing more is waiting: the next event is the marker.
	b.Publish(events.Event{Type: "end", AgentID: 7, Queues: []string{"sales"}, Teams: []int64{3}})
	for _, s := range []*events.Subscription{all, alice, salesSup, teamSup} {
		if got := take(t, s, 1); got[0] != "end" {
			t.Errorf("got %v after the expected events, want end", got)
		}
	}
}

// A subscriber that stops reading is ended with ErrLagged once its buffer is
// full; the publisher never waits and the others miss nothing.
func TestBusSlowSubscriberIsToldItLagged(t *testing.T) {
	b := events.New(events.Options{})
	slow := b.Subscribe(events.Everything, 4)
	fast := b.Subscribe(events.Everything, 4)
	runBus(t, b)

	for i := range 100 {
		b.Publish(events.Event{Type: fmt.Sprint(i)})
		// Paced by the fast reader only.
		if got := take(t, fast, 1); got[0] != fmt.Sprint(i) {
			t.Fatalf("fast got %v, want %d", got, i)
		}
	}
	got := drain(slow)
	if !slices.Equal(got, []string{"0", "1", "2", "3"}) {
		t.Fatalf("slow got %v before its end, want the 4 events its buffer held", got)
	}
	if !errors.Is(slow.Err(), events.ErrLagged) {
		t.Fatalf("slow ended with %v, want ErrLagged", slow.Err())
	}
	if fast.Err() != nil || b.Lagged() != 1 || b.Subscribers() != 1 {
		t.Fatalf("fast err %v, lagged %d, subscribers %d; want nil, 1, 1", fast.Err(), b.Lagged(), b.Subscribers())
	}
}

// When the dispatcher is behind and the bus's queue overflows, the event is
// dropped and counted, Publish still returns, and every subscriber is told
// it lagged before it could see the gap.
func TestBusQueueFullTellsEveryoneTheyLagged(t *testing.T) {
	b := events.New(events.Options{QueueSize: 3})
	s1 := b.Subscribe(events.Everything, 100)
	s2 := b.Subscribe(events.Scope{Agents: []int64{7}}, 100)
	// Run is not started: nothing drains the queue.
	for i := range 5 {
		b.Publish(events.Event{Type: fmt.Sprint(i), AgentID: 7})
	}
	if d := b.Dropped(); d != 2 {
		t.Fatalf("dropped %d, want 2", d)
	}
	runBus(t, b)
	for _, s := range []*events.Subscription{s1, s2} {
		if got := drain(s); len(got) != 0 {
			t.Errorf("delivered %v after a loss; want the subscription ended first", got)
		}
		if !errors.Is(s.Err(), events.ErrLagged) {
			t.Errorf("ended with %v, want ErrLagged", s.Err())
		}
	}
	// A subscriber that comes after the loss was reported starts clean: it
	// may see some of the three queued events, then ours. Run may have
	// reported the loss before taking anything from the full queue, so wait
	// for room first, or "after" would be dropped too (rightly).
	for deadline := time.Now().Add(5 * time.Second); b.Queued() > 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the dispatcher left %d events queued", b.Queued())
		}
	}
	s3 := b.Subscribe(events.Everything, 0)
	b.Publish(events.Event{Type: "after"})
	for e := range s3.C() {
		if e.Type == "after" {
			return
		}
	}
	t.Fatalf("new subscriber ended: %v", s3.Err())
}

// Run's end closes every subscription; afterwards Subscribe returns a closed
// one and Publish neither blocks nor panics.
func TestBusLifecycle(t *testing.T) {
	b := events.New(events.Options{QueueSize: 1})
	s := b.Subscribe(events.Everything, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	b.Publish(events.Event{Type: "x"})
	if got := take(t, s, 1); got[0] != "x" {
		t.Fatal(got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := drain(s); len(got) != 0 || !errors.Is(s.Err(), events.ErrClosed) {
		t.Fatalf("after Run: %v, err %v; want closed", got, s.Err())
	}
	if err := b.Run(context.Background()); err == nil {
		t.Fatal("second Run: nil error")
	}
	late := b.Subscribe(events.Everything, 0)
	if _, ok := <-late.C(); ok || !errors.Is(late.Err(), events.ErrClosed) {
		t.Fatalf("Subscribe after Run: open (%v)", late.Err())
	}
	for range 10 {
		b.Publish(events.Event{Type: "late"}) // must return
	}
}

// Close races with delivery without a panic (run with -race).
func TestBusCloseWhileDelivering(t *testing.T) {
	b := events.New(events.Options{})
	runBus(t, b)
	var wg sync.WaitGroup
	subs := make([]*events.Subscription, 50)
	for i := range subs {
		subs[i] = b.Subscribe(events.Everything, 8)
	}
	wg.Go(func() {
		for i := range 2000 {
			b.Publish(events.Event{Type: fmt.Sprint(i)})
		}
	})
	for _, s := range subs {
		wg.Go(func() {
			<-s.C()
			s.Close()
			s.Close()
		})
	}
	wg.Wait()
	for _, s := range subs {
		for range s.C() {
		}
		if err := s.Err(); !errors.Is(err, events.ErrClosed) && !errors.Is(err, events.ErrLagged) {
			t.Fatalf("err %v", err)
		}
	}
}
