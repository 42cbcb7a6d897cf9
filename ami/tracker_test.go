package ami_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"omnicc/ami"
	"omnicc/ami/amitest"
	"omnicc/directory"
	"omnicc/presence"
	"omnicc/store"
	"omnicc/storetest"
)

// trackRig is the whole voice-state path over real TCP: an amitest server
// with an app_queue model, a pool, the tracker and presence over a real
// database.
type trackRig struct {
	t       *testing.T
	db      *store.DB
	dir     *directory.Directory
	svc     *presence.Service
	srv     *amitest.Server
	queues  *amitest.Queues
	pool    *ami.Pool
	tracker *ami.Tracker
	clock   *tickClock
	logs    *syncBuffer // the tracker's log, debug included
	stop    func()
}

// tickClock is the tracker's clock in tests: real time, but its timers (the
// periodic reconcile's) fire only when the test calls Tick.
type tickClock struct {
	mu      sync.Mutex
	pending []chan time.Time
	armed   int // After calls so far
}

func (c *tickClock) Now() time.Time { return time.Now() }

func (c *tickClock) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	c.pending = append(c.pending, ch)
	c.armed++
	c.mu.Unlock()
	return ch
}

// Tick fires every timer set so far.
func (c *tickClock) Tick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range c.pending {
		ch <- time.Now()
	}
	c.pending = nil
}

func (c *tickClock) timersSet() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.armed
}

func newTrackRig(t *testing.T, db *store.DB, queues ...string) *trackRig {
	t.Helper()
	return newTrackRigWith(t, db, nil, queues...)
}

// newTrackRigWith is newTrackRig with the tracker's options edited first.
func newTrackRigWith(t *testing.T, db *store.DB, edit func(*ami.TrackerOptions, *ami.Pool), queues ...string) *trackRig {
	t.Helper()
	r := &trackRig{t: t, db: db}
	r.dir = directory.New(db, directory.Options{BcryptCost: 4})
	r.logs = &syncBuffer{}
	r.srv = amitest.NewServer(t, testUser, testSecret)
	r.queues = amitest.NewQueues(r.srv, queues...)
	// Built as cmd/omniccd builds it: pool, queue actions, presence, tracker.
	pool, err := ami.NewPool([]ami.BoxConfig{{Addr: r.srv.Addr(), Username: testUser, Secret: testSecret}}, ami.Config{
		PingInterval: time.Hour, BackoffMin: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	actions := ami.NewQueueActions(pool, logger)
	r.svc = presence.New(presence.Options{DB: db, Directory: r.dir, Names: ami.Names{}, Controller: actions, Logger: logger})
	r.clock = &tickClock{}
	opts := ami.TrackerOptions{Clock: r.clock, Logger: logger, Actions: actions, ResyncOnConnect: true}
	if edit != nil {
		edit(&opts, pool)
	}
	tracker := ami.NewTracker(pool, r.svc, opts)
	r.pool, r.tracker = pool, tracker
	return r
}

// start loads presence and runs everything until the test ends (or stop).
func (r *trackRig) start() {
	r.t.Helper()
	if err := r.svc.Load(r.t.Context()); err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.svc.Run(ctx) })
	wg.Go(func() { _ = r.tracker.Run(ctx) })
	wg.Go(func() { _ = r.pool.Run(ctx) })
	var once sync.Once
	r.stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	r.t.Cleanup(r.stop)
}

// waitResynced waits until the tracker finished n resyncs after a connect.
func (r *trackRig) waitResynced(n int) {
	r.t.Helper()
	r.waitFor("resync after connect done", func() bool { return strings.Count(r.logs.String(), "AMI resync done") >= n })
}

func (r *trackRig) agent(username, typology string, edit func(*directory.AgentInput)) *directory.Agent {
	r.t.Helper()
	s := func(v string) *string { return &v }
	in := directory.AgentInput{FullName: s("Agent " + username), Username: s(username), Typology: s(typology), Password: s("Str0ng-Pass")}
	if edit != nil {
		edit(&in)
	}
	a, err := r.dir.CreateAgent(r.t.Context(), in)
	if err != nil {
		r.t.Fatal(err)
	}
	return a
}

// external is an agent reached through Local/<number>@<context>/n, like the
// members of the captured scenario.
func (r *trackRig) external(username, number, context string) *directory.Agent {
	return r.agent(username, directory.TypologyExternal, func(in *directory.AgentInput) {
		in.ExternalNumber, in.Context = &number, &context
	})
}

