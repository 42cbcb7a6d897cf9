package ami

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"omnicc/calls"
	"omnicc/clock"
	"omnicc/presence"
)

// AgentStates is what the tracker feeds: presence.Service. Declared here, by
// its user, so tests can hand in a fake.
type AgentStates interface {
	ApplyVoice(f *presence.VoiceFact)
	Mark() uint64
	Resync(snap *presence.Snapshot)
	ReconcilePlan(snap *presence.Snapshot) []presence.Correction
}

// TrackerOptions tune a Tracker; zero values take defaults.
type TrackerOptions struct {
	Logger *slog.Logger
	Clock  Clock
	// Buffer is the event subscription's buffer. Default 65536: a resync
	// of thousands of members raises bursts of that order.
	Buffer int
	// ResyncTimeout bounds each list action of a resync. Default 60s.
	ResyncTimeout time.Duration
	// ReconcileEvery is how often every connected box's members are read
	// again (QueueStatus) and reconciled, without a reconnect: app_queue can
	// forget a realtime queue and its dynamic members without any event
	// (seen when one res_config_curl lookup of the queue timed out), and only
	// a look finds it out. Clock.After times it. Default 60s; negative turns
	// it off.
	ReconcileEvery time.Duration
	// Actions are the queue actions presence was given; a timeout of one of
	// them makes Run resync every box. Nil: the tracker makes its own.
	Actions *QueueActions
	// Skip, when set, names the boxes whose events and resyncs this
	// tracker leaves alone: an observer (presence.Observer) skips the
	// boxes its own instance leads, whose leader tracker applies them.
	Skip func(box string) bool
	// ResyncOnConnect registers OnConnect with the pool (Pool.OnConnect), so
	// that every login of every box is followed by a resync.
	ResyncOnConnect bool
	// Calls, when set, hears of the call legs the tracker sees (see
	// CallEvents): calls.Service, so that recordings end with their channel.
	Calls CallEvents
	// Voice, when set, follows the attended transfers it started through
	// the events (Voice.Observe), so that complete and cancel know whether
	// one is going on.
	Voice *Voice
	// CallQueue bounds the call notices waiting for Calls. Default 4096; a
	// notice that finds it full is dropped and logged (the next reconnect's
	// ChannelsUp repairs a lost hang-up).
	CallQueue int
}

// CallEvents is what the tracker tells the call controls. Its methods run on
// one goroutine of the tracker's own, never on the event reader: they reach
// the database, and a slow database must not hold presence's events back.
// calls.Service implements it; calls must not know the AMI, so the
// interface is declared here, by its user.
type CallEvents interface {
	// ChannelHungUp: the leg with this uniqueid hung up (Hangup).
	ChannelHungUp(ctx context.Context, uniqueID string) error
	// ChannelsUp: after a (re)connect, every channel box still has
	// (CoreShowChannels); whatever else was running there has ended.
	// listedAt is when the list was read.
	ChannelsUp(ctx context.Context, box string, listedAt time.Time, live []string) error
	// AgentAnswered: a leg started talking — an agent's queue call
	// (AgentConnect) or any leg entering a bridge (BridgeEnter); the
	// implementation ignores legs that are no agent's.
	AgentAnswered(ctx context.Context, leg calls.AnsweredLeg) error
}

// Tracker turns the manager events of every box into presence's domain
// facts (presence.VoiceFact, facts.go) and resyncs and reconciles a box after
// each (re)connect. Its QueueActions (embedded) carry presence's queue
// actions to Asterisk.
//
// With TrackerOptions.ResyncOnConnect it registers OnConnect with the pool
// itself; otherwise wire OnConnect as the clients' Config.OnConnect. Run it
// beside the pool.
type Tracker struct {
	*QueueActions

	pool   *Pool
	states AgentStates
	log    *slog.Logger
	clk    Clock
	opts   TrackerOptions

	mu  sync.Mutex
	sub *Subscription
	// boxes serialise the resyncs of one box (a one-slot semaphore each):
	// the one after a connect, the periodic one and those Run asks for never
	// interleave their lists and corrections.
	boxes map[string]chan struct{}
	// checking is set while a periodic check runs; the next tick skips
	// rather than overlap it.
	checking atomic.Bool

	// w and fact are reused by Apply, which one goroutine calls: a fact
	// per event would be the tracker's biggest allocation.
	w    wire
	fact presence.VoiceFact

	reconcile chan struct{}
	// callJobs carry notices to Calls; nil without Calls.
	callJobs chan func(context.Context) error
}

