package presence_test

import (
	"slices"
	"testing"

	"omnicc/directory"
	"omnicc/presence"
	"omnicc/storetest"
)

// An agent_state event names the agent's queues, so the bus delivers it to
// a supervisor watching one of them without a directory lookup.
func TestAgentStateEventNamesTheAgentsQueues(t *testing.T) {
	r := newRig(t, storetest.SQLite(t))
	a := r.agent("gail", directory.TypologyWebRTC, nil)
	r.link(a, r.queue("sales", "voice", 0), 0, false)
	r.link(a, r.queue("web", "chat", 0), 0, false)
	r.load()
	if _, err := r.svc.Login(t.Context(), a.ID, presence.SourceAPI); err != nil {
		t.Fatal(err)
	}
	r.pub.mu.Lock()
	defer r.pub.mu.Unlock()
	var last *presence.Event
	for i := range r.pub.events {
		if e := &r.pub.events[i]; e.AgentID == a.ID && e.Type == presence.EventAgentState {
			last = e
		}
	}
	if last == nil {
		t.Fatal("no agent_state event for the login")
	}
	got := slices.Clone(last.Queues)
	slices.Sort(got)
	if !slices.Equal(got, []string{"sales", "web"}) {
		t.Fatalf("event queues = %v, want [sales web]", last.Queues)
	}
}