func (r *trackRig) queue(name string, agents ...*directory.Agent) *directory.Queue {
	r.t.Helper()
	ch, strategy := "voice", "ringall"
	q, err := r.dir.CreateQueue(r.t.Context(), directory.QueueInput{Name: &name, Channel: &ch, Strategy: &strategy})
	if err != nil {
		r.t.Fatal(err)
	}
	for _, a := range agents {
		if err := r.dir.AddQueueMember(r.t.Context(), directory.MembershipInput{QueueID: q.ID, AgentID: a.ID}); err != nil {
			r.t.Fatal(err)
		}
	}
	return q
}

// waitState waits until the agent's state satisfies ok, and returns it.
func (r *trackRig) waitState(id int64, what string, ok func(presence.AgentState) bool) presence.AgentState {
	r.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		st, err := r.svc.State(r.t.Context(), id)
		if err != nil {
			r.t.Fatal(err)
		}
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("agent %d never reached %s; state %+v", id, what, st)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (r *trackRig) waitFor(what string, ok func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(wait)
	for !ok() {
		if time.Now().After(deadline) {
			r.t.Fatalf("never: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (r *trackRig) history(id int64) []string {
	r.t.Helper()
	var rows []struct {
		Queue  *string `db:"queue"`
		State  string  `db:"state"`
		Reason string  `db:"reason"`
	}
	if err := r.db.SelectContext(r.t.Context(), &rows, `SELECT queue, state, reason FROM agent_events WHERE agent_id = ? ORDER BY at, id`, id); err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, e := range rows {
		s := e.State
		if e.Queue != nil {
			s += "@" + *e.Queue
		}
		if e.Reason != "" {
			s += "(" + e.Reason + ")"
		}
		out = append(out, s)
	}
	return out
}

// replay pushes the captured events one by one, up to and including the
// first one for which stop is true, and returns the rest.
func replay(srv *amitest.Server, events []ami.Message, stop func(ami.Message) bool) []ami.Message {
	for i, m := range events {
		srv.Push(m)
		if stop(m) {
			return events[i+1:]
		}
	}
	return nil
}

func isEvent(name string, kv ...string) func(ami.Message) bool {
	return func(m ami.Message) bool {
		if m.Event() != name {
			return false
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if m.Get(kv[i]) != kv[i+1] {
				return false
			}
		}
		return true
	}
}

// The captured queue scenario replayed over TCP: the state of the member
// (Local/200@agents-test/n, StateInterface Custom:agent200) and of the
// second member at each step, the counters at the end, and the history.
func TestTrackerReplaysCapturedQueueScenario(t *testing.T) {
	checkLeaks(t)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newTrackRig(t, db, "sales")
		a200 := r.external("agent200", "200", "agents-test")
		a201 := r.external("agent201", "201", "agents-test")
		r.queue("sales", a200, a201)
		r.start()
		if err := r.srv.WaitLogins(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		// The resync of the empty box finished: nothing to correct.
		if _, err := r.srv.WaitActions(t.Context(), "DeviceStateList", 1); err != nil {
			t.Fatal(err)
		}
		events, err := amitest.LoadCapture(t, amitest.QueueEvents).Events()
		if err != nil {
			t.Fatal(err)
		}

		// QueueAdd made in Asterisk while omniccd watches: adopted as a login.
		events = replay(r.srv, events, isEvent("QueueMemberAdded", "Interface", "Local/200@agents-test/n"))
		st := r.waitState(a200.ID, "logged in", func(s presence.AgentState) bool { return s.LoggedIn })
		if st.State != presence.StateReady || len(st.Queues) != 1 || !st.Queues[0].Member || st.Queues[0].Membership != "dynamic" {
			t.Fatalf("after QueueMemberAdded: %+v", st)
		}
		events = replay(r.srv, events, isEvent("QueueMemberPause", "Paused", "1"))
		r.waitState(a200.ID, "paused for lunch", func(s presence.AgentState) bool {
			return s.State == presence.StatePaused && s.Reason == "lunch break" && slices.Equal(s.PausedChannels, []string{"voice"})
		})
		events = replay(r.srv, events, isEvent("QueueMemberPause", "Queue", "rtsales"))
		// The sales unpause comes first and makes it ready: wait for rtsales too.
		st = r.waitState(a200.ID, "unpaused", func(s presence.AgentState) bool { return s.State == presence.StateReady && len(s.Queues) == 2 })
		if len(st.Queues) != 2 || st.Queues[1].Queue != "rtsales" || st.Queues[1].Membership != "realtime" {
			t.Fatalf("the realtime membership should show: %+v", st.Queues)
		}
		events = replay(r.srv, events, isEvent("AgentCalled"))
		st = r.waitState(a200.ID, "ringing", func(s presence.AgentState) bool { return s.State == presence.StateRinging })
		if st.Call == nil || st.Call.Caller != "5551000" || st.Call.Queue != "sales" || st.Reason != "sales" {
			t.Fatalf("ringing: %+v", st)
		}
		events = replay(r.srv, events, isEvent("AgentConnect"))
		st = r.waitState(a200.ID, "on call", func(s presence.AgentState) bool { return s.State == presence.StateOnCall })
		if st.Call == nil || st.Call.UniqueID != "1795277388.25" || st.Call.Caller != "5551000" || st.Call.CallerName != "Queue Caller" ||
			st.Call.Channel != "Local/200@agents-test-00000001;1" || st.Counters.Answered != 1 {
			t.Fatalf("on call: %+v", st)
		}
		events = replay(r.srv, events, isEvent("AgentComplete"))
		st = r.waitState(a200.ID, "call over", func(s presence.AgentState) bool { return s.Call == nil })
		if st.State != presence.StateReady || st.Counters.TalkSeconds != 3 {
			t.Fatalf("after AgentComplete (no wrap-up time): %+v", st)
		}
		// The Local channel's INUSE that came during the call must not make
		// the agent look busy when its NOT_INUSE arrives late.
		events = replay(r.srv, events, isEvent("QueueMemberAdded"))
		r.waitState(a201.ID, "201 logged in", func(s presence.AgentState) bool { return s.LoggedIn })
		if st := r.waitState(a200.ID, "ready", func(s presence.AgentState) bool { return true }); st.State != presence.StateReady {
			t.Fatalf("200 after the call: %+v", st)
		}
		events = replay(r.srv, events, isEvent("QueueMemberPause", "PausedReason", "wrapup"))
		r.waitState(a200.ID, "paused wrapup", func(s presence.AgentState) bool { return s.State == presence.StatePaused && s.Reason == "wrapup" })
		events = replay(r.srv, events, isEvent("AgentCalled"))
		r.waitState(a201.ID, "201 ringing", func(s presence.AgentState) bool {
			return s.State == presence.StateRinging && s.Call != nil && s.Call.Caller == "5552000"
		})
		events = replay(r.srv, events, isEvent("AgentRingNoAnswer"))
		r.waitState(a201.ID, "201 missed one", func(s presence.AgentState) bool {
			return s.State == presence.StateReady && s.Counters.Missed == 1
		})
		events = replay(r.srv, events, isEvent("AgentCalled"))
		r.waitState(a201.ID, "201 ringing again", func(s presence.AgentState) bool { return s.State == presence.StateRinging })
		// Queue timeout: AgentRingNoAnswer, then QueueCallerAbandon and Leave.
		events = replay(r.srv, events, isEvent("QueueCallerAbandon"))
		st = r.waitState(a201.ID, "201 ring over", func(s presence.AgentState) bool { return s.Counters.Missed == 2 && s.State == presence.StateReady })
		if st.Call != nil {
			t.Fatalf("a timed-out caller still rings 201: %+v", st)
		}
		events = replay(r.srv, events, isEvent("QueueMemberPause", "PausedReason", "away"))
		r.waitState(a201.ID, "201 paused", func(s presence.AgentState) bool { return s.State == presence.StatePaused && s.Reason == "away" })
		// Custom:agent200 set INUSE by Setvar: the device is busy.
		events = replay(r.srv, events, isEvent("QueueMemberStatus", "Status", "2", "Queue", "rtsales"))
		r.waitState(a200.ID, "device in use", func(s presence.AgentState) bool {
			return s.State == presence.StateOnCall && s.Device == "INUSE" && s.Call == nil
		})
		events = replay(r.srv, events, isEvent("QueueMemberStatus", "Status", "1", "Queue", "rtsales"))
		r.waitState(a200.ID, "device free", func(s presence.AgentState) bool { return s.State == presence.StatePaused })
		replay(r.srv, events, func(ami.Message) bool { return false })
		r.waitState(a201.ID, "201 logged out", func(s presence.AgentState) bool { return s.State == presence.StateLoggedOut })
		st = r.waitState(a200.ID, "200 out of sales", func(s presence.AgentState) bool { return len(s.Queues) == 2 && !s.Queues[0].Member })
		// Still a realtime member of rtsales: a permanent member takes calls.
		if st.State != presence.StateReady || !st.LoggedIn || st.LoggedInAt != nil || st.Counters.Answered != 1 || st.Counters.TalkSeconds != 3 {
			t.Fatalf("200 at the end: %+v", st)
		}

		r.stop()
		h := r.history(a200.ID)
		for _, want := range []string{"login(added in Asterisk)", "member_added@sales(dynamic)", "paused@sales(lunch break)", "paused(lunch break)",
			"ringing@sales", "on_call@sales", "call_completed@sales(agent)", "paused(wrapup)", "logout(removed in Asterisk)"} {
			if !slices.Contains(h, want) {
				t.Errorf("history of agent200 lacks %s:\n%v", want, h)
			}
		}
		h = r.history(a201.ID)
		if n := strings.Count(strings.Join(h, " "), "ring_no_answer@sales"); n != 2 {
			t.Errorf("agent201 should have 2 ring_no_answer rows: %v", h)
		}
		if !slices.Contains(h, "ring_cancelled@sales(caller left the queue (abandon or queue timeout))") && !slices.Contains(h, "ready") {
			t.Errorf("agent201 history: %v", h)
		}
	})
}

// An Asterisk restart while omniccd runs: the state is resynced from the
// lists and the box reconciled with the database — the logged-in agent put
// back with its pause, a dynamic member nobody logged in removed, the
// static member and the queue omniccd does not manage left alone, a call
// that died with Asterisk ended, an unregistered phone shown.
func TestTrackerResyncsAndReconcilesAfterRestart(t *testing.T) {
	checkLeaks(t)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newTrackRig(t, db, "sales", "confonly")
		alice := r.agent("alice", "webrtc", nil)
		bob := r.agent("bob", "webrtc", nil)
		carol := r.agent("carol", "phonebar", nil)
		r.queue("sales", alice, bob, carol)
		lunch := &directory.PauseType{Base: directory.Base{Name: "Lunch"}}
		if err := r.dir.PauseTypes().Create(t.Context(), lunch); err != nil {
			t.Fatal(err)
		}
		r.queues.Add(amitest.QueueMember{Queue: "sales", Interface: "PJSIP/static1", MemberName: "Overflow", StateInterface: "PJSIP/static1", Membership: "static"})
		r.queues.Add(amitest.QueueMember{Queue: "confonly", Interface: "PJSIP/bob", MemberName: "bob", StateInterface: "PJSIP/bob"})
		r.start()
		if _, err := r.srv.WaitActions(t.Context(), "DeviceStateList", 1); err != nil {
			t.Fatal(err)
		}
		for _, a := range []*directory.Agent{alice, carol} {
			if res, err := r.svc.Login(t.Context(), a.ID, presence.SourceAPI); err != nil || res.Asterisk != presence.AsteriskSynced {
				t.Fatalf("login %s: %+v %v", a.Username, res, err)
			}
		}
		if _, err := r.svc.Pause(t.Context(), alice.ID, "lunch", []string{"voice"}); err != nil {
			t.Fatal(err)
		}
		// A call on carol's phone, then Asterisk dies mid-stream: half an
		// event on the wire, and everything dynamic is gone on restart.
		r.srv.Push(ami.NewMessage("Event", "AgentConnect", "Queue", "sales", "Interface", "PJSIP/carol", "Uniqueid", "c1",
			"CallerIDNum", "5559", "DestChannel", "PJSIP/carol-00000001", "DestUniqueid", "a1"))
		r.waitState(carol.ID, "carol on call", func(s presence.AgentState) bool { return s.State == presence.StateOnCall })
		r.srv.PushRaw([]byte("Event: QueueMemberPause\r\nQueue: sa"))
		r.queues.Restart()
		// While Asterisk was down, someone added bob by hand.
		r.queues.Add(amitest.QueueMember{Queue: "sales", Interface: "PJSIP/bob", MemberName: "bob", StateInterface: "PJSIP/bob"})
		r.queues.Add(amitest.QueueMember{Queue: "sales", Interface: "PJSIP/ghost", MemberName: "ghost", StateInterface: "PJSIP/ghost"})
		r.queues.Add(amitest.QueueMember{Queue: "confonly", Interface: "PJSIP/bob", MemberName: "bob", StateInterface: "PJSIP/bob"})
		r.queues.SetDevices("PJSIP/alice", "NOT_INUSE", "PJSIP/carol", "UNAVAILABLE", "Queue:sales_avail", "INUSE")
		before := len(r.srv.Actions("QueueAdd"))
		r.srv.Restart()
		if err := r.srv.WaitLogins(t.Context(), 2); err != nil {
			t.Fatal(err)
		}
		r.waitFor("reconcile re-added alice and carol", func() bool {
			_, a := r.queues.Member("sales", "PJSIP/alice")
			_, c := r.queues.Member("sales", "PJSIP/carol")
			return a && c
		})
		r.waitFor("reconcile removed bob and ghost from sales", func() bool {
			_, b := r.queues.Member("sales", "PJSIP/bob")
			_, g := r.queues.Member("sales", "PJSIP/ghost")
			return !b && !g
		})
		adds := r.srv.Actions("QueueAdd")[before:]
		var aliceAdd ami.Message
		for _, a := range adds {
			if a.Get("Interface") == "PJSIP/alice" {
				aliceAdd = a
			}
		}
		if aliceAdd.Get("Paused") != "true" || aliceAdd.Get("Reason") != "Lunch" || aliceAdd.Get("MemberName") != "alice" ||
			aliceAdd.Get("StateInterface") != "PJSIP/alice" || aliceAdd.Get("Queue") != "sales" {
			t.Fatalf("alice re-added without her pause: %v", aliceAdd)
		}
		if m, ok := r.queues.Member("sales", "PJSIP/static1"); !ok || m.Membership != "static" {
			t.Fatal("the static member was touched")
		}
		if _, ok := r.queues.Member("confonly", "PJSIP/bob"); !ok {
			t.Fatal("a member of a queue omniccd does not manage was removed")
		}
		for _, rm := range r.srv.Actions("QueueRemove") {
			if rm.Get("Queue") != "sales" {
				t.Fatalf("reconcile removed from a queue it does not manage: %v", rm)
			}
		}
		st := r.waitState(carol.ID, "carol's call gone, phone unregistered", func(s presence.AgentState) bool {
			return s.Call == nil && s.State == presence.StateUnavailable
		})
		if !st.LoggedIn || st.Device != "UNAVAILABLE" {
			t.Fatalf("carol %+v", st)
		}
		r.waitState(alice.ID, "alice paused in Asterisk again", func(s presence.AgentState) bool {
			return s.State == presence.StatePaused && len(s.Queues) == 1 && s.Queues[0].Member && s.Queues[0].Paused && s.Queues[0].Reason == "Lunch"
		})
		if st, _ := r.svc.State(t.Context(), bob.ID); st.LoggedIn {
			t.Fatalf("bob added by hand while omniccd was away must not be logged in: %+v", st)
		}
	})
}

// A pause made inside Asterisk (CLI `queue pause member`) is reflected and
// stored in the session; the unpause too.
func TestTrackerReflectsPausesMadeInAsterisk(t *testing.T) {
	checkLeaks(t)
	r := newTrackRig(t, storetest.SQLite(t), "sales", "support")
	dan := r.agent("dan", "webrtc", nil)
	r.queue("sales", dan)
	r.queue("support", dan)
	r.start()
	if _, err := r.srv.WaitActions(t.Context(), "DeviceStateList", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Login(t.Context(), dan.ID, presence.SourceAPI); err != nil {
		t.Fatal(err)
	}
	r.waitState(dan.ID, "members", func(s presence.AgentState) bool {
		return len(s.Queues) == 2 && s.Queues[0].Member && s.Queues[1].Member
	})
	// One queue only: the agent still takes calls from the other.
	r.queues.Pause("sales", "PJSIP/dan", true, "Supervisor")
	st := r.waitState(dan.ID, "sales paused", func(s presence.AgentState) bool { return s.Queues[0].Paused })
	if st.State != presence.StateReady || st.Queues[1].Paused {
		t.Fatalf("one queue paused: %+v", st)
	}
	r.queues.Pause("", "PJSIP/dan", true, "Supervisor")
	r.waitState(dan.ID, "paused", func(s presence.AgentState) bool { return s.State == presence.StatePaused && s.Reason == "Supervisor" })
	r.waitFor("pause stored", func() bool {
		var reason string
		_ = r.db.GetContext(t.Context(), &reason, `SELECT pause_reason FROM agent_sessions WHERE agent_id = ?`, dan.ID)
		return reason == "Supervisor"
	})
	r.queues.Pause("", "PJSIP/dan", false, "")
	r.waitState(dan.ID, "unpaused", func(s presence.AgentState) bool { return s.State == presence.StateReady })
	r.waitFor("unpause stored", func() bool {
		var ch string
		_ = r.db.GetContext(t.Context(), &ch, `SELECT paused_channels FROM agent_sessions WHERE agent_id = ?`, dan.ID)
		return ch == ""
	})
}

// Asterisk's refusal reaches the caller with its own words; a login it
// refuses is undone.
func TestTrackerCarriesAsteriskRefusal(t *testing.T) {
	checkLeaks(t)
	r := newTrackRig(t, storetest.SQLite(t), "other")
	eve := r.agent("eve", "webrtc", nil)
	r.queue("sales", eve) // unknown to this Asterisk
	r.start()
	if _, err := r.srv.WaitActions(t.Context(), "DeviceStateList", 1); err != nil {
		t.Fatal(err)
	}
	_, err := r.svc.Login(t.Context(), eve.ID, presence.SourceAPI)
	var refused *presence.RefusedError
	var ae *ami.ActionError
	if !errors.As(err, &refused) || refused.Message != "Unable to add interface to queue: No such queue" || !errors.As(err, &ae) {
		t.Fatalf("refused login: %v", err)
	}
	if r.svc.Session(eve.ID) != nil {
		t.Fatal("refused login left a session")
	}
	// Nothing connected: the session is stored, Asterisk catches up later.
	r.srv.Close()
	r.waitFor("pool down", func() bool { return !r.pool.Clients()[0].Connected() })
	res, err := r.svc.Login(t.Context(), eve.ID, presence.SourceAPI)
	if err != nil || res.Asterisk != presence.AsteriskPending {
		t.Fatalf("login with Asterisk down: %+v %v", res, err)
	}
}

func TestTrackerIgnoresWhatIsNotAnAgent(t *testing.T) {
	r := newTrackRig(t, storetest.SQLite(t), "sales")
	if err := r.svc.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	for _, m := range []ami.Message{
		{},
		ami.NewMessage("Event", "VarSet", "Channel", "PJSIP/x-1"),
		ami.NewMessage("Event", "DeviceStateChange", "Device", "Queue:sales_pause_PJSIP/x", "State", "INUSE"),
		ami.NewMessage("Event", "QueueMemberAdded", "Queue", "sales", "Interface", "PJSIP/nobody", "Membership", "dynamic"),
		ami.NewMessage("Response", "Success"),
	} {
		r.tracker.Apply("b", at, m)
	}
	if got := r.svc.States(presence.StateFilter{}); len(got) != 0 {
		t.Fatalf("states %+v", got)
	}
}

// app_queue can forget a realtime queue and its dynamic members without any
// event (one res_config_curl lookup of the queue timed out against a real
// Asterisk 22, and the agent stayed "ready" in omniccd): the periodic
// reconcile reads the members again, finds her missing, adds her back with
// her pause and says so in the log.
func TestTrackerPeriodicReconcileRestoresForgottenMembers(t *testing.T) {
	checkLeaks(t)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newTrackRig(t, db, "sales")
		alice := r.agent("alice", "webrtc", nil)
		r.queue("sales", alice)
		if err := r.dir.PauseTypes().Create(t.Context(), &directory.PauseType{Base: directory.Base{Name: "Lunch"}}); err != nil {
			t.Fatal(err)
		}
		r.start()
		r.waitResynced(1)
		if _, err := r.svc.Login(t.Context(), alice.ID, presence.SourceAPI); err != nil {
			t.Fatal(err)
		}
		if _, err := r.svc.Pause(t.Context(), alice.ID, "lunch", []string{"voice"}); err != nil {
			t.Fatal(err)
		}
		r.waitState(alice.ID, "paused in sales", func(s presence.AgentState) bool {
			return s.State == presence.StatePaused && len(s.Queues) == 1 && s.Queues[0].Member && s.Queues[0].Paused
		})
		adds, statuses := len(r.srv.Actions("QueueAdd")), len(r.srv.Actions("QueueStatus"))

		if n := r.queues.Forget("sales", ""); n != 1 {
			t.Fatalf("forgot %d members", n)
		}
		if st, _ := r.svc.State(t.Context(), alice.ID); !st.Queues[0].Member {
			t.Fatal("omniccd learnt of the forgotten member without any event")
		}
		r.clock.Tick()
		r.waitFor("alice back in sales with her pause", func() bool {
			m, ok := r.queues.Member("sales", "PJSIP/alice")
			return ok && m.Paused && m.PausedReason == "Lunch"
		})
		added := r.srv.Actions("QueueAdd")[adds:]
		if len(added) != 1 || added[0].Get("Interface") != "PJSIP/alice" || added[0].Get("MemberName") != "alice" ||
			added[0].Get("Paused") != "true" || added[0].Get("Reason") != "Lunch" {
			t.Fatalf("periodic reconcile sent %v", added)
		}
		if n := len(r.srv.Actions("QueueStatus")) - statuses; n != 1 {
			t.Fatalf("a periodic check sent %d QueueStatus, want 1 for every queue", n)
		}
		for _, a := range []string{"CoreShowChannels", "DeviceStateList"} {
			if n := len(r.srv.Actions(a)); n != 1 {
				t.Fatalf("%s sent %d times; the periodic check reads members only", a, n)
			}
		}
		r.waitFor("the correction logged", func() bool {
			l := r.logs.String()
			return strings.Contains(l, "drifted from omniccd's sessions") &&
				strings.Contains(l, "trigger=periodic action=add agent_id="+strconv.FormatInt(alice.ID, 10)+" queue=sales")
		})
		r.waitState(alice.ID, "a member again", func(s presence.AgentState) bool {
			return s.State == presence.StatePaused && s.Queues[0].Member && s.Queues[0].Paused
		})

		// The next tick finds nothing to correct.
		r.clock.Tick()
		r.waitFor("second check done", func() bool {
			return strings.Contains(r.logs.String(), "Asterisk matches omniccd's sessions")
		})
		if n := len(r.srv.Actions("QueueAdd")) - adds; n != 1 {
			t.Fatalf("%d QueueAdd after the second check", n)
		}
	})
}

