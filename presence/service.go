package presence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"omnicc/clock"
	"omnicc/directory"
	"omnicc/journal"
	"omnicc/store"
)

// Clock is presence's time source; tests drive wrap-up ends and the day
// change with a fake one. ami.Clock has the same methods.
type Clock = clock.Clock

// Member is one queue membership to create in Asterisk (QueueAdd's fields)
// or as a resync found it there.
type Member struct {
	Queue          string
	Interface      string
	MemberName     string
	StateInterface string
	Penalty        int
	Paused         bool
	Reason         string

	// Filled by a resync.
	Membership string      // MembershipDynamic, MembershipStatic or MembershipRealtime
	Device     DeviceState // the phone's state as the membership reports it
	Status     int         // the adapter's status code, published as is (QueueState.Status)
	InCall     bool
	CallsTaken int
	Wrapuptime int
}

// QueueController is what presence needs from Asterisk to make the database's
// sessions true there. The ami package implements it over every connected
// box. Errors: a *RefusedError when Asterisk answered that it will not (its
// message is shown to the user), ErrPending when no box could be reached (the
// reconcile after the next AMI connect applies the change).
type QueueController interface {
	QueueAdd(ctx context.Context, m Member) error
	// QueueRemove removes a dynamic member; a member that is not there is
	// not an error.
	QueueRemove(ctx context.Context, queue, iface string) error
	// QueuePause pauses or unpauses iface in queue, or in every queue when
	// queue is "".
	QueuePause(ctx context.Context, iface, queue string, paused bool, reason string) error
	// QueuePenalty sets the penalty of iface's membership of queue.
	QueuePenalty(ctx context.Context, queue, iface string, penalty int) error
}

// ErrPending is wrapped by QueueController errors when Asterisk could not be
// reached: the session changed in the database, and the reconcile that runs
// after every AMI (re)connect will bring Asterisk in line.
var ErrPending = errors.New("presence: Asterisk not reachable now; the change is applied when the AMI connection is back")

