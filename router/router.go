package router

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"omnicc/clock"
	"omnicc/contacts"
	"omnicc/directory"
	"omnicc/events"
	"omnicc/presence"
	"omnicc/store"
)

// Presence is what the router needs of the live agent state: whether an
// agent can take one more interaction on a channel (logged in, not paused
// there, under capacity) and where to push the agent's load. The router
// pushes accepted interactions plus outstanding offers as the load, so an
// offer reserves its slot and two queues can never overfill one agent.
type Presence interface {
	CanTake(agentID int64, channel string) (presence.Eligible, bool)
	SetLoad(agentID int64, channel string, open int)
}

// DigitalCounter is a Presence that also keeps each agent's digital
// counters of the day (offered, accepted, rejected, timed out, closed,
// handle time): *presence.Service. The router reports every step to it.
type DigitalCounter interface {
	CountDigital(agentID int64, channel, what string, handle time.Duration)
}

func (r *Router) count(agentID int64, channel, what string, handle time.Duration) {
	if c, ok := r.pres.(DigitalCounter); ok && agentID != 0 {
		c.CountDigital(agentID, channel, what, handle)
	}
}

// Directory is the configuration the router routes by.
type Directory interface {
	QueueRefs(ctx context.Context) ([]directory.QueueRef, error)
	Queue(ctx context.Context, id int64) (*directory.Queue, error)
	QueueLinks(ctx context.Context) ([]directory.QueueLink, error)
	AgentQueueLinks(ctx context.Context, agentID int64) ([]directory.QueueLink, error)
	Agent(ctx context.Context, id int64) (*directory.Agent, error)
}

// Publisher delivers the router's events (offer, offer_withdrawn, message,
// interaction) to desktops; it must not block.
type Publisher interface {
	Publish(presence.Event)
}

// Sender delivers an agent's message on one channel. The message is stored
// before Send is called; an error marks it failed (shown to the agent and
// retried by Retry).
type Sender interface {
	Send(ctx context.Context, m Outbound) error
}

// Contacts is the contact manager's trigger: the contact a customer is,
// matched by channel identity, number or e-mail, or created in the entry
// point's list (*contacts.Manager).
type Contacts interface {
	FindOrCreate(ctx context.Context, listID int64, who contacts.Identity) (*contacts.Contact, bool, error)
}

// Clock is the router's time source; tests move a fake one and call
// ExpireDue, so offer timeouts are tested without sleeping.
type Clock = clock.Clock

// Options builds a Router.
type Options struct {
	DB        *store.DB
	Presence  Presence
	Directory Directory
	Publisher Publisher
	// Contacts, when set, gives interactions whose entry point names a
	// contact list (Inbound.ContactListID) their contact.
	Contacts Contacts
	Clock    Clock
	Logger   *slog.Logger
}

// Actor is who acts through the router: an agent acts on its own
// interactions and its queues' waiting ones; staff (supervisors, admins) on
// all.
type Actor struct {
	AgentID int64
	Staff   bool
}

type queueState struct {
	id              int64
	name            string
	channel         string
	strategy        string
	offerTimeout    time.Duration
	transferTimeout time.Duration
	idleClose       time.Duration // 0: never closed for idleness
	// requireDisposition refuses an agent's close without a disposition.
	requireDisposition bool
	assistant          int64   // an AI assistant takes new interactions first (0: none)
	members            []int64 // sorted, for roundrobin's rotation
	next               int     // roundrobin: index of the next member to try
	line               *waitLine
	loadedAt           time.Time // when the configuration was read
}

// queueConfigTTL bounds how long a queue's strategy and timeouts are used
// before they are read again from the directory.
const queueConfigTTL = 30 * time.Second

type agentState struct {
	id     int64
	queues []int64
	// open counts accepted interactions per channel, reserved the offers
	// standing for the agent; presence gets their sum.
	open       map[string]int
	reserved   map[string]int
	autoAnswer map[string]time.Duration // channel → delay; absent = off
	lastOffer  time.Time
}

