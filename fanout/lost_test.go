package fanout_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"omnicc/events"
)

// A gap in another instance's sequence (events it sent while this one was
// cut off from NATS) puts events.Lost on the local bus, so whoever keeps
// state from those events reads it again; the events around the gap are
// delivered as usual.
func TestGapTellsTheBusEventsWereLost(t *testing.T) {
	url, subj := natsURL(t), subject(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	n := start(t, ctx, &wg, url, subj, "a")
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	send := func(seq int) {
		raw, _ := json.Marshal(map[string]any{"instance": "x", "boot": "b1", "seq": seq, "at": time.Now().UnixNano(), "type": "agent_state", "agent_id": 7})
		if err := nc.Publish(subj, raw); err != nil {
			t.Fatal(err)
		}
	}
	next := func() events.Event {
		t.Helper()
		select {
		case e := <-n.got.C():
			return e
		case <-time.After(30 * time.Second):
			t.Fatal("no event")
		}
		return events.Event{}
	}
	// Until a's subscription is in place, probes may be lost unseen.
	deadline := time.Now().Add(30 * time.Second)
	for seq := 1; ; seq++ {
		send(seq)
		select {
		case e := <-n.got.C():
			if e.Type == "agent_state" {
				send(seq + 4) // seq+1 … seq+3 never sent
				if e := next(); e.Type != events.Lost || e.Origin != "x" {
					t.Fatalf("after a gap: %+v, want %s from x", e, events.Lost)
				}
				if e := next(); e.Type != "agent_state" || e.Origin != "x" {
					t.Fatalf("the event after the gap: %+v", e)
				}
				return
			}
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the fan-out never received")
		}
	}
}
