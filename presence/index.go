package presence

import (
	"context"
	"fmt"
	"strings"
	"time"

	"omnicc/directory"
	"omnicc/store"
)

// agent is everything presence knows about one agent. Guarded by Service.mu.
type agent struct {
	id        int64
	username  string
	fullName  string
	typology  string
	extension string
	disabled  bool // disabled or locked: cannot log in
	// off: an admin disabled the account. Its session is ended and its
	// members removed; a lock (failed passwords) only stops new logins, so
	// that guessing at a password cannot throw an agent out of its queues.
	off bool
	// loginInPause makes a login start paused on every channel.
	loginInPause bool
	iface        string // QueueAdd's Interface
	stateIface   string // QueueAdd's StateInterface
	devices      []string
	assigned     []assignment // queues the agent is linked to, by name

	sess *Session
	// wrapObserved: the wrap-up began on a box another instance leads,
	// which ends it in the history and on the bus.
	wrapObserved bool
	// sessFlushing counts the write-behind flushes storing this session
	// now, and flushGen every flush that took it: SyncSessions leaves a
	// session alone while the row it read may predate memory.
	sessFlushing int
	flushGen     uint64
	// sessGen counts the session writes REST made (saveSession), so a
	// flush can tell it wrote a session older than the database's.
	sessGen uint64
	// sessWriting counts REST session writes in flight: a flush leaves
	// such a session to them.
	sessWriting int
	members     []*member // Asterisk memberships, per box and queue

	device      string // last device state of the state interface
	deviceSince time.Time
	// deviceByCall: device was set while a ring or call was active, so it
	// ends with them (see settleActiveLocked).
	deviceByCall bool
	ring         *Call
	call         *Call
	held         bool
	heldSince    time.Time
	wrapUntil    time.Time
	wrapQueue    string
	wrapSince    time.Time

	cnt counterAcc

	// load is the agent's open interactions per digital channel against
	// its capacity there (load.go).
	load loads

	// seq is Service.seq when an event or a REST call last changed the
	// agent's memberships or session: a resync whose lists were read before
	// that (Snapshot.Mark) leaves the agent as they made it.
	seq uint64
	// wake, when set, is closed at the next change of the agent's
	// memberships: a REST call waits on it for Asterisk's events.
	wake chan struct{}

	// What was last published, to tell a change from a repeat.
	state, reason string
	since         time.Time
	loggedOutAt   time.Time
	changed       bool // something visible changed since the last commit
}

type assignment struct {
	queue     string
	channel   string
	penalty   int
	permanent bool
}

// member is one queue membership Asterisk reported.
type member struct {
	box        string
	queue      string
	iface      string
	membership string
	paused     bool
	reason     string
	status     int
	device     DeviceState
	penalty    int
	callsTaken int
	wrapuptime int
	inCall     bool
}

func (a *agent) member(box, queue string) *member {
	for _, m := range a.members {
		if m.box == box && m.queue == queue {
			return m
		}
	}
	return nil
}

// membersAre reports whether a is a member of queue on some box and ok
// holds for each of those memberships.
func (a *agent) membersAre(queue string, ok func(*member) bool) bool {
	found := false
	for _, m := range a.members {
		if m.queue != queue {
			continue
		}
		if !ok(m) {
			return false
		}
		found = true
	}
	return found
}

func (a *agent) removeMember(box, queue string) *member {
	for i, m := range a.members {
		if m.box == box && m.queue == queue {
			a.members = append(a.members[:i], a.members[i+1:]...)
			return m
		}
	}
	return nil
}

// voiceQueues are the queues a login adds the agent to: its voice queues
// that are not permanent (permanent members are static rows in Asterisk's
// queue_members).
func (a *agent) voiceQueues() []assignment {
	var out []assignment
	for _, q := range a.assigned {
		if q.channel == directory.ChannelVoice && !q.permanent {
			out = append(out, q)
		}
	}
	return out
}

// memberName is QueueAdd's MemberName: the username, which queue_log
// writes in its agent column (log_membername_as_agent = yes) for every
// event, so reports join on one stable, unique name rather than a full name
// that can change or repeat.
func (a *agent) memberName() string {
	return a.username
}

