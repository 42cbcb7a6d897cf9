package ami

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"omnicc/presence"
)

// QueueActions carries presence's queue changes to Asterisk: it is
// presence.QueueController over every connected box of a Pool. It needs
// only the pool, so presence can be given it when it is built; the Tracker
// built after presence resyncs when an action's outcome was unknown
// (TrackerOptions.Actions).
type QueueActions struct {
	pool *Pool
	log  *slog.Logger
	// unknown is signalled when an action timed out: it may or may not have
	// run, and only a resync tells.
	unknown chan struct{}
}

// NewQueueActions returns the queue actions over pool; log may be nil.
func NewQueueActions(pool *Pool, log *slog.Logger) *QueueActions {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &QueueActions{pool: pool, log: log, unknown: make(chan struct{}, 1)}
}

func (q *QueueActions) outcomeUnknown() {
	select {
	case q.unknown <- struct{}{}:
	default:
	}
}

// QueueAdd adds a dynamic member on every connected box (presence's
// sessions hold on all of them). A member already there counts as added.
func (q *QueueActions) QueueAdd(ctx context.Context, m presence.Member) error {
	return q.everyBox(ctx, "QueueAdd", queueAddAction(m), alreadyThere)
}

// QueueRemove removes a dynamic member on every connected box.
func (q *QueueActions) QueueRemove(ctx context.Context, queue, iface string) error {
	return q.everyBox(ctx, "QueueRemove", NewAction("QueueRemove", "Queue", queue, "Interface", iface), nil)
}

// QueuePause pauses or unpauses a member on every connected box, in queue
// or (queue "") in all its queues.
func (q *QueueActions) QueuePause(ctx context.Context, iface, queue string, paused bool, reason string) error {
	return q.everyBox(ctx, "QueuePause", queuePauseAction(iface, queue, paused, reason), nil)
}

// QueuePenalty sets the penalty of a member on every connected box.
func (q *QueueActions) QueuePenalty(ctx context.Context, queue, iface string, penalty int) error {
	return q.everyBox(ctx, "QueuePenalty", NewAction("QueuePenalty", "Interface", iface, "Penalty", strconv.Itoa(penalty), "Queue", queue), nil)
}

// everyBox sends action to every connected box. Asterisk's refusal becomes
// a *presence.RefusedError (wrapping the *ActionError); no box reachable, a
// lost connection or a timeout become presence.ErrPending, and a timeout
// also schedules a reconcile, since the action may or may not have run.
// Boxes that are down are brought in line by their reconcile on connect.
func (q *QueueActions) everyBox(ctx context.Context, name string, action Message, fine func(error) bool) error {
	if !q.pool.Configured() {
		// Still a presence.ErrPending (the database keeps the change for an
		// Asterisk added later), but one that says why.
		return fmt.Errorf("%s: %w: %w", name, ErrNotConfigured, presence.ErrPending)
	}
	reached := 0
	var refused error
	for _, c := range q.pool.Clients() {
		if !c.Connected() {
			continue
		}
		_, err := c.Action(ctx, action)
		var ae *ActionError
		switch {
		case err == nil, fine != nil && fine(err):
			reached++
		case errors.As(err, &ae):
			reached++
			if refused == nil {
				refused = &presence.RefusedError{Action: name, Message: ae.Message, Err: err}
			}
		case errors.Is(err, ErrTimeout):
			q.outcomeUnknown()
			return fmt.Errorf("%w: %w", presence.ErrPending, err)
		case errors.Is(err, ErrInvalidAction):
			return err
		default:
			q.log.Warn("AMI action not applied; the reconcile on reconnect applies it", "box", c.Box(), "action", name, "err", err)
		}
	}
	if refused != nil {
		return refused
	}
	if reached == 0 {
		return fmt.Errorf("%s: %w", name, presence.ErrPending)
	}
	return nil
}