// NewTracker subscribes to pool's events at once, so that nothing between
// the first login and Run is lost.
func NewTracker(pool *Pool, states AgentStates, opts TrackerOptions) *Tracker {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = clock.Wall
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 1 << 16
	}
	if opts.ResyncTimeout <= 0 {
		opts.ResyncTimeout = 60 * time.Second
	}
	if opts.ReconcileEvery == 0 {
		opts.ReconcileEvery = 60 * time.Second
	}
	if opts.Actions == nil {
		opts.Actions = NewQueueActions(pool, opts.Logger)
	}
	if opts.CallQueue <= 0 {
		opts.CallQueue = 4096
	}
	t := &Tracker{
		QueueActions: opts.Actions,
		pool:         pool, states: states, log: opts.Logger, clk: opts.Clock, opts: opts,
		sub:       pool.Subscribe(opts.Buffer),
		boxes:     make(map[string]chan struct{}),
		reconcile: make(chan struct{}, 1),
	}
	if opts.Calls != nil {
		t.callJobs = make(chan func(context.Context) error, opts.CallQueue)
	}
	if opts.ResyncOnConnect {
		pool.OnConnect(t.OnConnect)
	}
	return t
}

func (t *Tracker) boxLock(box string) chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.boxes[box]
	if m == nil {
		m = make(chan struct{}, 1)
		t.boxes[box] = m
	}
	return m
}

// Run applies events until ctx ends. A subscription that overflowed (the
// tracker fell behind and events were dropped) is replaced and every
// connected box resynced, since state may have missed changes. Every
// ReconcileEvery it checks the members of every connected box (see Check).
func (t *Tracker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	defer func() {
		t.mu.Lock()
		t.sub.Close()
		t.mu.Unlock()
	}()
	resyncAll := func(why string) {
		wg.Go(func() {
			for _, c := range t.pool.Clients() {
				if !c.Connected() {
					continue
				}
				if err := t.OnConnect(ctx, c); err != nil && ctx.Err() == nil {
					t.log.Warn("AMI resync failed; it runs again on the next reconnect", "box", c.Box(), "why", why, "err", err)
				}
			}
		})
	}
	if t.callJobs != nil {
		wg.Go(func() { t.runCalls(ctx) })
	}
	var tick <-chan time.Time
	if t.opts.ReconcileEvery > 0 {
		tick = t.clk.After(t.opts.ReconcileEvery)
	}
	for {
		t.mu.Lock()
		sub := t.sub
		t.mu.Unlock()
		events := sub.Events()
	consume:
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick:
				tick = t.clk.After(t.opts.ReconcileEvery)
				if !t.checking.CompareAndSwap(false, true) {
					t.log.Warn("AMI periodic reconcile still running from the last tick; skipped this one")
					continue
				}
				wg.Go(func() {
					defer t.checking.Store(false)
					t.checkAll(ctx)
				})
			case <-t.reconcile:
				resyncAll("a resync was asked for")
			case <-t.QueueActions.unknown:
				resyncAll("an action's outcome was unknown")
			case ev, ok := <-events:
				if !ok {
					break consume
				}
				t.Apply(ev.Box, ev.Received, ev.Message)
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		t.log.Warn("AMI tracker fell behind and events were dropped; resyncing every box", "err", sub.Err())
		t.mu.Lock()
		t.sub = t.pool.Subscribe(t.opts.Buffer)
		t.mu.Unlock()
		resyncAll("events dropped")
	}
}

// RequestReconcile asks Run to resync and reconcile every connected box,
// e.g. after an action whose outcome is unknown (it timed out).
func (t *Tracker) RequestReconcile() {
	select {
	case t.reconcile <- struct{}{}:
	default:
	}
}

