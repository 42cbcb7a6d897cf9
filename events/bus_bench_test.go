package events_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"omnicc/events"
)

// BenchmarkPublish is what a publisher pays (presence calls Publish under its
// publish lock): one non-blocking queue send, whatever the subscribers.
func BenchmarkPublish(b *testing.B) {
	bus := events.New(events.Options{QueueSize: 1 << 20})
	e := events.Event{Type: "agent_state", AgentID: 7}
	b.ReportAllocs()
	for b.Loop() {
		bus.Publish(e)
	}
}

// BenchmarkFanout2000 measures the bus's fan-out: per event, the time from
// Publish until each of 2,000 subscribers has received it, each on its own
// goroutine. scoped: 2,000 agents each watching their own events (one
// receives each event; the bus still matches all 2,000 scopes); everything:
// all 2,000 receive every event.
//
//	go test -run '^$' -bench BenchmarkFanout2000 -benchtime 2000x ./events/
func BenchmarkFanout2000(b *testing.B) {
	const subscribers = 2000
	for _, mode := range []string{"scoped", "everything"} {
		b.Run(mode, func(b *testing.B) {
			bus := events.New(events.Options{})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- bus.Run(ctx) }()

			var (
				wg       sync.WaitGroup
				received = make(chan struct{}, subscribers)
			)
			for i := range subscribers {
				scope := events.Everything
				if mode == "scoped" {
					scope = events.Scope{Agents: []int64{int64(i + 1)}}
				}
				s := bus.Subscribe(scope, 16)
				wg.Go(func() {
					for range s.C() {
						received <- struct{}{}
					}
				})
			}
			want := subscribers
			if mode == "scoped" {
				want = 1
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				bus.Publish(events.Event{Type: "agent_state", AgentID: int64(i%subscribers + 1)})
				for range want {
					<-received
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			wg.Wait()
			if bus.Lagged() != 0 || bus.Dropped() != 0 {
				b.Fatalf("lagged %d, dropped %d", bus.Lagged(), bus.Dropped())
			}
			slices.Sort(lat)
			pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
			b.ReportMetric(float64(pct(0.50).Nanoseconds())/1000, "p50-µs")
			b.ReportMetric(float64(pct(0.99).Nanoseconds())/1000, "p99-µs")
		})
	}
}
