package fanout_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"omnicc/events"
	"omnicc/fanout"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// natsURL is the NATS the tests use: OMNICC_TEST_NATS, or the machine's
// (127.0.0.1:4222, started by .ci/nats-up). Down, the test skips — except
// with CI=true, where it fails.
func natsURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("OMNICC_TEST_NATS")
	if u == "" {
		u = "nats://127.0.0.1:4222"
	}
	p, err := url.Parse(u)
	if err != nil {
		t.Fatalf("OMNICC_TEST_NATS=%q: %v", u, err)
	}
	c, err := net.DialTimeout("tcp", p.Host, 2*time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("NATS at %s is unreachable and CI=true: start it (.ci/nats-up does) — %v", p.Host, err)
		}
		t.Skipf("NATS at %s is unreachable (set OMNICC_TEST_NATS or start nats-server): %v", p.Host, err)
	}
	c.Close()
	return u
}

// subject keeps each test's traffic to itself on a shared server.
func subject(t *testing.T) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "omnicc.test." + hex.EncodeToString(b[:])
}

// node is one instance's bus and fan-out, with a subscriber that plays
// the websocket hub.
type node struct {
	bus *events.Bus
	fan *fanout.FanOut
	got *events.Subscription
}

func start(t testing.TB, ctx context.Context, wg *sync.WaitGroup, url, subj, instance string) *node {
	t.Helper()
	bus := events.New(events.Options{QueueSize: 1 << 16})
	fan, err := fanout.New(bus, fanout.Options{URL: url, Subject: subj, Instance: instance})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{bus: bus, fan: fan, got: bus.Subscribe(events.Everything, 1<<16)}
	wg.Go(func() { _ = bus.Run(ctx) })
	wg.Go(func() {
		if err := fan.Run(ctx); err != nil {
			t.Errorf("%s: fan-out: %v", instance, err)
		}
	})
	return n
}

type numbered struct {
	N int `json:"n"`
}

// Events born on each of two instances reach the other's subscribers once
// each, in the order they were published per agent, marked with their
// origin; neither instance sees its own events twice.
func TestEventsReachTheOtherInstanceOnceInOrder(t *testing.T) {
	url, subj := natsURL(t), subject(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	a := start(t, ctx, &wg, url, subj, "a")
	b := start(t, ctx, &wg, url, subj, "b")

	// Both subscribed to NATS: a probe from each gets through.
	probe := func(from, to *node) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			from.bus.Publish(events.Event{Type: "probe"})
			select {
			case e := <-to.got.C():
				if e.Type == "probe" && e.Origin != "" {
					return
				}
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatal("the fan-out never connected the two instances")
			}
		}
	}
	probe(a, b)
	probe(b, a)
	drain := func(n *node) {
		for {
			select {
			case <-n.got.C():
			case <-time.After(300 * time.Millisecond):
				return
			}
		}
	}
	drain(a)
	drain(b)

	const agents, each = 8, 250
	for i := range each {
		for ag := int64(1); ag <= agents; ag++ {
			a.bus.Publish(events.Event{Type: "agent_state", AgentID: ag, Queues: []string{"sales"}, Payload: numbered{N: i}})
			b.bus.Publish(events.Event{Type: "offer", AgentID: ag + 100, Payload: numbered{N: i}})
		}
	}
	// Each bus sees its own events once (no echo) and the other's once.
	check := func(name string, n *node, ownType, otherType, other string, otherBase int64) {
		t.Helper()
		next := map[int64]int{}
		own, theirs := 0, 0
		deadline := time.After(60 * time.Second)
		for own+theirs < 2*agents*each {
			var e events.Event
			select {
			case e = <-n.got.C():
			case <-deadline:
				t.Fatalf("%s: only %d own and %d remote events after 60s, want %d each", name, own, theirs, agents*each)
			}
			switch {
			case e.Type == ownType && e.Origin == "":
				own++
			case e.Type == otherType && e.Origin == other:
				raw, ok := e.Payload.(json.RawMessage)
				if !ok {
					t.Fatalf("%s: remote payload is %T, want the JSON as sent", name, e.Payload)
				}
				var p numbered
				if err := json.Unmarshal(raw, &p); err != nil {
					t.Fatal(err)
				}
				if p.N != next[e.AgentID] {
					t.Fatalf("%s: agent %d got event %d, want %d: out of order or duplicated", name, e.AgentID, p.N, next[e.AgentID])
				}
				if e.AgentID <= otherBase || e.AgentID > otherBase+agents {
					t.Fatalf("%s: remote event for agent %d", name, e.AgentID)
				}
				next[e.AgentID]++
				theirs++
			default:
				t.Fatalf("%s: unexpected event %+v", name, e)
			}
		}
		select {
		case e := <-n.got.C():
			t.Fatalf("%s: an extra event %+v", name, e)
		case <-time.After(300 * time.Millisecond):
		}
	}
	check("a", a, "agent_state", "offer", "b", 100)
	check("b", b, "offer", "agent_state", "a", 0)
}

// NATS unreachable at start is not a failure: Run waits for it, says it is
// not connected, and stops with its context.
func TestNATSDownIsNoFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens there now
	bus := events.New(events.Options{})
	fan, err := fanout.New(bus, fanout.Options{URL: "nats://" + addr, Instance: "a", ReconnectWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = bus.Run(ctx) })
	errc := make(chan error, 1)
	wg.Go(func() { errc <- fan.Run(ctx) })
	bus.Publish(events.Event{Type: "agent_state", AgentID: 1})
	time.Sleep(200 * time.Millisecond)
	if fan.Connected() {
		t.Fatal("connected to nothing")
	}
	cancel()
	wg.Wait()
	if err := <-errc; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}
