package presence_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"omnicc/asterisk"
	"omnicc/directory"
	"omnicc/presence"
	"omnicc/store"
	"omnicc/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock only moves when a test says so; After never fires, so Run's
// ticks happen when the test calls Tick.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(time.Duration) <-chan time.Time { return nil }

// Set moves the clock to t (under its lock: the service's goroutines read
// it meanwhile).
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// names names agents as the ami adapter does (ami.Names), from the one rule
// in package asterisk; presence itself never imports it.
type names struct{}

func (names) Member(id presence.Identity) (string, string) {
	m := asterisk.MemberOf(asterisk.Agent{Username: id.Username, External: id.External, ExternalNumber: id.ExternalNumber, Context: id.Context})
	return m.Interface, m.StateInterface
}

func (names) Device(leg string) string { return asterisk.DeviceOf(leg) }

// call is one queue action the fake controller received.
type call struct {
	Action string
	Member presence.Member
	Paused bool
}

// fakeController records actions and answers err (nil: applied).
type fakeController struct {
	mu    sync.Mutex
	calls []call
	err   map[string]error
}

func (f *fakeController) record(c call) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	return f.err[c.Action]
}

func (f *fakeController) QueueAdd(_ context.Context, m presence.Member) error {
	return f.record(call{Action: "QueueAdd", Member: m})
}

func (f *fakeController) QueueRemove(_ context.Context, queue, iface string) error {
	return f.record(call{Action: "QueueRemove", Member: presence.Member{Queue: queue, Interface: iface}})
}

func (f *fakeController) QueuePause(_ context.Context, iface, queue string, paused bool, reason string) error {
	return f.record(call{Action: "QueuePause", Member: presence.Member{Queue: queue, Interface: iface, Reason: reason}, Paused: paused})
}

func (f *fakeController) QueuePenalty(_ context.Context, queue, iface string, penalty int) error {
	return f.record(call{Action: "QueuePenalty", Member: presence.Member{Queue: queue, Interface: iface, Penalty: penalty}})
}

func (f *fakeController) take() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.calls
	f.calls = nil
	return out
}

func (f *fakeController) fail(action string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = map[string]error{}
	}
	f.err[action] = err
}

// rig is a Service over a real database with a fake clock and controller.
type rig struct {
	t     *testing.T
	db    *store.DB
	dir   *directory.Directory
	clock *fakeClock
	ctrl  *fakeController
	svc   *presence.Service
	pub   *recorder
}

// recorder keeps every published event.
type recorder struct {
	mu     sync.Mutex
	events []presence.Event
}

func (r *recorder) Publish(e presence.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) last(agentID int64) (presence.AgentState, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.events) - 1; i >= 0; i-- {
		if r.events[i].AgentID == agentID {
			return r.events[i].Payload.(presence.AgentState), true
		}
	}
	return presence.AgentState{}, false
}

var day0 = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

func newRig(t *testing.T, db *store.DB) *rig {
	t.Helper()
	r := &rig{t: t, db: db, clock: &fakeClock{now: day0}, ctrl: &fakeController{}, pub: &recorder{}}
	r.dir = directory.New(db, directory.Options{BcryptCost: 4, Now: r.clock.Now})
	// The fake controller raises no events: nothing to wait for.
	r.svc = presence.New(presence.Options{DB: db, Directory: r.dir, Publisher: r.pub, Controller: r.ctrl, Names: names{},
		Clock: r.clock, Location: time.UTC, FlushDelay: -1, EventWait: -1})
	return r
}

func (r *rig) load() {
	r.t.Helper()
	if err := r.svc.Load(r.t.Context()); err != nil {
		r.t.Fatal(err)
	}
}

// run starts the writer and returns a stop that flushes it.
func (r *rig) run() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.svc.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				r.t.Error(err)
			}
		})
	}
	r.t.Cleanup(stop)
	return stop
}

func ptr[T any](v T) *T { return &v }

func (r *rig) agent(username, typology string, extra func(*directory.AgentInput)) *directory.Agent {
	r.t.Helper()
	in := directory.AgentInput{FullName: ptr("Agent " + username), Username: ptr(username), Typology: ptr(typology),
		Password: ptr("Str0ng-Pass")}
	if typology == directory.TypologyExternal {
		in.ExternalNumber = ptr("5550" + fmt.Sprint(len(username)))
	}
	if extra != nil {
		extra(&in)
	}
	a, err := r.dir.CreateAgent(r.t.Context(), in)
	if err != nil {
		r.t.Fatal(err)
	}
	return a
}

func (r *rig) queue(name, channel string, wrapup int) *directory.Queue {
	r.t.Helper()
	strategy := "ringall"
	if channel != "voice" {
		strategy = "beepall"
	}
	q, err := r.dir.CreateQueue(r.t.Context(), directory.QueueInput{Name: ptr(name), Channel: ptr(channel), Strategy: ptr(strategy), WrapUpTime: ptr(wrapup)})
	if err != nil {
		r.t.Fatal(err)
	}
	return q
}