// A periodic check that is still running (a slow QueueStatus) is not
// overlapped by the next ticks.
func TestTrackerPeriodicReconcileNeverOverlaps(t *testing.T) {
	checkLeaks(t)
	r := newTrackRig(t, storetest.SQLite(t), "sales")
	r.start()
	r.waitResynced(1)
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	r.srv.Handle("QueueStatus", func(a ami.Message) []ami.Message {
		<-release
		return r.queues.Answer(a)
	})
	statuses := len(r.srv.Actions("QueueStatus"))
	armed := r.clock.timersSet()
	r.clock.Tick()
	if _, err := r.srv.WaitActions(t.Context(), "QueueStatus", statuses+1); err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 4; i++ {
		r.clock.Tick()
		r.waitFor("the tick consumed", func() bool { return r.clock.timersSet() >= armed+i })
	}
	unblock()
	r.waitFor("the check done", func() bool { return strings.Contains(r.logs.String(), "Asterisk matches omniccd's sessions") })
	if n := len(r.srv.Actions("QueueStatus")) - statuses; n != 1 {
		t.Fatalf("%d QueueStatus: the checks overlapped", n)
	}
	if n := strings.Count(r.logs.String(), "still running from the last tick"); n != 3 {
		t.Fatalf("%d ticks skipped, want 3", n)
	}
}

