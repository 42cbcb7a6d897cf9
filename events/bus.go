package events

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
)

// Errors a Subscription ends with.
var (
	// ErrLagged: the subscriber fell behind and events were lost. Resync
	// from the truth (the database, presence) and subscribe again.
	ErrLagged = errors.New("events: subscriber fell behind; events were lost: resync and subscribe again")
	// ErrClosed: the subscriber closed it, or the bus stopped.
	ErrClosed = errors.New("events: subscription closed")
)

// Defaults for Options' zero values.
const (
	// DefaultQueueSize bounds the events waiting for the dispatcher.
	// Publishers (presence under its publish lock) must never wait, and a
	// burst of a few thousand state changes is what a queue restart or a
	// resync produces.
	DefaultQueueSize = 4096
	// DefaultBuffer bounds one subscription's undelivered events.
	DefaultBuffer = 1024
)

// Options configure a Bus; zero values take the defaults.
type Options struct {
	Logger    *slog.Logger
	QueueSize int // [DefaultQueueSize]
	Buffer    int // per subscription, when Subscribe is given 0 [DefaultBuffer]
}

// Bus carries events from publishers to subscribers. Publish only queues;
// Run's one dispatcher goroutine matches each event against every
// subscription's scope and hands it over, so every subscriber sees events in
// publish order and none of them can slow a publisher or another subscriber.
//
// Overflow policy: nobody is ever waited for, and nobody silently misses an
// event. A subscription whose buffer is full is ended with ErrLagged (its
// channel closed) rather than skipping that one event: a desktop or a router
// that misses one agent_state is wrong until the next change, whereas an
// explicit "you lagged" sends it down the resync path it needs after a
// reconnect anyway (the ami package treats its subscribers the same way). If
// the bus's own queue is full — the dispatcher itself is behind — the event
// is dropped, counted, and every subscription is ended with ErrLagged, for
// the same reason.
type Bus struct {
	opts  Options
	log   *slog.Logger
	queue chan Event
	// lost is set by Publish when the queue was full; wake pokes the
	// dispatcher so it ends the subscriptions even if nothing else comes.
	lost atomic.Bool
	wake chan struct{}

	dropped atomic.Uint64
	lagged  atomic.Uint64

	mu      sync.Mutex // guards subs' writes, running, stopped
	subs    atomic.Pointer[[]*Subscription]
	running bool
	stopped bool
}

// New builds a bus; start its dispatcher with Run.
func New(o Options) *Bus {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Buffer <= 0 {
		o.Buffer = DefaultBuffer
	}
	b := &Bus{opts: o, log: o.Logger, queue: make(chan Event, o.QueueSize), wake: make(chan struct{}, 1)}
	b.subs.Store(&[]*Subscription{})
	return b
}

// Publish queues e for every subscriber whose scope it matches and returns
// at once, whatever the subscribers are doing. After Run has ended it drops
// e (counted in Dropped).
func (b *Bus) Publish(e Event) {
	select {
	case b.queue <- e:
		return
	default:
	}
	n := b.dropped.Add(1)
	b.lost.Store(true)
	select {
	case b.wake <- struct{}{}:
	default:
	}
	// Powers of two: visible in the log without flooding it.
	if n&(n-1) == 0 {
		b.log.Warn("event bus queue full or stopped; event dropped and subscribers told they lagged",
			"type", e.Type, "agent_id", e.AgentID, "dropped_total", n, "queue", cap(b.queue))
	}
}

// Dropped is how many events Publish could not queue.
func (b *Bus) Dropped() uint64 { return b.dropped.Load() }

// Queued is how many published events wait for the dispatcher.
func (b *Bus) Queued() int { return len(b.queue) }

// Lagged is how many subscriptions were ended because they fell behind.
func (b *Bus) Lagged() uint64 { return b.lagged.Load() }

// Subscribers is the number of live subscriptions.
func (b *Bus) Subscribers() int { return len(*b.subs.Load()) }