func (r *rig) link(a *directory.Agent, q *directory.Queue, penalty int, permanent bool) {
	r.t.Helper()
	if err := r.dir.AddQueueMember(r.t.Context(), directory.MembershipInput{QueueID: q.ID, AgentID: a.ID, Penalty: penalty, Permanent: permanent}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) pauseType(name string) int64 {
	r.t.Helper()
	p := &directory.PauseType{Base: directory.Base{Name: name}}
	if err := r.dir.PauseTypes().Create(r.t.Context(), p); err != nil {
		r.t.Fatal(err)
	}
	return p.ID
}

func (r *rig) state(id int64) presence.AgentState {
	r.t.Helper()
	st, err := r.svc.State(r.t.Context(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return st
}

type eventRow struct {
	AgentID int64   `db:"agent_id"`
	Queue   *string `db:"queue"`
	State   string  `db:"state"`
	Reason  string  `db:"reason"`
}

func (e eventRow) String() string {
	q := ""
	if e.Queue != nil {
		q = "@" + *e.Queue
	}
	if e.Reason != "" {
		return e.State + q + "(" + e.Reason + ")"
	}
	return e.State + q
}

func (r *rig) history(id int64) []string {
	r.t.Helper()
	var rows []eventRow
	if err := r.db.SelectContext(r.t.Context(), &rows, `SELECT agent_id, queue, state, reason FROM agent_events WHERE agent_id = ? ORDER BY at, id`, id); err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, e := range rows {
		out = append(out, e.String())
	}
	return out
}

func (r *rig) sessionRow(id int64) (paused string, reason string, ok bool) {
	r.t.Helper()
	var row struct {
		Paused string `db:"paused_channels"`
		Reason string `db:"pause_reason"`
	}
	err := r.db.GetContext(r.t.Context(), &row, `SELECT paused_channels, pause_reason FROM agent_sessions WHERE agent_id = ?`, id)
	if err != nil {
		return "", "", false
	}
	return row.Paused, row.Reason, true
}

func TestLoginPauseUnpauseLogout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db)
		alice := r.agent("alice", "webrtc", nil)
		sales, support := r.queue("sales", "voice", 0), r.queue("support", "chat", 0)
		vip := r.queue("vip", "voice", 0)
		r.link(alice, sales, 3, false)
		r.link(alice, support, 0, false)
		r.link(alice, vip, 0, true) // permanent: a static member, never QueueAdd'ed
		lunch := r.pauseType("Lunch")
		r.load()
		stop := r.run()

		res, err := r.svc.Login(t.Context(), alice.ID, presence.SourceAPI)
		if err != nil {
			t.Fatal(err)
		}
		want := []call{{Action: "QueueAdd", Member: presence.Member{Queue: "sales", Interface: "PJSIP/alice",
			MemberName: "alice", StateInterface: "PJSIP/alice", Penalty: 3}}}
		if got := r.ctrl.take(); !slices.Equal(got, want) {
			t.Fatalf("login sent %+v\nwant %+v", got, want)
		}
		if res.Asterisk != presence.AsteriskSynced || res.State.State != presence.StateReady || !res.State.LoggedIn {
			t.Fatalf("login result %+v", res)
		}
		if _, _, ok := r.sessionRow(alice.ID); !ok {
			t.Fatal("login left no agent_sessions row")
		}

		// Unknown reason: refused, naming the field.
		_, err = r.svc.Pause(t.Context(), alice.ID, "Nap", nil)
		var fe *directory.FieldError
		if !errors.As(err, &fe) || fe.Field != "reason" || !strings.Contains(fe.Message, "Lunch") {
			t.Fatalf("pause with an unknown reason: %v", err)
		}
		r.clock.Advance(time.Minute)
		res, err = r.svc.Pause(t.Context(), alice.ID, fmt.Sprint(lunch), nil) // by id
		if err != nil {
			t.Fatal(err)
		}
		if got := r.ctrl.take(); len(got) != 1 || got[0] != (call{Action: "QueuePause", Member: presence.Member{Interface: "PJSIP/alice", Reason: "Lunch"}, Paused: true}) {
			t.Fatalf("pause sent %+v", got)
		}
		st := res.State
		if st.State != presence.StatePaused || st.Reason != "Lunch" || st.PauseTypeID == nil || *st.PauseTypeID != lunch ||
			len(st.PausedChannels) != len(presence.Channels()) || !st.Since.Equal(day0.Add(time.Minute)) {
			t.Fatalf("paused state %+v", st)
		}
		// Partial unpause: chat only; voice stays paused, Asterisk untouched.
		r.clock.Advance(time.Minute)
		res, err = r.svc.Unpause(t.Context(), alice.ID, []string{"chat"})
		if err != nil {
			t.Fatal(err)
		}
		if got := r.ctrl.take(); len(got) != 0 {
			t.Fatalf("a chat unpause sent %+v", got)
		}
		if res.State.State != presence.StatePaused || slices.Contains(res.State.PausedChannels, "chat") || !r.svc.Available(alice.ID, "chat") || r.svc.Available(alice.ID, "whatsapp") {
			t.Fatalf("partial unpause: %+v", res.State)
		}
		if ch, reason, _ := r.sessionRow(alice.ID); strings.Contains(ch, "chat") || !strings.Contains(ch, "voice") || reason != "Lunch" {
			t.Fatalf("stored session after partial unpause: %q %q", ch, reason)
		}
		r.clock.Advance(time.Minute)
		res, err = r.svc.Unpause(t.Context(), alice.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.ctrl.take(); len(got) != 1 || got[0].Action != "QueuePause" || got[0].Paused {
			t.Fatalf("unpause sent %+v", got)
		}
		if res.State.State != presence.StateReady || res.State.Counters.PauseSeconds["Lunch"] != 120 {
			t.Fatalf("after unpause %+v", res.State)
		}
		r.clock.Advance(time.Minute)
		res, err = r.svc.Logout(t.Context(), alice.ID, presence.SourceAPI)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.ctrl.take(); len(got) != 1 || got[0].Action != "QueueRemove" || got[0].Member.Queue != "sales" {
			t.Fatalf("logout sent %+v", got)
		}
		if res.State.State != presence.StateLoggedOut || res.State.Counters.LoginSeconds != 240 {
			t.Fatalf("after logout %+v", res.State)
		}
		if _, _, ok := r.sessionRow(alice.ID); ok {
			t.Fatal("logout left the agent_sessions row")
		}
		if _, err := r.svc.Pause(t.Context(), alice.ID, "Lunch", nil); !errors.Is(err, presence.ErrNotLoggedIn) {
			t.Fatalf("pause while logged out: %v", err)
		}
		stop()
		got := r.history(alice.ID)
		want2 := []string{"login(api)", "ready", "pause(Lunch)", "paused(Lunch)", "unpause(Lunch)", "unpause(Lunch)", "ready", "logout(api)", "logged_out"}
		if !slices.Equal(got, want2) {
			t.Fatalf("history\n got %v\nwant %v", got, want2)
		}
		if ev, ok := r.pub.last(alice.ID); !ok || ev.State != presence.StateLoggedOut {
			t.Fatalf("last published %+v", ev)
		}
	})
}