// What an admin changes reaches a logged-in agent in Asterisk: a voice
// queue unassigned is left, one assigned is joined with the current pause,
// a new username moves the memberships to the new endpoint, and a disabled
// or deleted agent is logged out and removed from every queue (Asterisk
// would otherwise keep ringing an endpoint that is gone).
func TestTrackerFollowsAdminChanges(t *testing.T) {
	checkLeaks(t)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newTrackRig(t, db, "sales", "support", "billing")
		alice := r.agent("alice", "webrtc", nil)
		bob := r.agent("bob", "webrtc", nil)
		r.queue("sales", alice, bob)
		support := r.queue("support", alice)
		billing := r.queue("billing")
		if err := r.dir.PauseTypes().Create(t.Context(), &directory.PauseType{Base: directory.Base{Name: "Lunch"}}); err != nil {
			t.Fatal(err)
		}
		r.start()
		r.waitResynced(1)
		for _, a := range []*directory.Agent{alice, bob} {
			if _, err := r.svc.Login(t.Context(), a.ID, presence.SourceAPI); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := r.svc.Pause(t.Context(), alice.ID, "Lunch", []string{"voice"}); err != nil {
			t.Fatal(err)
		}
		member := func(queue, iface string) (amitest.QueueMember, bool) { return r.queues.Member(queue, iface) }
		r.waitFor("alice paused in sales and support", func() bool {
			s, ok1 := member("sales", "PJSIP/alice")
			p, ok2 := member("support", "PJSIP/alice")
			return ok1 && ok2 && s.Paused && p.Paused
		})

		if err := r.dir.RemoveQueueMember(t.Context(), support.ID, alice.ID); err != nil {
			t.Fatal(err)
		}
		r.waitFor("alice left support", func() bool { _, ok := member("support", "PJSIP/alice"); return !ok })
		if _, ok := member("sales", "PJSIP/alice"); !ok || r.svc.Session(alice.ID) == nil {
			t.Fatal("leaving one queue must not log her out")
		}

		if err := r.dir.AddQueueMember(t.Context(), directory.MembershipInput{QueueID: billing.ID, AgentID: alice.ID, Penalty: 4}); err != nil {
			t.Fatal(err)
		}
		r.waitFor("alice joined billing with her pause", func() bool {
			m, ok := member("billing", "PJSIP/alice")
			return ok && m.Paused && m.PausedReason == "Lunch" && m.Penalty == 4 && m.MemberName == "alice"
		})
		r.waitState(alice.ID, "billing shown", func(s presence.AgentState) bool {
			return s.State == presence.StatePaused && len(s.Queues) == 2 && s.Queues[0].Queue == "billing" && s.Queues[0].Member
		})
		// A new penalty on a queue she stays in: QueuePenalty.
		if err := r.dir.AddQueueMember(t.Context(), directory.MembershipInput{QueueID: billing.ID, AgentID: alice.ID, Penalty: 7}); err != nil {
			t.Fatal(err)
		}
		r.waitFor("alice's billing penalty is 7 in Asterisk", func() bool {
			m, ok := member("billing", "PJSIP/alice")
			return ok && m.Penalty == 7 && m.Paused
		})
		r.waitState(alice.ID, "billing penalty shown", func(s presence.AgentState) bool {
			return len(s.Queues) == 2 && s.Queues[0].Queue == "billing" && s.Queues[0].Penalty == 7
		})

		newName := "alice.b"
		if _, err := r.dir.UpdateAgent(t.Context(), alice.ID, directory.AgentInput{Username: &newName}); err != nil {
			t.Fatal(err)
		}
		r.waitFor("alice's memberships moved to her new endpoint", func() bool {
			_, old1 := member("sales", "PJSIP/alice")
			_, old2 := member("billing", "PJSIP/alice")
			n1, new1 := member("sales", "PJSIP/alice.b")
			_, new2 := member("billing", "PJSIP/alice.b")
			return !old1 && !old2 && new1 && new2 && n1.Paused && n1.MemberName == "alice.b"
		})
		r.waitState(alice.ID, "only the new memberships shown", func(s presence.AgentState) bool {
			return len(s.Queues) == 2 && s.Queues[0].Member && s.Queues[1].Member && s.State == presence.StatePaused
		})

		disabled := true
		if _, err := r.dir.UpdateAgent(t.Context(), alice.ID, directory.AgentInput{Disabled: &disabled}); err != nil {
			t.Fatal(err)
		}
		r.waitFor("disabled alice removed from every queue", func() bool {
			for _, m := range r.queues.Members() {
				if strings.HasPrefix(m.Interface, "PJSIP/alice") {
					return false
				}
			}
			return true
		})
		r.waitState(alice.ID, "alice logged out", func(s presence.AgentState) bool { return s.State == presence.StateLoggedOut && !s.LoggedIn })
		var n int
		if err := r.db.GetContext(t.Context(), &n, `SELECT COUNT(*) FROM agent_sessions WHERE agent_id = ?`, alice.ID); err != nil || n != 0 {
			t.Fatalf("disabled alice's session row: %d %v", n, err)
		}

		if err := r.dir.DeleteAgents(t.Context(), bob.ID); err != nil {
			t.Fatal(err)
		}
		r.waitFor("deleted bob removed from sales", func() bool { _, ok := member("sales", "PJSIP/bob"); return !ok })
		// The fake Asterisk applies the QueueRemove before omniccd reads its
		// reply: stopping now would abandon the action, so wait for the end.
		r.waitFor("bob's logout finished", func() bool {
			return strings.Contains(r.logs.String(), "agent deleted by an admin while logged in")
		})

		r.stop()
		if h := r.history(alice.ID); !slices.Contains(h, "logout(disabled)") {
			t.Errorf("alice's history lacks the logout: %v", h)
		}
		if h := r.history(bob.ID); !slices.Contains(h, "logout(deleted)") {
			t.Errorf("bob's history lacks the logout: %v", h)
		}
		removes := 0
		for _, a := range r.srv.Actions("QueueRemove") {
			if strings.HasPrefix(a.Get("Interface"), "PJSIP/alice") || a.Get("Interface") == "PJSIP/bob" {
				removes++
			}
		}
		// support; sales and billing on the old endpoint; both on the new one; bob's sales.
		if removes != 6 {
			t.Errorf("%d QueueRemove sent, want 6: %v", removes, r.srv.Actions("QueueRemove"))
		}
		if l := r.logs.String(); strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			t.Errorf("warnings:\n%s", l)
		}
	})
}