// Subscribe registers a subscriber for the events within scope, buffering up
// to buffer of them (0: Options.Buffer). Events published before Subscribe
// returns are not delivered. Subscribing after Run has ended returns a
// subscription already ended with ErrClosed.
func (b *Bus) Subscribe(scope Scope, buffer int) *Subscription {
	if buffer <= 0 {
		buffer = b.opts.Buffer
	}
	s := &Subscription{bus: b, scope: scope, ch: make(chan Event, buffer)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		s.end(ErrClosed)
		return s
	}
	// Copy on write: the dispatcher reads the list without a lock.
	old := *b.subs.Load()
	next := make([]*Subscription, len(old), len(old)+1)
	copy(next, old)
	next = append(next, s)
	b.subs.Store(&next)
	return s
}

func (b *Bus) remove(gone ...*Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := *b.subs.Load()
	next := make([]*Subscription, 0, len(old))
	for _, s := range old {
		keep := true
		for _, g := range gone {
			if s == g {
				keep = false
				break
			}
		}
		if keep {
			next = append(next, s)
		}
	}
	b.subs.Store(&next)
}

// Run dispatches events until ctx ends, then ends every subscription with
// ErrClosed. It is the bus's only goroutine.
func (b *Bus) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.running || b.stopped {
		b.mu.Unlock()
		return errors.New("events: Bus.Run called twice")
	}
	b.running = true
	b.mu.Unlock()
	defer b.stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.wake:
			b.endLostSubscribers()
		case e := <-b.queue:
			// An event dropped before this one must be reported before
			// this one is delivered, or a subscriber would see a gap.
			b.endLostSubscribers()
			b.dispatch(e)
		}
	}
}

func (b *Bus) endLostSubscribers() {
	if !b.lost.Swap(false) {
		return
	}
	subs := *b.subs.Load()
	for _, s := range subs {
		if s.end(ErrLagged) {
			b.lagged.Add(1)
		}
	}
	b.remove(subs...)
}

func (b *Bus) dispatch(e Event) {
	var dead []*Subscription
	for _, s := range *b.subs.Load() {
		if !s.scope.Matches(e) {
			continue
		}
		if !s.deliver(e) {
			dead = append(dead, s)
		}
	}
	if len(dead) > 0 {
		b.remove(dead...)
	}
}

func (b *Bus) stop() {
	b.mu.Lock()
	b.stopped = true
	subs := *b.subs.Load()
	b.subs.Store(&[]*Subscription{})
	b.mu.Unlock()
	for _, s := range subs {
		s.end(ErrClosed)
	}
	// Later Publish calls find the queue as Run left it and may fill it;
	// nothing reads it any more, and they only count.
}

// Subscription is one subscriber's view of the bus: its events, in publish
// order, on C, until it ends.
type Subscription struct {
	bus   *Bus
	scope Scope
	ch    chan Event

	mu     sync.Mutex
	closed bool
	err    error
}

// C delivers the events. It is closed when the subscription ends; Err then
// says why.
func (s *Subscription) C() <-chan Event { return s.ch }

// Scope is what the subscription receives.
func (s *Subscription) Scope() Scope { return s.scope }

// Err is nil while the subscription runs, ErrLagged after it fell behind,
// ErrClosed after Close or the end of the bus's Run.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription and closes C. Safe to call more than once and
// concurrently with delivery.
func (s *Subscription) Close() {
	if s.end(ErrClosed) {
		s.bus.remove(s)
	}
}

// deliver hands e over without waiting; false means the subscription has
// ended (now, because its buffer was full, or before).
func (s *Subscription) deliver(e Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	select {
	case s.ch <- e:
		return true
	default:
		s.endLocked(ErrLagged)
		s.bus.lagged.Add(1)
		s.bus.log.Warn("event subscriber fell behind; its subscription ended",
			"buffer", cap(s.ch), "type", e.Type, "agent_id", e.AgentID)
		return false
	}
}

// end reports whether it was the one that ended s.
func (s *Subscription) end(err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endLocked(err)
}

func (s *Subscription) endLocked(err error) bool {
	if s.closed {
		return false
	}
	s.closed = true
	s.err = err
	close(s.ch)
	return true
}
