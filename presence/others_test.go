package presence_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"omnicc/events"
	"omnicc/presence"
	"omnicc/store"
	"omnicc/storetest"
)

// Two instances over one database: what one does to an agent's session
// (log in, pause a channel, log out) the other takes from the stored row,
// so its router asks the right memory, without writing a history row,
// counting or publishing anything a second time.
func TestSessionsTakenFromAnotherInstance(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, b := newRig(t, db), newRig(t, db)
		alice := a.agent("alice", "webrtc", nil)
		a.link(alice, a.queue("support", "chat", 0), 0, false)
		a.load()
		b.load()
		stopA, stopB := a.run(), b.run()
		var mu sync.Mutex
		var hooked []int64
		a.svc.OnSynced(func(id int64) { mu.Lock(); hooked = append(hooked, id); mu.Unlock() })
		ctx := t.Context()
		sync := func(want ...int64) {
			t.Helper()
			got, err := a.svc.SyncSessions(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("SyncSessions took %v, want %v", got, want)
			}
		}
		sync() // nothing changed yet

		if _, err := b.svc.Login(ctx, alice.ID, "api"); err != nil {
			t.Fatal(err)
		}
		a.pub.mu.Lock()
		published := len(a.pub.events)
		a.pub.mu.Unlock()
		if _, ok := a.svc.CanTake(alice.ID, "chat"); ok {
			t.Fatal("a knew of the login before reading it")
		}
		sync(alice.ID)
		if st := a.state(alice.ID); st.State != presence.StateReady || !st.LoggedIn {
			t.Fatalf("a after b's login: %s logged_in=%v, want ready", st.State, st.LoggedIn)
		}
		if _, ok := a.svc.CanTake(alice.ID, "chat"); !ok {
			t.Fatal("a's router cannot offer a chat to alice, logged in through b")
		}
		sync() // taken once

		if _, err := b.svc.Pause(ctx, alice.ID, "", []string{"chat"}); err != nil {
			t.Fatal(err)
		}
		sync(alice.ID)
		if st := a.state(alice.ID); !slices.Equal(st.PausedChannels, []string{"chat"}) || st.State != presence.StateReady {
			t.Fatalf("a after b paused chat: %s paused on %v", st.State, st.PausedChannels)
		}
		if _, ok := a.svc.CanTake(alice.ID, "chat"); ok {
			t.Fatal("a offers chats to alice, paused on chat through b")
		}

		a.clock.Advance(time.Minute)
		b.clock.Advance(time.Minute)
		if _, err := b.svc.Logout(ctx, alice.ID, "api"); err != nil {
			t.Fatal(err)
		}
		sync(alice.ID)
		st := a.state(alice.ID)
		if st.State != presence.StateLoggedOut || st.LoggedIn {
			t.Fatalf("a after b's logout: %s logged_in=%v", st.State, st.LoggedIn)
		}
		// a counts the session's time as b did: both answer the same.
		if bst := b.state(alice.ID); st.Counters.LoginSeconds != 60 || bst.Counters.LoginSeconds != 60 {
			t.Fatalf("login_seconds: a %d, b %d; want 60 on both", st.Counters.LoginSeconds, bst.Counters.LoginSeconds)
		}

		// b wrote the history; a added nothing to it and published nothing.
		stopA()
		stopB()
		// The fake clock stands still, so rows of one instant come in the
		// order they were written: compare them as a set.
		got, want := b.history(alice.ID), []string{"logged_out", "login(api)", "logout(api)", "pause", "ready"}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("history: %v, want %v (as one instance writes it)", got, want)
		}
		a.pub.mu.Lock()
		if len(a.pub.events) != published {
			t.Errorf("a published %d events for changes b made and published", len(a.pub.events)-published)
		}
		a.pub.mu.Unlock()
		mu.Lock()
		if !slices.Equal(hooked, []int64{alice.ID, alice.ID, alice.ID}) {
			t.Errorf("OnSynced hooks called for %v, want alice three times", hooked)
		}
		mu.Unlock()

		// On a shared MySQL, a REST action on a reads the stored session
		// first: a pause through a right after a login through b works.
		if db.Dialect == store.MySQL {
			if _, err := b.svc.Login(ctx, alice.ID, "api"); err != nil {
				t.Fatal(err)
			}
			if _, err := a.svc.Pause(ctx, alice.ID, "", []string{"voice"}); err != nil {
				t.Fatalf("a pausing alice logged in through b: %v", err)
			}
		}
	})
}