// Apply turns one event of box into a presence change. Events that are not
// about agents return at once. It is not safe for concurrent use: Run calls
// it from one goroutine, benchmarks from theirs.
func (t *Tracker) Apply(box string, at time.Time, m Message) {
	if m.Len() == 0 || (t.opts.Skip != nil && t.opts.Skip(box)) {
		return
	}
	// Asterisk writes Event first; fall back to a search otherwise.
	name := m.Field(0).Value
	if k := m.Field(0).Key; k != "Event" {
		name = m.Event()
	}
	if t.opts.Voice != nil {
		switch name {
		case "Hangup", "AttendedTransfer", "BridgeEnter", "BridgeLeave":
			t.opts.Voice.Observe(box, m)
		}
	}
	kind, ok := kinds[name]
	if !ok {
		return
	}
	t.w.read(m)
	f := &t.fact
	*f = presence.VoiceFact{Box: box, At: at}
	if !t.w.fact(kind, f) {
		return
	}
	t.states.ApplyVoice(f)
	if t.callJobs != nil && kind == presence.VoiceAnswered && f.Leg != "" {
		leg := calls.AnsweredLeg{Box: box, Channel: f.Leg, UniqueID: f.LegID, LinkedID: t.w.linkedid, Queue: f.Queue}
		t.toCalls("queue call answered on "+leg.Channel, func(ctx context.Context) error { return t.opts.Calls.AgentAnswered(ctx, leg) })
	}
	if t.callJobs != nil && kind == presence.VoiceLegUp && f.Leg != "" {
		// A non-queue call of an agent starts talking here (for a queue
		// call AgentConnect says more: the queue).
		leg := calls.AnsweredLeg{Box: box, Channel: f.Leg, UniqueID: f.LegID, LinkedID: f.CallID}
		t.toCalls("bridge entered by "+leg.Channel, func(ctx context.Context) error { return t.opts.Calls.AgentAnswered(ctx, leg) })
	}
	if t.callJobs != nil && kind == presence.VoiceLegGone && f.LegID != "" {
		id := f.LegID
		t.toCalls("hang-up of "+f.Leg, func(ctx context.Context) error { return t.opts.Calls.ChannelHungUp(ctx, id) })
	}
}

// toCalls queues a notice for Calls without waiting: the event reader must
// never block on the database.
func (t *Tracker) toCalls(what string, job func(context.Context) error) {
	select {
	case t.callJobs <- job:
	default:
		t.log.Warn("AMI tracker: call notices queue full; one dropped (a reconnect's channel check repairs recordings)", "notice", what)
	}
}

// runCalls delivers the notices to Calls, one at a time, until ctx ends.
func (t *Tracker) runCalls(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case job := <-t.callJobs:
			if err := job(ctx); err != nil && ctx.Err() == nil {
				t.log.Warn("AMI tracker: the call controls could not take a call notice", "err", err)
			}
		}
	}
}

// atoi parses a small non-negative decimal; anything else is 0, which is
// what Asterisk means by a missing number.
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			if i == 0 && c == '-' {
				v, _ := strconv.Atoi(s)
				return v
			}
			return n
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// checkAll runs Check on every connected box, one after the other.
func (t *Tracker) checkAll(ctx context.Context) {
	for _, c := range t.pool.Clients() {
		if ctx.Err() != nil {
			return
		}
		if !c.Connected() {
			continue
		}
		if err := t.Check(ctx, c); err != nil && ctx.Err() == nil {
			t.log.Warn("AMI periodic reconcile failed; it runs again at the next tick", "box", c.Box(), "err", err)
		}
	}
}

// Check is the periodic reconcile of one box: its members are read again
// (one QueueStatus for all queues), presence is resynced with them and the
// box reconciled with the database, as after a connect, each correction
// logged. Channels and devices are left to their events: reading them is
// the expensive part, and no drift of theirs has been seen. When a resync
// of the box is under way (a reconnect), Check leaves the box to it.
func (t *Tracker) Check(ctx context.Context, c *Client) error {
	lock := t.boxLock(c.Box())
	select {
	case lock <- struct{}{}:
	default:
		t.log.Debug("AMI periodic reconcile: a resync of the box is under way; left to it", "box", c.Box())
		return nil
	}
	defer func() { <-lock }()
	return t.sync(ctx, c, false)
}

