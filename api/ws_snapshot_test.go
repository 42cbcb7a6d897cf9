package api_test

import (
	"bytes"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"omnicc/api"
	"omnicc/events"
	"omnicc/presence"
)

// fakeStates is presence's state list as the hub reads it.
type fakeStates struct {
	mu     sync.Mutex
	states []presence.AgentState
}

func (f *fakeStates) States(presence.StateFilter) []presence.AgentState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]presence.AgentState(nil), f.states...)
}

func stateOf(id int64, state string) presence.AgentState {
	return presence.AgentState{AgentID: id, State: state, Since: time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC),
		Username: "agent", Queues: []presence.QueueState{}, PausedChannels: []string{}}
}

func readRaw(t *testing.T, conn *websocket.Conn) []byte {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(wsWait))
	_, data, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return data
}

// Right after hello a connection receives the current agent_state of every
// agent it watches — an agent its own, a supervisor those it names, an
// admin watching everything all of them — in the exact form of the
// agent_state events that follow.
func TestWSSnapshotOnConnect(t *testing.T) {
	states := &fakeStates{states: []presence.AgentState{stateOf(7, presence.StateReady), stateOf(8, presence.StatePaused), stateOf(9, presence.StateLoggedOut)}}
	e := newWSEnv(t, func(o *api.HubOptions) { o.States = states })

	agent := e.connect("omt_agent7")
	snap := readRaw(t, agent)
	// The same state published as an event must read byte for byte alike.
	e.bus.Publish(events.Event{Type: presence.EventAgentState, AgentID: 7, Payload: stateOf(7, presence.StateReady)})
	if ev := readRaw(t, agent); !bytes.Equal(snap, ev) {
		t.Fatalf("snapshot and event differ:\nsnapshot %s\nevent    %s", snap, ev)
	}
	expectNothing(t, agent, "agent 7 after its own snapshot")

	admin := e.connect("omt_admin")
	for _, want := range []float64{7, 8, 9} {
		m := readEvent(t, admin)
		if m["type"] != presence.EventAgentState || m["agent_id"] != want {
			t.Fatalf("admin snapshot: got %v, want agent_state of %v", m, want)
		}
	}
	expectNothing(t, admin, "admin after the snapshot")

	base := e.url
	e.url = base + "?agents=8"
	sup := e.connect("omt_sup")
	if m := readEvent(t, sup); m["type"] != presence.EventAgentState || m["agent_id"] != float64(8) || m["state"] != presence.StatePaused {
		t.Fatalf("supervisor watching agent 8: got %v", m)
	}
	expectNothing(t, sup, "supervisor after agent 8's snapshot")

	// An agent-role API key has no agent: hello only.
	e.url = base
	key := e.connect("omk_agent")
	expectNothing(t, key, "agent-role API key")
}

// A supervisor watching more agents than the send buffer holds gets the
// whole snapshot rather than being dropped as a slow client.
func TestWSSnapshotLargerThanSendBuffer(t *testing.T) {
	states := &fakeStates{}
	for id := int64(1); id <= 50; id++ {
		states.states = append(states.states, stateOf(id, presence.StateReady))
	}
	e := newWSEnv(t, func(o *api.HubOptions) { o.States = states; o.SendBuffer = 4 })
	admin := e.connect("omt_admin")
	for i := range 50 {
		if m := readEvent(t, admin); m["agent_id"] != float64(i+1) {
			t.Fatalf("snapshot item %d: %v", i, m)
		}
	}
}

// Origins listed in AllowedOrigins (OMNICC_WS_ORIGINS) connect; others
// are told which setting admits them.
func TestWSOriginsSetting(t *testing.T) {
	e := newWSEnv(t, func(o *api.HubOptions) {
		o.AllowedOrigins = []string{"https://omnicc.example.com", "https://desk.example.org:8443"}
	})
	for _, origin := range []string{"https://omnicc.example.com", "https://desk.example.org:8443"} {
		conn, resp, err := e.dial("omt_agent7", http.Header{"Origin": {origin}})
		if err != nil {
			t.Fatalf("origin %s refused: %v (%s)", origin, err, status(resp))
		}
		conn.Close()
	}
	_, resp, err := e.dial("omt_agent7", http.Header{"Origin": {"https://desk.example.org"}}) // port differs
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("origin with another port: %v (%s), want 403", err, status(resp))
	}
}

// When events of other instances may have been lost (events.Lost, from
// the fan-out), every socket gets the current state of each agent it
// watches again; the signal itself reaches no socket.
func TestWSLostEventsResendTheSnapshot(t *testing.T) {
	states := &fakeStates{states: []presence.AgentState{stateOf(7, presence.StateReady), stateOf(8, presence.StatePaused)}}
	e := newWSEnv(t, func(o *api.HubOptions) { o.States = states })
	agent := e.connect("omt_agent7")
	readRaw(t, agent) // the snapshot on connect

	// Meanwhile agent 7 went on a call on another instance; the event
	// was lost with the NATS connection.
	states.mu.Lock()
	states.states[0] = stateOf(7, presence.StateOnCall)
	states.mu.Unlock()
	e.bus.Publish(events.Event{Type: events.Lost, Origin: "omnicc-b"})
	if m := readEvent(t, agent); m["type"] != presence.EventAgentState || m["agent_id"] != float64(7) || m["state"] != presence.StateOnCall {
		t.Fatalf("after lost events: %v, want agent 7's current state", m)
	}
	expectNothing(t, agent, "agent 7 after the new snapshot")
}
