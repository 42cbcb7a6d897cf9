package fanout_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"omnicc/events"
)

// BenchmarkCrossInstanceLatency: one event at a time from instance a's bus
// to instance b's subscriber over the machine's NATS, reporting p50/p99 of
// the whole path (bus → fan-out → NATS → fan-out → bus → subscriber).
//
//	go test -run '^$' -bench CrossInstance -benchtime 5000x ./fanout
func BenchmarkCrossInstanceLatency(b *testing.B) {
	url, subj := natsURL(b), "omnicc.bench."+time.Now().Format("150405.000000")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	a := start(b, ctx, &wg, url, subj, "a")
	c := start(b, ctx, &wg, url, subj, "b")
	<-a.fan.Ready()
	<-c.fan.Ready()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		a.bus.Publish(events.Event{Type: "agent_state", AgentID: 7, Payload: numbered{N: i}})
		for {
			e := <-c.got.C()
			if e.Origin == "a" {
				break
			}
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds()), "p99-µs")
}