// offerState is an interaction that is offered right now.
type offerState struct {
	interactionID int64
	queueID       int64
	channel       string
	priority      int
	queuedAt      time.Time
	agents        map[int64]time.Time // agent → deadline
	autoAgent     int64
	autoAt        time.Time
	// A transfer: the interaction stays accepted by from until a target
	// accepts; toQueue is the target queue when sent to one.
	transfer bool
	from     int64
	toQueue  int64
	// writing: reserved in memory, its rows not yet committed (see
	// dispatchUnlocked); createdAt is when it was decided.
	writing   bool
	createdAt time.Time
}

// Router queues digital interactions, offers them and tracks them until
// they close. One mutex orders every decision; the database decides every
// race with the rows its conditional UPDATEs affect.
type Router struct {
	db    *store.DB
	pres  Presence
	dir   Directory
	pub   Publisher
	cts   Contacts
	bot   Bot
	bots  bots
	clock Clock
	log   *slog.Logger

	mu     sync.Mutex
	queues map[int64]*queueState
	agents map[int64]*agentState
	offers map[int64]*offerState
	passed map[int64]map[int64]bool // interaction → agents who rejected or let it time out
	// nextRound is when an interaction every eligible agent passed on may
	// be offered to them again (the last pass plus the queue's offer
	// timeout): a lone agent's reject is not answered with the same offer.
	nextRound map[int64]time.Time
	senders   map[string]Sender

	pendMu  sync.Mutex
	pending map[int64]bool // agents whose state changed, for Run to route
	// remote are interactions another instance queued, for the leader's
	// Run to put in line and offer without a rebuild.
	remote map[int64]*Interaction
	wake   chan struct{}

	// follower is set on an instance that does not lead the router (see
	// SetLeading): it stores and answers, but offers nothing.
	follower atomic.Bool
	// resync wakes the leader's rebuild (Lead) when another instance
	// changed an interaction; nil until Lead runs shared.
	resync atomic.Pointer[chan struct{}]
}