// Asterisk answers QueueAdd and QueuePause before it sends their events:
// the answers of login, pause, unpause and logout wait for them, so that the
// state and the queues they show agree (against Asterisk 22, /unpause said
// "state":"ready" beside "queues":[{"paused":true}]).
func TestTrackerAnswersReflectAsterisk(t *testing.T) {
	checkLeaks(t)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newTrackRig(t, db, "sales")
		alice := r.agent("alice", "webrtc", nil)
		r.queue("sales", alice)
		if err := r.dir.PauseTypes().Create(t.Context(), &directory.PauseType{Base: directory.Base{Name: "Lunch"}}); err != nil {
			t.Fatal(err)
		}
		r.start()
		r.waitResynced(1)
		r.queues.DelayEvents(60 * time.Millisecond)
		check := func(what string, res presence.Result, err error, state string, member, paused bool) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			st := res.State
			if res.Asterisk != presence.AsteriskSynced || st.State != state || len(st.Queues) != 1 ||
				st.Queues[0].Member != member || st.Queues[0].Paused != paused {
				t.Fatalf("%s answered %+v", what, res)
			}
		}
		res, err := r.svc.Login(t.Context(), alice.ID, presence.SourceAPI)
		check("login", res, err, presence.StateReady, true, false)
		res, err = r.svc.Pause(t.Context(), alice.ID, "Lunch", nil)
		check("pause", res, err, presence.StatePaused, true, true)
		res, err = r.svc.Unpause(t.Context(), alice.ID, nil)
		check("unpause", res, err, presence.StateReady, true, false)
		res, err = r.svc.Logout(t.Context(), alice.ID, presence.SourceAPI)
		check("logout", res, err, presence.StateLoggedOut, false, false)
	})
}