// RefusedError is Asterisk refusing a queue action, with its own words
// ("Unable to add interface to queue: No such queue").
type RefusedError struct {
	Action  string // QueueAdd, QueueRemove, QueuePause, QueuePenalty
	Message string
	Err     error // the adapter's error (an *ami.ActionError)
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("Asterisk refused %s: %s", e.Action, e.Message)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// ErrNotLoggedIn: the agent has no session, so it cannot pause or unpause.
var ErrNotLoggedIn = errors.New("agent is not logged in; log in first (POST /api/v1/agents/{id}/login)")

// ErrAgentDisabled: a disabled or locked agent cannot log in.
var ErrAgentDisabled = errors.New("agent is disabled or locked; an admin must enable or unlock it before it can log in")

// Options wire a Service.
type Options struct {
	DB        *store.DB
	Directory *directory.Directory
	// Publisher receives an agent_state event for every change; nil
	// publishes nothing.
	Publisher Publisher
	// Controller applies sessions to Asterisk; nil means no Asterisk
	// (every change is then "pending").
	Controller QueueController
	// Names names agents the way the voice adapter does; nil names nobody
	// (no voice events are matched to agents).
	Names  Names
	Logger *slog.Logger
	Clock  Clock
	// Location is the calendar whose days the counters follow; default
	// time.Local.
	Location *time.Location
	// Tick is how often wrap-up ends and the day change are checked.
	// Default 1s.
	Tick time.Duration
	// MaxPendingHistory bounds the history rows held while the database is
	// unreachable; beyond it the oldest are dropped with an error in the
	// log. Default 1,000,000.
	MaxPendingHistory int
	// ActionTimeout bounds each Asterisk action a REST call waits for.
	// Default 5s.
	ActionTimeout time.Duration
	// FlushDelay is how long the writer lets changes gather before it
	// writes them in one transaction: a burst of events costs one commit,
	// not one each. Default 100ms; negative writes at once.
	FlushDelay time.Duration
	// PINCost is the bcrypt cost of phone login PINs; 0 means bcrypt's
	// default. Tests lower it.
	PINCost int
	// EventWait bounds how long Login, Logout, Pause and Unpause wait, once
	// Asterisk accepted their actions, for the membership facts that
	// follow, so that their answer shows Asterisk's memberships in line
	// with the session (see awaitAsterisk). Wall-clock time whatever Clock
	// says. Default 1s; negative answers at once.
	EventWait time.Duration
	// Journal, when set, gets every history row before it is queued for
	// the writer, so that a crash loses none (history.go).
	Journal *journal.Journal
}

// Service is the live state of every agent. Create it with New, call Load
// before serving, and run Run for the history writer and timers.
//
// Sessions. The agent_sessions table is the truth for who is logged in and
// paused on which channels. Login, Logout, Pause and Unpause write it first
// (synchronously, with a history row) and then ask Asterisk through the
// QueueController: Asterisk refusing undoes the change and returns its
// message; Asterisk unreachable keeps the change ("pending") and the
// reconcile after the next AMI connect applies it (ReconcilePlan: missing
// members added back with their pause, dynamic members no session explains
// removed, pauses aligned; static and realtime members and queues omniccd
// does not manage are never touched). Changes made inside Asterisk while
// omniccd watches are carried into the session: a dynamic member added by
// the dialplan or CLI is a login (source "asterisk"), the removal of an
// agent's last dynamic member a logout, a pause of all its dynamic
// memberships a pause (and any unpause an unpause).
//
// Identity. How Asterisk names an agent is the voice adapter's rule
// (Options.Names): presence keeps the member interface and device it gives
// as opaque keys, and matches the facts the adapter reports (VoiceFact,
// Snapshot) to agents by them and by the devices the adapter reports for a
// membership.
//
// State. ApplyVoice and Resync feed the voice state, as domain facts; the history rows and
// the sessions and counters changed by events are written behind by Run,
// batched; every change publishes an agent_state Event carrying AgentState.
type Service struct {
	db    *store.DB
	dir   *directory.Directory
	pub   Publisher
	ctrl  QueueController
	names Names
	log   *slog.Logger
	clock Clock
	loc   *time.Location
	opts  Options

	// agentLocks serialise REST operations (login, pause…) per agent,
	// which wait for Asterisk, without serialising all agents: one lock
	// per agent, so two agents never wait for each other's actions.
	agentLocks keyedLocks
	// flushMu makes write-behind flushes follow one another; REST session
	// writes never take it (see flushAll).
	flushMu sync.Mutex

	mu      sync.Mutex
	agents  map[int64]*agent
	byIface map[string]*agent // member interface, state interface and device names
	// active are the agents ringing or on a call: the few that legs gone,
	// callers leaving and answers elsewhere must be checked against.
	active   map[*agent]struct{}
	queues   map[string]queueConfig
	pauses   map[string]int64 // pause type name (lower-cased) -> id
	pauseIDs map[int64]string // id -> name
	hist     historyBuffer
	// seq counts the changes to memberships and sessions made by events and
	// REST calls (see Mark); it starts at 1, so that a Snapshot.Mark of 0
	// means none was taken.
	seq uint64
	// outbox holds agent_state events until the lock is released; pubMu
	// keeps their order when several goroutines publish.
	outbox []Event
	pubMu  sync.Mutex

	reload chan struct{}
	flush  chan struct{}

	// adminWork is what admins changed for logged-in agents and Asterisk
	// has yet to follow, one entry per agent (admin.go); adminKick wakes
	// Run's goroutine that carries it out.
	adminWork map[int64]*adminChange
	adminKick chan struct{}

	// observing is set, under mu, while a fact of a box another instance
	// leads is applied (observe.go): memory only.
	observing bool

	// synced are called with each agent whose session SyncSessions took
	// from another instance (others.go).
	syncMu sync.Mutex
	synced []func(agentID int64)
}

type queueConfig struct {
	id         int64
	channel    string
	wrapuptime int
}

// New builds a Service; Load fills it from the database.
func New(opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Wall
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Tick <= 0 {
		opts.Tick = time.Second
	}
	if opts.MaxPendingHistory <= 0 {
		opts.MaxPendingHistory = 1_000_000
	}
	if opts.FlushDelay == 0 {
		opts.FlushDelay = 100 * time.Millisecond
	}
	if opts.ActionTimeout <= 0 {
		opts.ActionTimeout = 5 * time.Second
	}
	if opts.EventWait == 0 {
		opts.EventWait = time.Second
	}
	if opts.Publisher == nil {
		opts.Publisher = PublisherFunc(func(Event) {})
	}
	if opts.Names == nil {
		opts.Names = noNames{}
	}
	s := &Service{
		db:        opts.DB,
		dir:       opts.Directory,
		pub:       opts.Publisher,
		ctrl:      opts.Controller,
		names:     opts.Names,
		log:       opts.Logger,
		clock:     opts.Clock,
		loc:       opts.Location,
		opts:      opts,
		agents:    make(map[int64]*agent),
		byIface:   make(map[string]*agent),
		active:    make(map[*agent]struct{}),
		queues:    make(map[string]queueConfig),
		pauses:    make(map[string]int64),
		pauseIDs:  make(map[int64]string),
		reload:    make(chan struct{}, 1),
		flush:     make(chan struct{}, 1),
		seq:       1,
		adminWork: make(map[int64]*adminChange),
		adminKick: make(chan struct{}, 1),
	}
	s.useJournal(opts.Journal)
	if opts.Directory != nil {
		// OnChange runs on the writer's goroutine and must not block: the
		// reload itself happens in Run, and what it means for logged-in
		// agents' memberships in a goroutine of Run's (admin.go).
		opts.Directory.OnChange(func(c directory.Change) {
			switch c.Entity {
			case "agent", "queue", "membership", "pause_type", "user":
				s.requestReload()
			}
		})
	}
	return s
}

// SetController sets the Asterisk side after construction: the ami tracker
// that implements it needs the Service first.
func (s *Service) SetController(c QueueController) {
	s.mu.Lock()
	s.ctrl = c
	s.mu.Unlock()
}

func (s *Service) controller() QueueController {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ctrl
}

// Mark is a point in the flow of member events and session changes. A
// resync takes it before reading a box's lists and passes it in
// Snapshot.Mark: the lists may predate what changed after it, so Resync and
// ReconcilePlan leave the agents it concerns as events and REST calls made
// them (the next resync looks at them again).
func (s *Service) Mark() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// touchLocked records that events or a REST call changed a's memberships or
// session just now (see Mark), and wakes whoever waits for that.
func (s *Service) touchLocked(a *agent) {
	s.seq++
	a.seq = s.seq
	s.wakeLocked(a)
}

// wakeLocked wakes a REST call waiting for a's memberships to change.
func (s *Service) wakeLocked(a *agent) {
	if a.wake != nil {
		close(a.wake)
		a.wake = nil
	}
}

func (s *Service) requestReload() {
	select {
	case s.reload <- struct{}{}:
	default:
	}
}

func (s *Service) requestFlush() {
	select {
	case s.flush <- struct{}{}:
	default:
	}
}

// Run writes the history and write-behind session and counter changes,
// ends wrap-ups, rolls the counters over at midnight, reloads the agent
// index after directory changes and carries those changes to logged-in
// agents' sessions and memberships (admin.go), until ctx ends. It flushes
// everything pending before returning; changes recorded after that are
// written synchronously, so none is lost at shutdown.
func (s *Service) Run(ctx context.Context) error {
	s.hist.open()
	var wg sync.WaitGroup
	wg.Go(func() { s.runAdminWork(ctx) })
	// One timer across iterations: under a steady flow of flushes a timer
	// made anew each time round would never fire.
	tick := s.clock.After(s.opts.Tick)
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			s.hist.close()
			// A final flush with its own deadline: ctx is already over.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			err := s.flushAll(fctx)
			cancel()
			if err != nil {
				s.log.Error("presence: history not written at shutdown", "err", err)
			}
			return nil
		case <-s.flush:
			if s.opts.FlushDelay > 0 {
				select {
				case <-ctx.Done():
					continue // the final flush above writes it
				case <-s.clock.After(s.opts.FlushDelay):
				}
			}
			if err := s.flushAll(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("presence: writing agent history failed; retrying", "err", err)
				select {
				case <-ctx.Done():
				case <-s.clock.After(time.Second):
				}
				s.requestFlush()
			}
		case <-s.reload:
			if err := s.Load(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("presence: reloading agents after a directory change failed; retrying", "err", err)
				select {
				case <-ctx.Done():
				case <-s.clock.After(time.Second):
				}
				s.requestReload()
			}
		case <-tick:
			s.Tick()
			tick = s.clock.After(s.opts.Tick)
		}
	}
}

