//go:build unix

package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"omnicc/api"
	"omnicc/directory"
	"omnicc/events"
	"omnicc/presence"
)

// raiseFileLimit lifts the soft RLIMIT_NOFILE to need (within the hard
// limit) and reports whether need fits.
func raiseFileLimit(need uint64) (uint64, bool) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, false
	}
	if lim.Cur >= need {
		return lim.Cur, true
	}
	if lim.Max < need {
		return lim.Max, false
	}
	lim.Cur = need
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return lim.Max, false
	}
	return need, true
}

// BenchmarkFanout2000 measures the websocket fan-out: the time from one
// Publish until each of 2,000 connected supervisors (who all receive every
// event) has read it, over loopback in one process — so the figure includes
// the clients' reading too. Run it with a fixed count so the percentiles
// have enough samples:
//
//	go test -run '^$' -bench BenchmarkFanout2000 -benchtime 200x ./api/
func BenchmarkFanout2000(b *testing.B) {
	const clients = 2000
	// Two descriptors per client (both ends are in this process) and some
	// slack for the listener, the runtime and the test binary.
	if have, ok := raiseFileLimit(2*clients + 256); !ok {
		b.Skipf("needs %d open files (2 per loopback client) but the hard RLIMIT_NOFILE is %d: raise it (ulimit -Hn) to run this benchmark",
			2*clients+256, have)
	}
	users := fakeAuth{"omt_sup": {UserID: 2, Role: directory.RoleSupervisor, Username: "sue"}}
	bus := events.New(events.Options{})
	hub, err := api.NewHub(api.HubOptions{Auth: users, Bus: bus, MaxConnsPerUser: -1, PingInterval: time.Hour, PongWait: 2 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	s, err := api.New(api.Options{Mounts: []func(*api.Router){hub.Mount}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	hubDone, busDone := make(chan error, 1), make(chan error, 1)
	go func() { busDone <- bus.Run(ctx) }()
	go func() { hubDone <- hub.Run(ctx) }()

	var (
		received atomic.Int64
		target   atomic.Int64
		done     = make(chan struct{}, 1)
		readers  sync.WaitGroup
		conns    = make([]*websocket.Conn, clients)
	)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/v1/ws"
	header := http.Header{"Authorization": {"Bearer omt_sup"}}
	dialErr := make(chan error, clients)
	sem := make(chan struct{}, 32)
	var dialing sync.WaitGroup
	for i := range conns {
		dialing.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, _, err := websocket.DefaultDialer.Dial(url, header)
			if err != nil {
				dialErr <- err
				return
			}
			if _, _, err := c.ReadMessage(); err != nil { // hello
				dialErr <- err
				return
			}
			conns[i] = c
		})
	}
	dialing.Wait()
	close(dialErr)
	if err := <-dialErr; err != nil {
		b.Fatalf("connecting %d clients: %v", clients, err)
	}
	for _, c := range conns {
		readers.Go(func() {
			// Lean clients (no allocation per message), so the figure is
			// mostly the server's.
			buf := make([]byte, 4096)
			for {
				_, rd, err := c.NextReader()
				if err != nil {
					return
				}
				for err == nil {
					_, err = rd.Read(buf)
				}
				if err != io.EOF {
					return
				}
				if received.Add(1) == target.Load() {
					done <- struct{}{}
				}
			}
		})
	}

	state := presence.AgentState{AgentID: 7, State: "on_call", Reason: "sales", Since: time.Now().UTC(),
		Queues:   []presence.QueueState{{Queue: "sales", State: "on_call", Member: true, Membership: "dynamic", Status: 2}},
		Counters: presence.Counters{Day: "2026-11-21", Answered: 12, TalkSeconds: 3600, PauseSeconds: map[string]int64{"lunch": 1800}},
		Username: "alice", LoggedIn: true, Call: &presence.Call{UniqueID: "1795277390.12", Queue: "sales", Caller: "+390612345678"}}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		target.Store(int64(clients) * int64(i+1))
		start := time.Now()
		bus.Publish(presence.Event{Type: presence.EventAgentState, AgentID: 7, Payload: state})
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			b.Fatalf("event %d: only %d of %d deliveries after 30s", i, received.Load()-int64(clients)*int64(i), clients)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()

	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(clients), "clients")
	if b.N >= 10 {
		b.Logf("fan-out to %d clients over %d events: p50 %s, p99 %s, max %s", clients, b.N, pct(0.50), pct(0.99), lat[len(lat)-1])
	}

	cancel()
	if err := <-hubDone; err != nil {
		b.Error(err)
	}
	if err := <-busDone; err != nil {
		b.Error(err)
	}
	readers.Wait()
	for _, c := range conns {
		c.Close()
	}
	if d := hub.Dropped(); d != 0 {
		b.Errorf("%d events dropped", d)
	}
}