// New builds a Router; Load fills it from the database.
func New(o Options) *Router {
	if o.Clock == nil {
		o.Clock = clock.Wall
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Publisher == nil {
		o.Publisher = presence.PublisherFunc(func(presence.Event) {})
	}
	return &Router{db: o.DB, pres: o.Presence, dir: o.Directory, pub: o.Publisher, cts: o.Contacts, clock: o.Clock, log: o.Logger,
		queues: map[int64]*queueState{}, agents: map[int64]*agentState{}, offers: map[int64]*offerState{},
		passed: map[int64]map[int64]bool{}, nextRound: map[int64]time.Time{}, senders: map[string]Sender{}, pending: map[int64]bool{},
		wake: make(chan struct{}, 1), bots: bots{slots: make(chan struct{}, maxBotCalls)}}
}

// SetContacts gives the router the contact manager's trigger (see
// Options.Contacts); call it before Run, when the manager is built later.
func (r *Router) SetContacts(c Contacts) { r.cts = c }

// SetSender registers the sender of a channel (a connector calls it).
func (r *Router) SetSender(channel string, s Sender) {
	r.mu.Lock()
	r.senders[channel] = s
	r.mu.Unlock()
}

func (r *Router) now() time.Time { return stamp(r.clock.Now()) }

func (r *Router) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// AgentChanged tells the router an agent's state changed (logged in,
// unpaused, capacity freed). It never blocks and takes no router lock —
// presence may call it while publishing the load the router just set — Run
// routes for the agent right after.
func (r *Router) AgentChanged(agentID int64) {
	r.pendMu.Lock()
	r.pending[agentID] = true
	r.pendMu.Unlock()
	r.signal()
}

// Observe feeds a presence event to the router: agent_state events mean an
// agent may have become free.
func (r *Router) Observe(e presence.Event) {
	if e.Type == "interaction" && e.Origin != "" && r.takeRemoteQueued(e) {
		return
	}
	if (e.Type == "interaction" && e.Origin != "") || e.Type == events.Lost {
		// Another instance queued, accepted or closed one: the leader
		// rebuilds now rather than at its next periodic resync.
		if c := r.resync.Load(); c != nil {
			select {
			case *c <- struct{}{}:
			default:
			}
		}
	}
	if e.Type == "agent_state" && e.AgentID != 0 {
		r.AgentChanged(e.AgentID)
	}
}

// Run routes agents' changes as they arrive and expires offers at their
// deadlines until ctx ends.
func (r *Router) Run(ctx context.Context) error {
	for {
		if err := r.ProcessPending(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("router: route changed agents", "err", err)
		}
		if err := r.ExpireDue(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("router: expire offers", "err", err)
		}
		var timer <-chan time.Time
		if next, ok := r.nextDeadline(); ok {
			timer = r.clock.After(max(next.Sub(r.clock.Now()), time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-timer:
		}
	}
}

func (r *Router) nextDeadline() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var next time.Time
	for _, o := range r.offers {
		for _, d := range o.agents {
			if next.IsZero() || d.Before(next) {
				next = d
			}
		}
		if o.autoAgent != 0 && (next.IsZero() || o.autoAt.Before(next)) {
			next = o.autoAt
		}
	}
	for _, at := range r.nextRound {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next, !next.IsZero()
}

// ProcessPending reloads the changed agents' queues and settings and offers
// them the waiting interactions they can take.
func (r *Router) ProcessPending(ctx context.Context) error {
	firstErr := r.queueRemote(ctx)
	r.pendMu.Lock()
	ids := make([]int64, 0, len(r.pending))
	for id := range r.pending {
		ids = append(ids, id)
	}
	clear(r.pending)
	r.pendMu.Unlock()
	slices.Sort(ids)
	for _, id := range ids {
		links, err := r.dir.AgentQueueLinks(ctx, id)
		if err != nil {
			// Keep the agent for the next round (the next event or deadline)
			// and route the others now.
			r.pendMu.Lock()
			r.pending[id] = true
			r.pendMu.Unlock()
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		ag, err := r.dir.Agent(ctx, id)
		if err != nil {
			ag = nil // a deleted agent keeps what it holds, and gets no more
		}
		r.mu.Lock()
		a := r.agentLocked(id)
		r.setAgentLinksLocked(a, links)
		if ag != nil {
			a.autoAnswer = autoAnswers(ag)
		}
		qs := r.waitingQueuesLocked(a)
		r.mu.Unlock()
		// Offers are written without the lock, as a customer's message
		// writes its own: a flow of agents' changes must not hold every
		// other decision behind one commit after another.
		for _, q := range qs {
			if _, err := r.dispatchUnlocked(ctx, q); err != nil {
				firstErr = cmp.Or(firstErr, err)
			}
		}
	}
	return firstErr
}

func autoAnswers(ag *directory.Agent) map[string]time.Duration {
	out := map[string]time.Duration{}
	for ch, s := range ag.Channels {
		if s.AutoAnswer {
			out[ch] = time.Duration(s.AutoAnswerDelay) * time.Second
		}
	}
	return out
}

func (r *Router) agentLocked(id int64) *agentState {
	a := r.agents[id]
	if a == nil {
		a = &agentState{id: id, open: map[string]int{}, reserved: map[string]int{}, autoAnswer: map[string]time.Duration{}}
		r.agents[id] = a
	}
	return a
}

// setAgentLinksLocked makes the agent a member of exactly the digital
// queues of links that the router knows.
func (r *Router) setAgentLinksLocked(a *agentState, links []directory.QueueLink) {
	want := map[int64]bool{}
	for _, l := range links {
		for _, q := range r.queues {
			if q.name == l.Queue {
				want[q.id] = true
			}
		}
	}
	for _, qid := range a.queues {
		if !want[qid] {
			q := r.queues[qid]
			q.members = slices.DeleteFunc(q.members, func(id int64) bool { return id == a.id })
		}
	}
	a.queues = a.queues[:0]
	for qid := range want {
		a.queues = append(a.queues, qid)
		q := r.queues[qid]
		if i, found := slices.BinarySearch(q.members, a.id); !found {
			q.members = slices.Insert(q.members, i, a.id)
		}
	}
	slices.Sort(a.queues)
}

// defaultOfferTimeout is a queue's offer timeout when it names none.
const defaultOfferTimeout = 30 * time.Second

func queueFromDirectory(q *directory.Queue) *queueState {
	qs := &queueState{id: q.ID, name: q.Name, channel: q.Channel, strategy: q.Strategy,
		offerTimeout: time.Duration(q.OfferTimeout) * time.Second, transferTimeout: time.Duration(q.TransferTimeout) * time.Second,
		idleClose: time.Duration(q.IdleClose) * time.Second, requireDisposition: q.RequireDisposition,
		line: newWaitLine()}
	if q.AIAssistantID != nil {
		qs.assistant = *q.AIAssistantID
	}
	if qs.offerTimeout <= 0 {
		qs.offerTimeout = defaultOfferTimeout
	}
	if qs.transferTimeout <= 0 {
		qs.transferTimeout = 300 * time.Second
	}
	return qs
}

// queueLocked is a digital queue's state, read from the directory the
// first time it is needed (a queue created after Load).
func (r *Router) queueLocked(ctx context.Context, id int64) (*queueState, error) {
	if q := r.queues[id]; q != nil {
		// An admin's change of strategy or timeouts reaches the router
		// within queueConfigTTL, read again on the next arrival.
		if r.clock.Now().Sub(q.loadedAt) > queueConfigTTL {
			if dq, err := r.dir.Queue(ctx, id); err == nil && dq.Channel == q.channel {
				fresh := queueFromDirectory(dq)
				q.name, q.strategy, q.offerTimeout, q.transferTimeout = fresh.name, fresh.strategy, fresh.offerTimeout, fresh.transferTimeout
				q.idleClose, q.requireDisposition, q.assistant = fresh.idleClose, fresh.requireDisposition, fresh.assistant
			}
			q.loadedAt = r.clock.Now()
		}
		return q, nil
	}
	dq, err := r.dir.Queue(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("queue_id %d: %w", id, err)
	}
	if dq.Channel == directory.ChannelVoice {
		return nil, fieldErr("queue_id", "queue %d is a voice queue: digital interactions need a digital queue", id)
	}
	q := queueFromDirectory(dq)
	q.loadedAt = r.clock.Now()
	r.queues[id] = q
	links, err := r.dir.QueueLinks(ctx)
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		if l.Queue == q.name {
			a := r.agentLocked(l.AgentID)
			if !slices.Contains(a.queues, q.id) {
				a.queues = append(a.queues, q.id)
				slices.Sort(a.queues)
			}
			if i, found := slices.BinarySearch(q.members, a.id); !found {
				q.members = slices.Insert(q.members, i, a.id)
			}
		}
	}
	return q, nil
}

func (r *Router) pushLoadLocked(a *agentState, channel string) {
	if r.pres != nil {
		r.pres.SetLoad(a.id, channel, a.open[channel]+a.reserved[channel])
	}
}

func (r *Router) publish(typ string, agentID int64, payload any) {
	r.pub.Publish(presence.Event{Type: typ, AgentID: agentID, Payload: payload})
}

// InteractionEvent is the websocket's "interaction" event.
type InteractionEvent struct {
	Interaction *Interaction `json:"interaction"`
}

// OfferEvent is the websocket's "offer" event.
type OfferEvent struct {
	Interaction *Interaction `json:"interaction"`
	ExpiresAt   time.Time    `json:"expires_at"`
	Transfer    bool         `json:"transfer,omitempty"`
}

// OfferWithdrawnEvent is the websocket's "offer_withdrawn" event.
type OfferWithdrawnEvent struct {
	InteractionID int64  `json:"interaction_id"`
	Reason        string `json:"reason"`
}

// MessageEvent is the websocket's "message" event.
type MessageEvent struct {
	InteractionID int64    `json:"interaction_id"`
	Message       *Message `json:"message"`
}

func (r *Router) publishInteraction(it *Interaction) {
	var owner int64
	if it.AgentID != nil {
		owner = *it.AgentID
	}
	r.publish("interaction", owner, InteractionEvent{Interaction: it})
}