// Tick ends wrap-ups whose time is up and rolls the counters over when the
// day changed. Run calls it every Options.Tick; tests call it after moving
// their clock.
func (s *Service) Tick() {
	now := s.clock.Now()
	s.mu.Lock()
	var changed, observed []*agent
	for _, a := range s.agents {
		rolled := a.cnt.rolloverWith(now, s.loc, a.sess)
		if rolled {
			s.hist.markCounters(a.id)
		}
		if !a.wrapUntil.IsZero() && !now.Before(a.wrapUntil) {
			a.wrapUntil, a.wrapQueue = time.Time{}, ""
			a.changed = true
			if a.wrapObserved {
				// The box's leader ends it too, and writes and tells it.
				a.wrapObserved = false
				observed = append(observed, a)
				continue
			}
		}
		if a.changed || rolled {
			changed = append(changed, a)
		}
	}
	for _, a := range changed {
		a.changed = true
		s.commitLocked(a, now)
	}
	s.observeLocked(true)
	for _, a := range observed {
		s.commitLocked(a, now)
	}
	s.observeLocked(false)
	s.mu.Unlock()
	if len(changed) > 0 {
		s.afterChange()
	}
}

// Identity is what the voice adapter needs of an agent to name it in
// Asterisk.
type Identity struct {
	Username string
	// External is the external typology: a phone number reached through a
	// dialplan context, no endpoint of its own.
	External       bool
	ExternalNumber string
	Context        string
}

// Names is how the voice adapter names agents. presence does not know the
// rule: it keeps the names as opaque keys, sends them back in
// QueueController calls and matches the agent of a VoiceFact by them.
// cmd/omniccd hands it ami.Names.
type Names interface {
	// Member is the agent's member interface and the device whose state
	// the membership follows ("" when the agent cannot be a member).
	Member(id Identity) (iface, device string)
	// Device is the device a call leg (a channel) belongs to.
	Device(leg string) string
}

// noNames names nobody: a Service without a voice adapter.
type noNames struct{}

func (noNames) Member(Identity) (string, string) { return "", "" }
func (noNames) Device(string) string             { return "" }

// interfaceFor is the member interface and device of an agent, as Names
// gives them.
func (s *Service) interfaceFor(typology, username, externalNumber, context string) (iface, device string) {
	return s.names.Member(Identity{Username: username, External: typology == directory.TypologyExternal,
		ExternalNumber: externalNumber, Context: context})
}

// deviceOf is the device a call leg belongs to, as Names gives it.
func (s *Service) deviceOf(leg string) string { return s.names.Device(leg) }