func TestLoginInPauseAndExternalInterface(t *testing.T) {
	r := newRig(t, storetest.SQLite(t))
	bob := r.agent("bob", "external", func(in *directory.AgentInput) {
		in.ExternalNumber = ptr("+390612345678")
		in.Context = ptr("outbound")
		in.LoginInPause = ptr(true)
	})
	r.link(bob, r.queue("sales", "voice", 0), 0, false)
	r.load()
	res, err := r.svc.Login(t.Context(), bob.ID, presence.SourceAPI)
	if err != nil {
		t.Fatal(err)
	}
	got := r.ctrl.take()
	want := presence.Member{Queue: "sales", Interface: "Local/+390612345678@outbound/n", MemberName: "bob",
		StateInterface: "Local/+390612345678@outbound", Paused: true, Reason: presence.LoginInPauseReason}
	if len(got) != 1 || got[0].Member != want {
		t.Fatalf("login in pause sent %+v\nwant %+v", got, want)
	}
	if res.State.State != presence.StatePaused || res.State.Reason != presence.LoginInPauseReason {
		t.Fatalf("state %+v", res.State)
	}
}

func TestAsteriskRefusalUndoesAndUnreachableIsPending(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db)
		a := r.agent("carol", "webrtc", nil)
		r.link(a, r.queue("sales", "voice", 0), 0, false)
		r.link(a, r.queue("billing", "voice", 0), 0, false)
		r.load()

		// billing is added first (queues by name), sales refused: billing is
		// removed again and the session deleted.
		refusal := &presence.RefusedError{Action: "QueueAdd", Message: "Unable to add interface to queue: No such queue"}
		calls := 0
		ctrl := &sequenced{fakeController: r.ctrl, errs: map[int]error{2: refusal}, n: &calls}
		r.svc.SetController(ctrl)
		_, err := r.svc.Login(t.Context(), a.ID, presence.SourceAPI)
		var re *presence.RefusedError
		if !errors.As(err, &re) || re.Message != refusal.Message {
			t.Fatalf("login refused: %v", err)
		}
		got := r.ctrl.take()
		if len(got) != 3 || got[2].Action != "QueueRemove" || got[2].Member.Queue != "billing" {
			t.Fatalf("refused login sent %+v", got)
		}
		if r.svc.Session(a.ID) != nil {
			t.Fatal("refused login kept the session in memory")
		}
		if _, _, ok := r.sessionRow(a.ID); ok {
			t.Fatal("refused login kept the session row")
		}

		r.svc.SetController(r.ctrl)
		r.ctrl.fail("QueueAdd", fmt.Errorf("box down: %w", presence.ErrPending))
		res, err := r.svc.Login(t.Context(), a.ID, presence.SourceAPI)
		if err != nil || res.Asterisk != presence.AsteriskPending || !res.State.LoggedIn {
			t.Fatalf("login with Asterisk down: %+v, %v", res, err)
		}
		if _, _, ok := r.sessionRow(a.ID); !ok {
			t.Fatal("a pending login must still be stored: the database is the truth")
		}

		// A refused pause puts the session back.
		r.ctrl.fail("QueuePause", &presence.RefusedError{Action: "QueuePause", Message: "Interface not found"})
		r.pauseType("Break")
		r.load()
		if _, err := r.svc.Pause(t.Context(), a.ID, "break", nil); !errors.As(err, &re) || re.Message != "Interface not found" {
			t.Fatalf("refused pause: %v", err)
		}
		if s := r.svc.Session(a.ID); s.Paused() {
			t.Fatalf("refused pause kept %+v", s)
		}
		if ch, _, _ := r.sessionRow(a.ID); ch != "" {
			t.Fatalf("refused pause stored %q", ch)
		}
	})
}

// sequenced fails the n-th call (1-based) with errs[n].
type sequenced struct {
	*fakeController
	errs map[int]error
	n    *int
}

func (s *sequenced) QueueAdd(ctx context.Context, m presence.Member) error {
	*s.n++
	_ = s.fakeController.QueueAdd(ctx, m)
	return s.errs[*s.n]
}

func (s *sequenced) QueueRemove(ctx context.Context, q, i string) error {
	*s.n++
	_ = s.fakeController.QueueRemove(ctx, q, i)
	return s.errs[*s.n]
}