// OnConnect resyncs one box and reconciles it with the database. Set it as
// the clients' Config.OnConnect: it runs after every login, while events
// flow. A list the box refuses (an old Asterisk without DeviceStateList, a
// manager user without read=agent) is logged and skipped; a connection
// failure is returned so the client reconnects and tries again.
func (t *Tracker) OnConnect(ctx context.Context, c *Client) error {
	lock := t.boxLock(c.Box())
	select {
	case lock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-lock }()
	return t.sync(ctx, c, true)
}

// sync resyncs and reconciles one box: the members, and with full the
// channels and device states too.
func (t *Tracker) sync(ctx context.Context, c *Client, full bool) error {
	if t.opts.Skip != nil && t.opts.Skip(c.Box()) {
		return nil
	}
	start := t.clk.Now()
	// Taken before the lists: what changes while they are read is not
	// undone by them.
	snap := &presence.Snapshot{Box: c.Box(), At: start, Mark: t.states.Mark()}

	items, err := t.list(ctx, c, "QueueStatus")
	if err != nil {
		return err
	}
	if items != nil {
		snap.MembersKnown = true
		for _, m := range items {
			if m.Event() == "QueueMember" {
				snap.Members = append(snap.Members, memberFrom(m))
			}
		}
	}
	if !full {
		return t.reconcileBox(ctx, c, snap, "periodic")
	}
	items, err = t.list(ctx, c, "CoreShowChannels")
	if err != nil {
		return err
	}
	if items != nil {
		snap.CallsKnown = true
		var chans []channel
		for _, m := range items {
			if m.Event() == "CoreShowChannel" {
				chans = append(chans, channelFrom(m))
			}
		}
		snap.Calls = liveCalls(chans)
		if t.callJobs != nil {
			live := make([]string, 0, len(chans))
			for _, ch := range chans {
				live = append(live, ch.uniqueid)
			}
			box := c.Box()
			t.toCalls("channels up on "+box, func(ctx context.Context) error { return t.opts.Calls.ChannelsUp(ctx, box, start, live) })
		}
	}
	items, err = t.list(ctx, c, "DeviceStateList")
	if err != nil {
		return err
	}
	if items != nil {
		snap.DevicesKnown = true
		for _, m := range items {
			if d, ok := deviceReading(m); ok {
				snap.Devices = append(snap.Devices, d)
			}
		}
	}
	return t.reconcileBox(ctx, c, snap, "connect")
}

// reconcileBox applies what sync read and sends the corrections.
func (t *Tracker) reconcileBox(ctx context.Context, c *Client, snap *presence.Snapshot, trigger string) error {
	t.states.Resync(snap)
	if !snap.MembersKnown {
		return nil
	}
	plan := t.states.ReconcilePlan(snap)
	fixed, refused, err := t.applyPlan(ctx, c, plan, trigger)
	if err != nil {
		return err
	}
	took := t.clk.Now().Sub(snap.At)
	switch {
	case trigger == "connect":
		t.log.Info("AMI resync done", "box", c.Box(), "members", len(snap.Members), "calls", len(snap.Calls),
			"devices", len(snap.Devices), "corrections", fixed, "refused", refused, "took", took)
	case len(plan) > 0:
		// No reconnect, yet Asterisk was not what omniccd had made it.
		t.log.Warn("AMI periodic reconcile: Asterisk had drifted from omniccd's sessions without telling; corrected",
			"box", c.Box(), "members", len(snap.Members), "corrections", fixed, "refused", refused, "took", took,
			"hint", "app_queue drops a realtime queue and its dynamic members when a lookup of it fails (res_config_curl timeout)")
	default:
		t.log.Debug("AMI periodic reconcile: Asterisk matches omniccd's sessions", "box", c.Box(), "members", len(snap.Members), "took", took)
	}
	return nil
}

// reconcileWorkers bounds the corrections in flight: after an Asterisk
// restart every logged-in agent is one QueueAdd per queue, and one at a time
// would take a round trip each.
const reconcileWorkers = 16

