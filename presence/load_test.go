package presence_test

import (
	"testing"

	"omnicc/directory"
	"omnicc/presence"
	"omnicc/store"
	"omnicc/storetest"
)

// Presence keeps each agent's open interactions per digital channel against
// the capacity the directory gives it, and answers the router's question:
// who can take one more on this channel.
func TestChannelLoadAndFreeCapacity(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db)
		ctx := t.Context()
		two := r.agent("alice", directory.TypologyWebRTC, func(in *directory.AgentInput) {
			in.Channels = map[string]directory.ChannelInput{"whatsapp": {Capacity: ptr(2)}}
		})
		unlimited := r.agent("bob", directory.TypologyWebRTC, nil)
		loggedOut := r.agent("carol", directory.TypologyWebRTC, nil)
		r.load()

		if got := r.svc.FreeCapacity("whatsapp"); len(got) != 0 {
			t.Fatalf("nobody is logged in, yet eligible: %+v", got)
		}
		for _, a := range []*directory.Agent{two, unlimited} {
			if _, err := r.svc.Login(ctx, a.ID, "api"); err != nil {
				t.Fatal(err)
			}
		}
		ids := func(es []presence.Eligible) []int64 {
			var out []int64
			for _, e := range es {
				out = append(out, e.AgentID)
			}
			return out
		}
		// Unlimited first, then the most free room.
		if got := ids(r.svc.FreeCapacity("whatsapp")); len(got) != 2 || got[0] != unlimited.ID || got[1] != two.ID {
			t.Fatalf("eligible = %v, want [%d %d]", got, unlimited.ID, two.ID)
		}

		r.svc.SetLoad(two.ID, "whatsapp", 2)
		if got := ids(r.svc.FreeCapacity("whatsapp")); len(got) != 1 || got[0] != unlimited.ID {
			t.Fatalf("alice at capacity 2/2 is still offered: eligible = %v", got)
		}
		if _, ok := r.svc.CanTake(two.ID, "whatsapp"); ok {
			t.Fatal("CanTake says yes for an agent at capacity")
		}
		if l, ok := r.svc.LoadOn(two.ID, "whatsapp"); !ok || l.Open != 2 || l.Capacity != 2 || !l.Full() || l.Free() != 0 {
			t.Fatalf("load = %+v, %v", l, ok)
		}
		// The state every desktop sees carries the load.
		st, _ := r.pub.last(two.ID)
		found := false
		for _, c := range st.Channels {
			if c.Channel == "whatsapp" {
				found = c.Open == 2 && c.Capacity == 2
			}
		}
		if !found {
			t.Fatalf("agent_state channels = %+v, want whatsapp 2/2", st.Channels)
		}
		// Another channel is not affected by the whatsapp load.
		if _, ok := r.svc.CanTake(two.ID, "chat"); !ok {
			t.Fatal("alice is refused on chat because of her whatsapp load")
		}

		// A close frees capacity.
		r.svc.SetLoad(two.ID, "whatsapp", 1)
		if e, ok := r.svc.CanTake(two.ID, "whatsapp"); !ok || e.Load.Free() != 1 {
			t.Fatalf("after a close: %+v, %v", e, ok)
		}

		// A partial pause on whatsapp stops offers there only.
		if _, err := r.svc.Pause(ctx, unlimited.ID, "", []string{"whatsapp"}); err != nil {
			t.Fatal(err)
		}
		if _, ok := r.svc.CanTake(unlimited.ID, "whatsapp"); ok {
			t.Fatal("bob paused on whatsapp is still eligible there")
		}
		if _, ok := r.svc.CanTake(unlimited.ID, "chat"); !ok {
			t.Fatal("bob paused on whatsapp only is refused on chat")
		}

		// Not for voice (Asterisk routes it), not for an unknown channel,
		// not for a logged-out agent.
		for _, tc := range []struct {
			id int64
			ch string
		}{{two.ID, "voice"}, {two.ID, "pigeon"}, {loggedOut.ID, "chat"}, {999999, "chat"}} {
			if _, ok := r.svc.CanTake(tc.id, tc.ch); ok {
				t.Errorf("CanTake(%d, %q) = true", tc.id, tc.ch)
			}
		}
	})
}

// A capacity changed by an admin is followed without a restart.
func TestChannelCapacityFollowsDirectory(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db)
		ctx := t.Context()
		a := r.agent("dave", directory.TypologyWebRTC, func(in *directory.AgentInput) {
			in.Channels = map[string]directory.ChannelInput{"chat": {Capacity: ptr(1)}}
		})
		r.load()
		if _, err := r.svc.Login(ctx, a.ID, "api"); err != nil {
			t.Fatal(err)
		}
		r.svc.SetLoad(a.ID, "chat", 1)
		if _, ok := r.svc.CanTake(a.ID, "chat"); ok {
			t.Fatal("at capacity 1/1 yet eligible")
		}
		if _, err := r.dir.UpdateAgent(ctx, a.ID, directory.AgentInput{Channels: map[string]directory.ChannelInput{"chat": {Capacity: ptr(3)}}}); err != nil {
			t.Fatal(err)
		}
		r.load()
		if e, ok := r.svc.CanTake(a.ID, "chat"); !ok || e.Load.Capacity != 3 || e.Load.Open != 1 {
			t.Fatalf("after raising capacity to 3: %+v, %v (the open count must survive the reload)", e, ok)
		}
	})
}
