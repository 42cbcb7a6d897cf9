package ami

import (
	"errors"
	"sync"
	"time"
)

// Event is a manager event as a subscriber receives it.
type Event struct {
	Box      string    // the box it came from (Config.Box)
	Received time.Time // when the reader parsed it, from the client's clock
	Message
}

// DefaultSubscriberBuffer is the buffer Subscribe uses when given 0. A busy
// box emits bursts of a few hundred events per call (VarSet dominates), so
// this leaves a consumer seconds of slack before it has to resync.
const DefaultSubscriberBuffer = 4096

// Subscription receives the events of one client or of a whole pool.
//
// Overflow policy: the reader never waits for a subscriber. When a
// subscriber's buffer is full, that subscription is ended — Events is closed
// and Err returns ErrOverflow — instead of dropping single events or queueing
// without bound. A state tracker that silently misses one QueueMemberPause is
// wrong until the next restart, and an unbounded queue turns one stuck
// consumer into unbounded memory during an event storm; an explicit "resync
// needed" reuses the resync path that every reconnect needs anyway, and the
// slow consumer is visible in the logs. Other subscribers are unaffected.
type Subscription struct {
	ch chan Event

	mu     sync.Mutex
	closed bool
	err    error
	hubs   []*hub // where it is registered, so Close can leave all of them
}

func newSubscription(buffer int) *Subscription {
	if buffer <= 0 {
		buffer = DefaultSubscriberBuffer
	}
	return &Subscription{ch: make(chan Event, buffer)}
}

// Events delivers events in the order each box sent them. It is closed when
// the subscription ends; then Err says why.
func (s *Subscription) Events() <-chan Event { return s.ch }

// Err is nil while the subscription runs, ErrOverflow after it fell behind,
// and ErrClosed after Close.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription and closes Events. Safe to call more than once
// and concurrently with delivery.
func (s *Subscription) Close() {
	s.mu.Lock()
	hubs := s.hubs
	s.hubs = nil
	s.endLocked(ErrClosed)
	s.mu.Unlock()
	for _, h := range hubs {
		h.remove(s)
	}
}

func (s *Subscription) endLocked(err error) {
	if s.closed {
		return
	}
	s.closed = true
	s.err = err
	close(s.ch)
}

// deliver hands ev over without ever blocking; it reports false when the
// subscription is over (now or before), so the hub can forget it.
func (s *Subscription) deliver(ev Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	select {
	case s.ch <- ev:
		return true
	default:
		s.endLocked(ErrOverflow)
		return false
	}
}

// hub is a client's list of subscriptions. A pool registers one
// subscription with every client's hub; the per-subscription mutex makes the
// concurrent sends of several readers safe.
type hub struct {
	mu   sync.RWMutex
	subs []*Subscription
}

func (h *hub) add(s *Subscription) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.hubs = append(s.hubs, h)
	s.mu.Unlock()
	h.mu.Lock()
	h.subs = append(h.subs, s)
	h.mu.Unlock()
}

func (h *hub) remove(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, x := range h.subs {
		if x == s {
			h.subs = append(h.subs[:i:i], h.subs[i+1:]...)
			return
		}
	}
}

// publish delivers ev to every subscription and returns those that just
// overflowed, so the caller can log them.
func (h *hub) publish(ev Event) (overflowed int) {
	h.mu.RLock()
	var dead []*Subscription
	for _, s := range h.subs {
		if !s.deliver(ev) {
			dead = append(dead, s)
		}
	}
	h.mu.RUnlock()
	for _, s := range dead {
		if errors.Is(s.Err(), ErrOverflow) {
			overflowed++
		}
		// Leave every hub: a pool subscription that overflowed on one box
		// must stop receiving from the others too.
		s.Close()
	}
	return overflowed
}