// A day of work: calls counted, wrap-up ending on its own, the counters
// rolled over at midnight with the open login split between the two days,
// and today's counters surviving a restart.
func TestCountersWrapUpAndDayChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db)
		r.clock.Set(time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC))
		a := r.agent("dave", "webrtc", nil)
		r.link(a, r.queue("sales", "voice", 30), 0, false)
		r.load()
		stop := r.run()
		if _, err := r.svc.Login(t.Context(), a.ID, presence.SourceAPI); err != nil {
			t.Fatal(err)
		}
		apply := func(ev presence.VoiceFact) {
			ev.Box, ev.Agent, ev.Queue = "b1", "PJSIP/dave", "sales"
			r.svc.ApplyVoice(&ev)
		}
		apply(presence.VoiceFact{Kind: presence.VoiceMemberAdded, Membership: presence.MembershipDynamic, Device: presence.DeviceIdle, Status: 1, StateDevice: "PJSIP/dave"})
		apply(presence.VoiceFact{Kind: presence.VoiceRinging, CallID: "c1", CallerNum: "5551", Leg: "PJSIP/dave-01"})
		if st := r.state(a.ID); st.State != presence.StateRinging || st.Call == nil || st.Call.Caller != "5551" || st.Queues[0].State != presence.StateRinging {
			t.Fatalf("ringing %+v", st)
		}
		apply(presence.VoiceFact{Kind: presence.VoiceRingMissed, CallID: "c1", RingTime: 15000})
		apply(presence.VoiceFact{Kind: presence.VoiceRinging, CallID: "c2", CallerNum: "5552"})
		apply(presence.VoiceFact{Kind: presence.VoiceAnswered, CallID: "c2", CallerNum: "5552", LegID: "a2"})
		st := r.state(a.ID)
		if st.State != presence.StateOnCall || st.Reason != "sales" || st.Call.UniqueID != "c2" {
			t.Fatalf("on call %+v", st)
		}
		apply(presence.VoiceFact{Kind: presence.VoiceHeld, LegID: "a2"})
		if st := r.state(a.ID); st.State != presence.StateOnHold {
			t.Fatalf("hold %+v", st)
		}
		r.clock.Advance(15 * time.Second)
		if st := r.state(a.ID); st.Counters.HoldSeconds != 15 {
			t.Fatalf("15 s into a hold: hold_seconds %d, want 15 (the open hold counts)", st.Counters.HoldSeconds)
		}
		r.clock.Advance(5 * time.Second)
		apply(presence.VoiceFact{Kind: presence.VoiceResumed, LegID: "a2"})
		apply(presence.VoiceFact{Kind: presence.VoiceResumed, LegID: "a2"}) // a repeated resume counts nothing
		r.clock.Advance(70 * time.Second)
		apply(presence.VoiceFact{Kind: presence.VoiceCallEnded, CallID: "c2", TalkTime: 90, EndedBy: "caller"})
		st = r.state(a.ID)
		if st.State != presence.StateWrapUp || st.WrapUpUntil == nil || !st.WrapUpUntil.Equal(r.clock.Now().Add(30*time.Second)) {
			t.Fatalf("wrap-up %+v", st)
		}
		r.clock.Advance(31 * time.Second)
		r.svc.Tick()
		if st := r.state(a.ID); st.State != presence.StateReady {
			t.Fatalf("after wrap-up %+v", st)
		}
		// Device unregistered, then back.
		r.svc.ApplyVoice(&presence.VoiceFact{Kind: presence.VoiceDevice, Agent: "PJSIP/dave", Device: presence.DeviceUnavailable})
		if st := r.state(a.ID); st.State != presence.StateUnavailable {
			t.Fatalf("unregistered %+v", st)
		}
		r.svc.ApplyVoice(&presence.VoiceFact{Kind: presence.VoiceDevice, Agent: "PJSIP/someone-else", Device: presence.DeviceInUse})
		r.svc.ApplyVoice(&presence.VoiceFact{Kind: presence.VoiceDevice, Agent: "PJSIP/dave", Device: presence.DeviceIdle})
		st = r.state(a.ID)
		if st.State != presence.StateReady || st.Counters.Answered != 1 || st.Counters.Missed != 1 || st.Counters.TalkSeconds != 90 || st.Counters.HoldSeconds != 20 {
			t.Fatalf("counters %+v", st)
		}

		// Midnight: 23:00 → 01:00.
		r.clock.Set(time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC))
		r.svc.Tick()
		st = r.state(a.ID)
		if st.Counters.Day != "2026-11-22" || st.Counters.LoginSeconds != 3600 || st.Counters.Answered != 0 {
			t.Fatalf("new day %+v", st.Counters)
		}
		stop()
		var prev struct {
			Login    int64 `db:"login_seconds"`
			Talk     int64 `db:"talk_seconds"`
			Answered int   `db:"answered"`
			Missed   int   `db:"missed"`
			Hold     int64 `db:"hold_seconds"`
		}
		if err := db.GetContext(t.Context(), &prev, `SELECT login_seconds, talk_seconds, answered, missed, hold_seconds FROM agent_daily_counters WHERE agent_id = ? AND day = ?`, a.ID, "2026-11-21"); err != nil {
			t.Fatal(err)
		}
		if prev.Login != 3600 || prev.Talk != 90 || prev.Answered != 1 || prev.Missed != 1 || prev.Hold != 20 {
			t.Fatalf("stored yesterday %+v", prev)
		}
		// A restart reads the session and today's counters back.
		r2 := newRig(t, db)
		r2.clock.Set(time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC))
		r2.load()
		st = r2.state(a.ID)
		if !st.LoggedIn || st.Counters.LoginSeconds != 7200 {
			t.Fatalf("after restart %+v", st)
		}
		h := r.history(a.ID)
		for _, want := range []string{"ringing@sales", "ring_no_answer@sales", "on_call@sales", "on_hold@sales", "call_completed@sales(caller)", "wrap_up@sales", "unavailable(UNAVAILABLE)"} {
			if !slices.Contains(h, want) {
				t.Errorf("history lacks %s: %v", want, h)
			}
		}
	})
}