// FollowOthers reads a session as soon as another instance's agent_state
// event for that agent arrives over the fan-out.
func TestFollowOthersTakesTheSessionOnTheirEvent(t *testing.T) {
	db := storetest.SQLite(t)
	a, b := newRig(t, db), newRig(t, db)
	alice := a.agent("alice", "webrtc", nil)
	a.load()
	b.load()
	bus := events.New(events.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() { _ = bus.Run(ctx) })
	// The fake clock never ticks: only the event can make a read it.
	wg.Go(func() { _ = a.svc.FollowOthers(ctx, bus, time.Hour) })

	if _, err := b.svc.Login(ctx, alice.ID, "api"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		// What b published, as the fan-out puts it on a's bus.
		bus.Publish(events.Event{Type: presence.EventAgentState, AgentID: alice.ID, Origin: "b", Payload: map[string]any{}})
		if a.state(alice.ID).LoggedIn {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a never took the session after b's event")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An observer (the facts of a box another instance leads) keeps the
// agent's call, membership and wrap-up in memory as the leader does, and
// writes no history row, publishes no event and marks nothing for the
// writer: the leader does each once.
func TestObserverAppliesToMemoryOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db)
		a := r.agent("dave", "webrtc", nil)
		r.link(a, r.queue("sales", "voice", 30), 0, false)
		r.load()
		stop := r.run()
		if _, err := r.svc.Login(t.Context(), a.ID, presence.SourceAPI); err != nil {
			t.Fatal(err)
		}
		stop()
		before := r.history(a.ID)
		r.pub.mu.Lock()
		published := len(r.pub.events)
		r.pub.mu.Unlock()
		obs := r.svc.Observer()
		apply := func(ev presence.VoiceFact) {
			ev.Box, ev.Agent, ev.Queue = "b1", "PJSIP/dave", "sales"
			obs.ApplyVoice(&ev)
		}
		apply(presence.VoiceFact{Kind: presence.VoiceMemberAdded, Membership: presence.MembershipDynamic, Device: presence.DeviceIdle, Status: 1, StateDevice: "PJSIP/dave"})
		if st := r.state(a.ID); len(st.Queues) != 1 || !st.Queues[0].Member {
			t.Fatalf("membership not observed: %+v", st.Queues)
		}
		apply(presence.VoiceFact{Kind: presence.VoiceRinging, CallID: "c1", CallerNum: "5551", Leg: "PJSIP/dave-01"})
		apply(presence.VoiceFact{Kind: presence.VoiceAnswered, CallID: "c1", CallerNum: "5551", LegID: "a1"})
		if st := r.state(a.ID); st.State != presence.StateOnCall || st.Call == nil || st.Call.UniqueID != "c1" {
			t.Fatalf("call not observed: %+v", st)
		}
		apply(presence.VoiceFact{Kind: presence.VoiceCallEnded, CallID: "c1", TalkTime: 30, EndedBy: "caller"})
		if st := r.state(a.ID); st.State != presence.StateWrapUp {
			t.Fatalf("wrap-up not observed: %s", st.State)
		}
		r.clock.Advance(31 * time.Second)
		r.svc.Tick()
		if st := r.state(a.ID); st.State != presence.StateReady {
			t.Fatalf("after the observed wrap-up: %s", st.State)
		}
		// Shut down, everything pending is written: none of it.
		if got := r.history(a.ID); !slices.Equal(got, before) {
			t.Fatalf("the observer wrote history: %v, before %v", got, before)
		}
		r.pub.mu.Lock()
		defer r.pub.mu.Unlock()
		if n := len(r.pub.events) - published; n != 0 {
			t.Fatalf("the observer published %d events", n)
		}
	})
}