// applyPlan sends the corrections, several at once, logging each. A refusal
// is logged and skipped; a connection failure stops it with the error.
func (t *Tracker) applyPlan(ctx context.Context, c *Client, plan []presence.Correction, trigger string) (fixed, refused int, err error) {
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	work := make(chan presence.Correction)
	for range min(reconcileWorkers, len(plan)) {
		wg.Go(func() {
			for fix := range work {
				err := t.correct(ctx, c, fix)
				var ae *ActionError
				mu.Lock()
				switch {
				case err == nil:
					fixed++
					t.log.Info("AMI reconcile: corrected Asterisk to match omniccd's sessions", "box", c.Box(), "trigger", trigger,
						"action", fix.Action, "agent_id", fix.AgentID, "queue", fix.Member.Queue, "interface", fix.Member.Interface, "why", fix.Why)
				case errors.As(err, &ae):
					refused++
					t.log.Warn("AMI reconcile: Asterisk refused a correction; check the queue exists in Asterisk", "box", c.Box(), "trigger", trigger,
						"action", fix.Action, "agent_id", fix.AgentID, "queue", fix.Member.Queue, "interface", fix.Member.Interface,
						"why", fix.Why, "asterisk_message", ae.Message)
				case first == nil:
					first = fmt.Errorf("reconcile %s: %w", fix, err)
				}
				mu.Unlock()
			}
		})
	}
	for _, fix := range plan {
		mu.Lock()
		stop := first != nil
		mu.Unlock()
		if stop {
			break
		}
		select {
		case work <- fix:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return fixed, refused, first
}

// list runs one list action of a resync. A refusal gives nil items and no
// error; connection trouble gives the error.
func (t *Tracker) list(ctx context.Context, c *Client, action string) ([]Message, error) {
	lctx, cancel := context.WithTimeout(ctx, t.opts.ResyncTimeout)
	defer cancel()
	_, items, err := c.ActionList(lctx, NewAction(action))
	var ae *ActionError
	if errors.As(err, &ae) {
		t.log.Warn("AMI resync: Asterisk refused a list; that part of the state is not resynced", "box", c.Box(),
			"action", action, "asterisk_message", ae.Message,
			"hint", "the manager.conf user needs read=system,call,agent and write=system,call,agent")
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("resync %s: %w", action, err)
	}
	if items == nil {
		items = []Message{}
	}
	return items, nil
}

func (t *Tracker) correct(ctx context.Context, c *Client, fix presence.Correction) error {
	m := fix.Member
	var action Message
	switch fix.Action {
	case "add":
		action = queueAddAction(m)
	case "remove":
		action = NewAction("QueueRemove", "Queue", m.Queue, "Interface", m.Interface)
	case "pause":
		action = queuePauseAction(m.Interface, m.Queue, m.Paused, m.Reason)
	default:
		return fmt.Errorf("unknown correction %q", fix.Action)
	}
	actx, cancel := context.WithTimeout(ctx, t.opts.ResyncTimeout)
	defer cancel()
	_, err := c.Action(actx, action)
	if fix.Action == "add" && alreadyThere(err) {
		return nil
	}
	return err
}

func queueAddAction(m presence.Member) Message {
	kv := []string{"Queue", m.Queue, "Interface", m.Interface, "Penalty", strconv.Itoa(m.Penalty),
		"Paused", strconv.FormatBool(m.Paused), "MemberName", m.MemberName, "StateInterface", m.StateInterface}
	if m.Paused && m.Reason != "" {
		kv = append(kv, "Reason", m.Reason)
	}
	return NewAction("QueueAdd", kv...)
}

func queuePauseAction(iface, queue string, paused bool, reason string) Message {
	kv := []string{"Interface", iface, "Paused", strconv.FormatBool(paused)}
	if queue != "" {
		kv = append(kv, "Queue", queue)
	}
	if reason != "" {
		kv = append(kv, "Reason", reason)
	}
	return NewAction("QueuePause", kv...)
}

// alreadyThere: QueueAdd of a member that exists ("Unable to add interface:
// Already there") has the outcome the caller wanted.
func alreadyThere(err error) bool {
	var ae *ActionError
	return errors.As(err, &ae) && strings.Contains(ae.Message, "Already there")
}