// Pauses, logins and logouts made inside Asterisk are carried into the
// session (and the database) while omniccd watches.
func TestAsteriskSideChangesReflected(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db)
		a := r.agent("erin", "phonebar", nil)
		r.link(a, r.queue("sales", "voice", 0), 0, false)
		r.load()
		stop := r.run()
		member := func(kind presence.VoiceKind, paused bool, reason string) {
			r.svc.ApplyVoice(&presence.VoiceFact{Kind: kind, Box: "b1", Queue: "sales", Agent: "PJSIP/erin",
				StateDevice: "PJSIP/erin", Membership: presence.MembershipDynamic, Device: presence.DeviceIdle, Status: 1, Paused: paused, Reason: reason})
		}
		member(presence.VoiceMemberAdded, false, "")
		if s := r.svc.Session(a.ID); s == nil || s.Source != presence.SourceAsterisk {
			t.Fatalf("AddQueueMember in the dialplan should log in: %+v", s)
		}
		member(presence.VoiceMemberPaused, true, "coffee")
		if st := r.state(a.ID); st.State != presence.StatePaused || st.Reason != "coffee" {
			t.Fatalf("CLI pause: %+v", st)
		}
		stop()
		if ch, reason, ok := r.sessionRow(a.ID); !ok || ch != "voice" || reason != "coffee" {
			t.Fatalf("stored session %q %q %v", ch, reason, ok)
		}
		stop = r.run()
		member(presence.VoiceMemberPaused, false, "")
		if st := r.state(a.ID); st.State != presence.StateReady {
			t.Fatalf("CLI unpause: %+v", st)
		}
		member(presence.VoiceMemberRemoved, false, "")
		if st := r.state(a.ID); st.State != presence.StateLoggedOut {
			t.Fatalf("CLI remove: %+v", st)
		}
		stop()
		if _, _, ok := r.sessionRow(a.ID); ok {
			t.Fatal("removal inside Asterisk left the session row")
		}
	})
}

func TestReconcilePlan(t *testing.T) {
	r := newRig(t, storetest.SQLite(t))
	in, out, paused, moved := r.agent("in", "webrtc", nil), r.agent("out", "webrtc", nil), r.agent("paused", "webrtc", nil), r.agent("moved", "webrtc", nil)
	sales, support := r.queue("sales", "voice", 0), r.queue("support", "voice", 0)
	for _, a := range []*directory.Agent{in, out, paused} {
		r.link(a, sales, 1, false)
	}
	r.link(moved, support, 0, false)
	r.pauseType("Lunch")
	r.load()
	for _, a := range []*directory.Agent{in, paused, moved} {
		if _, err := r.svc.Login(t.Context(), a.ID, presence.SourceAPI); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.svc.Pause(t.Context(), paused.ID, "Lunch", nil); err != nil {
		t.Fatal(err)
	}
	dyn := func(q, iface string, p bool, reason string) presence.Member {
		return presence.Member{Queue: q, Interface: iface, Membership: "dynamic", Paused: p, Reason: reason}
	}
	members := []presence.Member{
		dyn("sales", "PJSIP/out", false, ""),                              // logged out in omniccd: remove
		dyn("sales", "PJSIP/paused", false, ""),                           // pause differs: pause
		dyn("sales", "PJSIP/moved", false, ""),                            // queue not assigned: remove
		dyn("sales", "PJSIP/ghost", false, ""),                            // no agent at all: remove
		{Queue: "sales", Interface: "PJSIP/static", Membership: "static"}, // never touched
		dyn("queues-conf-only", "PJSIP/ghost", false, ""),                 // not omniccd's queue: never touched
		// "in" is missing from sales, "moved" from support: add both.
	}
	got := r.svc.ReconcilePlan(&presence.Snapshot{Box: "b1", Members: members})
	var lines []string
	for _, c := range got {
		lines = append(lines, fmt.Sprintf("%s %s %s paused=%t %s", c.Action, c.Member.Queue, c.Member.Interface, c.Member.Paused, c.Member.Reason))
	}
	want := []string{
		"add sales PJSIP/in paused=false ",
		"pause sales PJSIP/paused paused=true Lunch",
		"add support PJSIP/moved paused=false ",
		"remove sales PJSIP/ghost paused=false ",
		"remove sales PJSIP/moved paused=false ",
		"remove sales PJSIP/out paused=false ",
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("plan\n got %q\nwant %q", lines, want)
	}
}

func TestPhonePIN(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db)
		r.svc = presence.New(presence.Options{DB: db, Directory: r.dir, Controller: r.ctrl, Names: names{}, Clock: r.clock, PINCost: 4, FlushDelay: -1, EventWait: -1})
		a := r.agent("frank", "phonebar", func(in *directory.AgentInput) { in.Extension = ptr("1042") })
		r.load()
		var fe *directory.FieldError
		for _, bad := range []string{"12", "12345678901234", "12a4", " 1234"} {
			if err := r.svc.SetPIN(t.Context(), a.ID, bad); !errors.As(err, &fe) || fe.Field != "pin" {
				t.Fatalf("PIN %q: %v", bad, err)
			}
		}
		if err := r.svc.SetPIN(t.Context(), a.ID, "0042"); err != nil {
			t.Fatal(err)
		}
		if err := r.svc.SetPIN(t.Context(), a.ID, "0043"); err != nil { // changed again: an update
			t.Fatal(err)
		}
		for _, c := range [][2]string{{"1042", "0042"}, {"1042", "43"}, {"9999", "0043"}} {
			if _, err := r.svc.AgentByPIN(t.Context(), c[0], c[1]); !errors.Is(err, presence.ErrBadCredentials) {
				t.Fatalf("%v: %v", c, err)
			}
		}
		id, in, _, err := r.svc.ToggleLogin(t.Context(), "1042", "0043")
		if err != nil || id != a.ID || !in {
			t.Fatalf("toggle in: %d %t %v", id, in, err)
		}
		if got, ok := r.svc.AgentIDByChannel("PJSIP/frank-0000002a"); !ok || got != a.ID {
			t.Fatalf("channel lookup %d %t", got, ok)
		}
		if _, in, _, err = r.svc.ToggleLogin(t.Context(), "1042", "0043"); err != nil || in {
			t.Fatalf("toggle out: %t %v", in, err)
		}
	})
}