type agentRow = directory.AgentRef

type sessionRow struct {
	Session
	PausedChannels string `db:"paused_channels"`
}

func (r sessionRow) session() *Session {
	s := r.Session
	s.LoggedInAt = s.LoggedInAt.UTC()
	s.UpdatedAt = s.UpdatedAt.UTC()
	if s.PausedAt != nil {
		t := s.PausedAt.UTC()
		s.PausedAt = &t
	}
	s.PausedChannels = splitList(r.PausedChannels)
	return &s
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Load (re)reads agents, their queue links, voice queues, pause types and
// sessions from the database and rebuilds the interface index. Live state
// (memberships, calls, counters) is kept for agents that still exist. Call
// it once before serving; Run calls it again after directory changes.
func (s *Service) Load(ctx context.Context) error {
	// Agents, links, queues and pause types are the directory's: read
	// through its API, never with SQL on its tables.
	agents, err := s.dir.AgentRefs(ctx)
	if err != nil {
		return fmt.Errorf("presence: load agents: %w", err)
	}
	assigns, err := s.dir.QueueLinks(ctx)
	if err != nil {
		return fmt.Errorf("presence: load queue links: %w", err)
	}
	queues, err := s.dir.QueueRefs(ctx)
	if err != nil {
		return fmt.Errorf("presence: load queues: %w", err)
	}
	pauses, err := s.dir.PauseTypeNames(ctx)
	if err != nil {
		return fmt.Errorf("presence: load pause types: %w", err)
	}
	capacities, err := s.dir.ChannelCapacities(ctx)
	if err != nil {
		return fmt.Errorf("presence: load channel capacities: %w", err)
	}
	var sessions []sessionRow
	if err := s.db.SelectContext(ctx, &sessions, `SELECT agent_id, logged_in_at, source, paused_channels,
 pause_type_id, pause_reason, paused_at, updated_at FROM agent_sessions`); err != nil {
		return fmt.Errorf("presence: load agent sessions: %w", err)
	}
	now := s.clock.Now()
	counters, err := s.loadCounters(ctx, dayOf(now, s.loc))
	if err != nil {
		return err
	}

	capsByAgent := make(map[int64][]directory.ChannelCapacity)
	for _, c := range capacities {
		capsByAgent[c.AgentID] = append(capsByAgent[c.AgentID], c)
	}
	byAgent := make(map[int64][]assignment)
	for _, r := range assigns {
		byAgent[r.AgentID] = append(byAgent[r.AgentID], assignment{queue: r.Queue, channel: r.Channel, penalty: r.Penalty, permanent: r.Permanent})
	}
	sessByAgent := make(map[int64]*Session, len(sessions))
	for _, r := range sessions {
		sessByAgent[r.AgentID] = r.session()
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.queues = make(map[string]queueConfig, len(queues))
	for _, q := range queues {
		s.queues[q.Name] = queueConfig{id: q.ID, channel: q.Channel, wrapuptime: q.Wrapuptime}
	}
	s.pauses = make(map[string]int64, len(pauses))
	s.pauseIDs = make(map[int64]string, len(pauses))
	for id, name := range pauses {
		s.pauses[strings.ToLower(name)] = id
		s.pauseIDs[id] = name
	}
	old := s.agents
	s.agents = make(map[int64]*agent, len(agents))
	s.byIface = make(map[string]*agent, 2*len(agents))
	for _, r := range agents {
		a := old[r.ID]
		if a == nil {
			a = &agent{id: r.ID, loggedOutAt: now, since: now, state: StateLoggedOut}
			if c, ok := counters[r.ID]; ok {
				a.cnt = c
			} else {
				a.cnt = newCounterAcc(now, s.loc)
			}
		}
		s.setConfigLocked(a, r, byAgent[r.ID])
		a.load.setCapacities(capsByAgent[r.ID])
		// Sessions come from the database for agents memory does not know
		// yet (the first load, an agent created since). For the others
		// memory is ahead of the database (its writes may still be queued),
		// so a reload must not put an older row back.
		if old[r.ID] == nil {
			a.sess = sessByAgent[r.ID]
			if a.sess != nil && a.off {
				// Disabled while omniccd was not running.
				s.noteConfigLocked(a, a.configState())
			}
		}
		s.agents[r.ID] = a
		if old[r.ID] == nil {
			a.changed = true
		}
		s.commitLocked(a, now)
	}
	// Memberships of deleted agents are forgotten with them; a logged-in
	// one is logged out and removed from its queues (admin.go), and the
	// reconcile removes any dynamic member left.
	for id, a := range old {
		if s.agents[id] != a {
			s.noteGoneLocked(a)
		}
	}
	for a := range s.active {
		if s.agents[a.id] != a {
			delete(s.active, a)
		}
	}
	return nil
}

// setConfigLocked applies an agent's directory row and rebuilds its index
// entries.
func (s *Service) setConfigLocked(a *agent, r agentRow, assigned []assignment) {
	before := a.configState()
	defer s.noteConfigLocked(a, before)
	for _, d := range a.devices {
		if s.byIface[d] == a {
			delete(s.byIface, d)
		}
	}
	a.username, a.fullName, a.typology, a.extension = r.Username, r.FullName, r.Typology, r.Extension
	a.disabled = r.Disabled || r.Locked
	a.off = r.Disabled
	a.loginInPause = r.LoginInPause
	a.iface, a.stateIface = s.interfaceFor(r.Typology, r.Username, r.ExternalNumber, r.Context)
	a.assigned = assigned
	a.devices = a.devices[:0]
	for _, d := range []string{a.iface, a.stateIface, strings.TrimSuffix(a.iface, "/n")} {
		s.indexDeviceLocked(a, d)
	}
}

// indexDeviceLocked maps an interface or device name to a. Asterisk keeps
// endpoint names as written, so the name is indexed as stored; its lower
// case is indexed too for a peer configured with other capitals.
func (s *Service) indexDeviceLocked(a *agent, d string) {
	if d == "" {
		return
	}
	for _, k := range []string{d, strings.ToLower(d)} {
		if cur, ok := s.byIface[k]; ok && cur != a {
			continue // first come keeps it; two agents cannot share a device
		}
		if _, ok := s.byIface[k]; !ok {
			s.byIface[k] = a
			a.devices = append(a.devices, k)
		}
	}
}

// agentByDevice finds the agent of an interface, state interface or device.
func (s *Service) agentByDeviceLocked(d string) *agent {
	if a, ok := s.byIface[d]; ok {
		return a
	}
	if d == "" {
		return nil
	}
	// Only names with capitals can differ from their lower case.
	for i := 0; i < len(d); i++ {
		if c := d[i]; 'A' <= c && c <= 'Z' && i > 6 { // past "PJSIP/" or "Local/"
			return s.byIface[strings.ToLower(d)]
		}
	}
	return nil
}

// refreshAgent re-reads one agent and its queue links, for a REST
// operation that must not act on a stale index.
func (s *Service) refreshAgent(ctx context.Context, id int64) (*agent, error) {
	r, err := s.dir.AgentRef(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("presence: %w", err)
	}
	assigns, err := s.dir.AgentQueueLinks(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("presence: %w", err)
	}
	capacities, err := s.dir.AgentChannelCapacities(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("presence: %w", err)
	}
	var as []assignment
	for _, r := range assigns {
		as = append(as, assignment{queue: r.Queue, channel: r.Channel, penalty: r.Penalty, permanent: r.Permanent})
	}
	now := s.clock.Now()
	s.mu.Lock()
	a := s.agents[id]
	if a == nil {
		a = &agent{id: id, loggedOutAt: now, since: now, state: StateLoggedOut, cnt: newCounterAcc(now, s.loc)}
		s.agents[id] = a
	}
	s.setConfigLocked(a, r, as)
	a.load.setCapacities(capacities)
	s.mu.Unlock()
	// Another instance may have logged the agent in or out, or paused it,
	// since this one last heard: act on the stored session.
	if s.db.Dialect == store.MySQL {
		if _, err := s.SyncSessions(ctx, []int64{id}); err != nil {
			return nil, err
		}
	}
	return a, nil
}