// Changes made after Run has stopped (an HTTP request still draining, the
// last events) are written at once: nothing is lost at shutdown.
func TestChangesAfterShutdownAreWritten(t *testing.T) {
	r := newRig(t, storetest.SQLite(t))
	a := r.agent("gina", "webrtc", nil)
	r.link(a, r.queue("sales", "voice", 0), 0, false)
	r.load()
	stop := r.run()
	if _, err := r.svc.Login(t.Context(), a.ID, presence.SourceAPI); err != nil {
		t.Fatal(err)
	}
	stop()
	r.svc.ApplyVoice(&presence.VoiceFact{Kind: presence.VoiceRinging, Box: "b", Queue: "sales", Agent: "PJSIP/gina", CallID: "u1"})
	if _, err := r.svc.Logout(t.Context(), a.ID, presence.SourceAPI); err != nil {
		t.Fatal(err)
	}
	got := r.history(a.ID)
	want := []string{"login(api)", "ready", "ringing@sales", "logout(api)", "logged_out"}
	if !slices.Equal(got, want) {
		t.Fatalf("history\n got %v\nwant %v", got, want)
	}
}

// A resync whose lists were read before an event (Snapshot.Mark) does not
// undo it, and its plan leaves that agent alone; a resync without a mark
// takes the lists as they are.
func TestResyncLeavesWhatChangedAfterItsMark(t *testing.T) {
	r := newRig(t, storetest.SQLite(t))
	hana, ivan := r.agent("hana", "webrtc", nil), r.agent("ivan", "webrtc", nil)
	sales := r.queue("sales", "voice", 0)
	r.link(hana, sales, 0, false)
	r.link(ivan, sales, 0, false)
	r.load()
	for _, a := range []*directory.Agent{hana, ivan} {
		if _, err := r.svc.Login(t.Context(), a.ID, presence.SourceAPI); err != nil {
			t.Fatal(err)
		}
	}
	added := func(name string) {
		r.svc.ApplyVoice(&presence.VoiceFact{Kind: presence.VoiceMemberAdded, Box: "b1", Queue: "sales",
			Agent: "PJSIP/" + name, StateDevice: "PJSIP/" + name, Membership: presence.MembershipDynamic, Device: presence.DeviceIdle, Status: 1})
	}
	added("ivan")
	mark := r.svc.Mark()
	// QueueStatus was read here, before Asterisk added hana.
	added("hana")
	listed := []presence.Member{{Queue: "sales", Interface: "PJSIP/ivan", Membership: presence.MembershipDynamic, Device: presence.DeviceIdle, Status: 1}}
	snap := &presence.Snapshot{Box: "b1", MembersKnown: true, Members: listed, Mark: mark}
	r.svc.Resync(snap)
	if st := r.state(hana.ID); len(st.Queues) != 1 || !st.Queues[0].Member {
		t.Fatalf("a list older than the event removed hana's membership: %+v", st.Queues)
	}
	if plan := r.svc.ReconcilePlan(snap); len(plan) != 0 {
		t.Fatalf("plan from an old list: %+v", plan)
	}
	snap.Mark = 0
	r.svc.Resync(snap)
	if st := r.state(hana.ID); st.Queues[0].Member {
		t.Fatalf("a list without a mark is the truth: %+v", st.Queues)
	}
	if plan := r.svc.ReconcilePlan(snap); len(plan) != 1 || plan[0].Action != "add" || plan[0].AgentID != hana.ID {
		t.Fatalf("plan %+v", plan)
	}
	// The same list again (a periodic check that finds nothing): nobody is
	// published anew.
	r.pub.mu.Lock()
	published := len(r.pub.events)
	r.pub.mu.Unlock()
	r.svc.Resync(snap)
	r.pub.mu.Lock()
	defer r.pub.mu.Unlock()
	if n := len(r.pub.events) - published; n != 0 {
		t.Fatalf("an unchanged resync published %d states", n)
	}
}

// waitCalls waits until the controller received n actions and returns them.
func (r *rig) waitCalls(n int) []call {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var got []call
	for {
		got = append(got, r.ctrl.take()...)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("controller received %+v, want %d actions", got, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Admin changes reach logged-in agents: a lock keeps the session, a queue
// made permanent drops the dynamic member (the realtime one takes over), a
// digital queue is none of Asterisk's business, and an agent disabled while
// omniccd was not running is logged out when it starts.
func TestAdminChangesReachLoggedInAgents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db)
		kim, leo := r.agent("kim", "webrtc", nil), r.agent("leo", "webrtc", nil)
		sales, web := r.queue("sales", "voice", 0), r.queue("web", "chat", 0)
		r.link(kim, sales, 2, false)
		r.link(kim, web, 0, false)
		r.link(leo, sales, 0, false)
		r.load()
		for _, a := range []*directory.Agent{kim, leo} {
			if _, err := r.svc.Login(t.Context(), a.ID, presence.SourceAPI); err != nil {
				t.Fatal(err)
			}
		}
		r.ctrl.take()
		stop := r.run()

		if _, err := r.dir.UpdateAgent(t.Context(), kim.ID, directory.AgentInput{Locked: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		if err := r.dir.RemoveQueueMember(t.Context(), web.ID, kim.ID); err != nil {
			t.Fatal(err)
		}
		r.link(kim, sales, 2, true)
		got := r.waitCalls(1)
		if want := (call{Action: "QueueRemove", Member: presence.Member{Queue: "sales", Interface: "PJSIP/kim"}}); len(got) != 1 || got[0] != want {
			t.Fatalf("queue made permanent: %+v", got)
		}
		if r.svc.Session(kim.ID) == nil {
			t.Fatal("a locked agent must stay logged in: a lock only refuses new logins")
		}
		r.link(kim, sales, 2, false)
		got = r.waitCalls(1)
		if want := (call{Action: "QueueAdd", Member: presence.Member{Queue: "sales", Interface: "PJSIP/kim", MemberName: "kim",
			StateInterface: "PJSIP/kim", Penalty: 2}}); len(got) != 1 || got[0] != want {
			t.Fatalf("queue dynamic again: %+v", got)
		}
		// A new penalty on a queue kim stays in reaches Asterisk.
		r.link(kim, sales, 5, false)
		got = r.waitCalls(1)
		if want := (call{Action: "QueuePenalty", Member: presence.Member{Queue: "sales", Interface: "PJSIP/kim", Penalty: 5}}); len(got) != 1 || got[0] != want {
			t.Fatalf("penalty changed: %+v", got)
		}
		stop()

		if _, err := r.dir.UpdateAgent(t.Context(), leo.ID, directory.AgentInput{Disabled: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		if got := r.ctrl.take(); len(got) != 0 {
			t.Fatalf("Run stopped, yet %+v", got)
		}
		r2 := newRig(t, db)
		r2.load()
		r2.run()
		got = r2.waitCalls(1)
		if want := (call{Action: "QueueRemove", Member: presence.Member{Queue: "sales", Interface: "PJSIP/leo"}}); len(got) != 1 || got[0] != want {
			t.Fatalf("disabled at start: %+v", got)
		}
		if r2.svc.Session(leo.ID) != nil {
			t.Fatal("disabled leo still logged in")
		}
		if _, _, ok := r2.sessionRow(leo.ID); ok {
			t.Fatal("disabled leo's session row kept")
		}
		if h := r2.history(leo.ID); !slices.Contains(h, "logout(disabled)") {
			t.Fatalf("history %v", h)
		}
		if r2.svc.Session(kim.ID) == nil {
			t.Fatal("kim lost her session across the restart")
		}
	})
}

// lateAsterisk is a controller that behaves like Asterisk: it accepts each
// action at once and raises its QueueMember events a moment later, on
// another goroutine (as the tracker applies them).
type lateAsterisk struct {
	svc   *presence.Service
	delay time.Duration
	wg    sync.WaitGroup

	mu      sync.Mutex
	members map[string]*presence.VoiceFact // by queue
}

func (l *lateAsterisk) later(evs ...presence.VoiceFact) {
	l.wg.Go(func() {
		time.Sleep(l.delay)
		for i := range evs {
			l.svc.ApplyVoice(&evs[i])
		}
	})
}

func (l *lateAsterisk) QueueAdd(_ context.Context, m presence.Member) error {
	ev := presence.VoiceFact{Kind: presence.VoiceMemberAdded, Box: "b1", Queue: m.Queue, Agent: m.Interface,
		StateDevice: m.StateInterface, Membership: presence.MembershipDynamic, Device: presence.DeviceIdle, Status: 1, Paused: m.Paused, Reason: m.Reason}
	l.mu.Lock()
	l.members[m.Queue] = &ev
	l.mu.Unlock()
	l.later(ev)
	return nil
}

func (l *lateAsterisk) QueuePenalty(context.Context, string, string, int) error { return nil }

func (l *lateAsterisk) QueueRemove(_ context.Context, queue, _ string) error {
	l.mu.Lock()
	ev := *l.members[queue]
	delete(l.members, queue)
	l.mu.Unlock()
	ev.Kind = presence.VoiceMemberRemoved
	l.later(ev)
	return nil
}

func (l *lateAsterisk) QueuePause(_ context.Context, _, _ string, paused bool, reason string) error {
	l.mu.Lock()
	var evs []presence.VoiceFact
	for _, m := range l.members {
		m.Kind, m.Paused, m.Reason = presence.VoiceMemberPaused, paused, reason
		evs = append(evs, *m)
	}
	l.mu.Unlock()
	l.later(evs...)
	return nil
}

// The answers of login, pause, unpause and logout show Asterisk's
// memberships in line with the session although Asterisk sends its events
// after accepting the action; when they do not come, the answer still comes
// after EventWait.
func TestAnswersWaitForAsteriskEvents(t *testing.T) {
	r := newRig(t, storetest.SQLite(t))
	a := r.agent("mia", "webrtc", nil)
	r.link(a, r.queue("sales", "voice", 0), 0, false)
	r.link(a, r.queue("support", "voice", 0), 0, false)
	r.pauseType("Lunch")

	// Asterisk's late events and EventWait run on synctest's fake clock:
	// no test time is spent waiting for them. The database was opened
	// outside the bubble, and nothing writes the directory inside it.
	synctest.Test(t, func(t *testing.T) {
		late := &lateAsterisk{delay: 50 * time.Millisecond, members: map[string]*presence.VoiceFact{}}
		r.svc = presence.New(presence.Options{DB: r.db, Directory: r.dir, Controller: late, Names: names{}, Clock: r.clock, FlushDelay: -1})
		late.svc = r.svc
		defer late.wg.Wait()
		r.load()

		consistent := func(what string, res presence.Result, err error, state string, member, paused bool) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			st := res.State
			if res.Asterisk != presence.AsteriskSynced || st.State != state || len(st.Queues) != 2 {
				t.Fatalf("%s: %+v", what, res)
			}
			for _, q := range st.Queues {
				if q.Member != member || q.Paused != paused {
					t.Fatalf("%s answered state %q beside queue %+v", what, st.State, q)
				}
			}
		}
		res, err := r.svc.Login(t.Context(), a.ID, presence.SourceAPI)
		consistent("login", res, err, presence.StateReady, true, false)
		res, err = r.svc.Pause(t.Context(), a.ID, "Lunch", nil)
		consistent("pause", res, err, presence.StatePaused, true, true)
		if q := res.State.Queues[0]; q.Reason != "Lunch" {
			t.Fatalf("pause reason in the queue: %+v", q)
		}
		res, err = r.svc.Unpause(t.Context(), a.ID, nil)
		consistent("unpause", res, err, presence.StateReady, true, false)
		res, err = r.svc.Logout(t.Context(), a.ID, presence.SourceAPI)
		consistent("logout", res, err, presence.StateLoggedOut, false, false)

		// Events that never come: answered after EventWait, exactly, with
		// the session.
		r.svc = presence.New(presence.Options{DB: r.db, Directory: r.dir, Controller: r.ctrl, Names: names{}, Clock: r.clock, FlushDelay: -1,
			EventWait: 30 * time.Millisecond})
		r.load()
		start := time.Now()
		res, err = r.svc.Login(t.Context(), a.ID, presence.SourceAPI)
		if took := time.Since(start); err != nil || took != 30*time.Millisecond || res.State.State != presence.StateReady {
			t.Fatalf("login without events: %+v %v after %s", res, err, took)
		}
	})
}

// A resync takes the calls a box has up as domain facts: a talking leg is a
// call (its queue and caller kept), a ringing one a ring, a leg of no agent
// nothing, and a call of the box that is gone ends. The phone states read
// with it win over the members' own.
func TestResyncRebuildsCallsAndDevices(t *testing.T) {
	r := newRig(t, storetest.SQLite(t))
	nina, omar, pia := r.agent("nina", "webrtc", nil), r.agent("omar", "webrtc", nil), r.agent("pia", "external",
		func(in *directory.AgentInput) { in.ExternalNumber = ptr("0612345678") })
	sales := r.queue("sales", "voice", 0)
	for _, a := range []*directory.Agent{nina, omar, pia} {
		r.link(a, sales, 0, false)
	}
	r.load()
	for _, a := range []*directory.Agent{nina, omar, pia} {
		if _, err := r.svc.Login(t.Context(), a.ID, presence.SourceAPI); err != nil {
			t.Fatal(err)
		}
	}
	member := func(name string) presence.Member {
		return presence.Member{Queue: "sales", Interface: "PJSIP/" + name, Membership: presence.MembershipDynamic, Device: presence.DeviceIdle, Status: 1}
	}
	external := presence.Member{Queue: "sales", Interface: "Local/0612345678@from-sip/n", StateInterface: "Local/0612345678@from-sip",
		Membership: presence.MembershipDynamic, Device: presence.DeviceIdle, Status: 1}
	// pia was on a call of this box that ended while omniccd was away.
	r.svc.ApplyVoice(&presence.VoiceFact{Kind: presence.VoiceAnswered, Box: "b1", Queue: "sales", Agent: external.Interface,
		CallID: "old.1", Leg: "Local/0612345678@from-sip-00000009;1", LegID: "old.2"})
	if st := r.state(pia.ID); st.State != presence.StateOnCall {
		t.Fatalf("pia before the resync: %+v", st)
	}
	r.svc.Resync(&presence.Snapshot{Box: "b1", MembersKnown: true, CallsKnown: true, DevicesKnown: true,
		Members: []presence.Member{member("nina"), member("omar"), external},
		Calls: []presence.LiveCall{
			{Agent: "PJSIP/trunk", Leg: "PJSIP/trunk-00000001", LegID: "c.1", CallID: "c.1"},
			{Agent: "PJSIP/nina", Leg: "PJSIP/nina-00000002", LegID: "a.2", CallID: "c.1", Queue: "sales",
				CallerNum: "5551", CallerName: "Ann", Duration: time.Minute},
			{Agent: "PJSIP/omar", Leg: "PJSIP/omar-00000003", LegID: "b.3", CallID: "b.3", CallerNum: "200", Ringing: true},
		},
		Devices: []presence.DeviceReading{{Device: "PJSIP/nina", State: presence.DeviceInUse}, {Device: "PJSIP/omar", State: presence.DeviceRinging},
			{Device: "Local/0612345678@from-sip", State: presence.DeviceIdle}},
	})
	st := r.state(nina.ID)
	if st.State != presence.StateOnCall || st.Call == nil || st.Call.UniqueID != "c.1" || st.Call.Queue != "sales" ||
		st.Call.Caller != "5551" || st.Call.Channel != "PJSIP/nina-00000002" || !st.Call.Since.Equal(r.clock.Now().Add(-time.Minute)) || st.Device != "INUSE" {
		t.Fatalf("nina: %+v %+v", st, st.Call)
	}
	if st := r.state(omar.ID); st.State != presence.StateRinging || st.Call == nil || st.Call.UniqueID != "b.3" || st.Call.Queue != "" {
		t.Fatalf("omar: %+v %+v", st, st.Call)
	}
	if st := r.state(pia.ID); st.State != presence.StateReady || st.Call != nil || st.Device != "NOT_INUSE" {
		t.Fatalf("pia after the resync: %+v %+v", st, st.Call)
	}
}
