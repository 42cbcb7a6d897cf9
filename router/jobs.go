package router

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// The router's side of the scheduled jobs: the scheduler (and its lock
// across instances) is the caller's; these only act on the database and
// tell the desktops.

// CloseIdle closes the open interactions of every digital queue with an
// idle_close setting whose last activity (a message either way, an accept,
// a transfer) is older than it. It answers how many it closed.
func (r *Router) CloseIdle(ctx context.Context) (int, error) {
	type rule struct {
		queue int64
		idle  time.Duration
	}
	var rules []rule
	r.mu.Lock()
	for _, q := range r.sortedQueuesLocked() {
		if q.idleClose > 0 {
			rules = append(rules, rule{q.id, q.idleClose})
		}
	}
	r.mu.Unlock()
	now := r.now()
	closed := 0
	for _, ru := range rules {
		var ids []int64
		if err := r.db.SelectContext(ctx, &ids, `SELECT id FROM interactions WHERE queue_id = ? AND status <> ? AND updated_at < ?
 ORDER BY id LIMIT 500`, ru.queue, StatusClosed, now.Add(-ru.idle)); err != nil {
			return closed, fmt.Errorf("router: find idle interactions of queue %d: %w", ru.queue, err)
		}
		for _, id := range ids {
			it, err := r.closeInteraction(ctx, id, "")
			if err != nil {
				return closed, err
			}
			if it.Status == StatusClosed {
				closed++
			}
		}
	}
	return closed, nil
}

// WindowWarningEvent is the websocket's "window_warning": the reply window
// of an interaction the agent holds closes soon.
type WindowWarningEvent struct {
	InteractionID   int64     `json:"interaction_id"`
	WindowExpiresAt time.Time `json:"window_expires_at"`
}

// WarnWindows warns the agents holding interactions whose reply window
// closes within the next `within`: once per window (a customer's message
// moves it, and the new one is warned about again), as a stored system
// message — it survives a reload — and a "window_warning" event. It
// answers how many it warned.
func (r *Router) WarnWindows(ctx context.Context, within time.Duration) (int, error) {
	now := r.now()
	var due []struct {
		ID      int64     `db:"id"`
		Expires time.Time `db:"window_expires_at"`
	}
	if err := r.db.SelectContext(ctx, &due, `SELECT id, window_expires_at FROM interactions WHERE status = ?
 AND window_expires_at > ? AND window_expires_at <= ? AND (window_warned_for IS NULL OR window_warned_for <> window_expires_at)
 ORDER BY id LIMIT 500`, StatusAccepted, now, now.Add(within)); err != nil {
		return 0, fmt.Errorf("router: find closing windows: %w", err)
	}
	warned := 0
	for _, d := range due {
		exp := d.Expires.UTC()
		m := &Message{InteractionID: d.ID, Direction: DirectionSystem, Status: MessageReceived, CreatedAt: now,
			Body: fmt.Sprintf("The reply window closes at %s; after that only a template reaches the customer.", exp.Format(time.RFC3339))}
		claimed := false
		err := inTx(ctx, r.db, func(tx *sqlx.Tx) error {
			// The claim makes a second instance, or a second run, warn no one.
			n, err := exec(ctx, tx, `UPDATE interactions SET window_warned_for = window_expires_at WHERE id = ? AND status = ?
 AND window_expires_at = ? AND (window_warned_for IS NULL OR window_warned_for <> window_expires_at)`, d.ID, StatusAccepted, d.Expires)
			if err != nil || n == 0 {
				return err
			}
			claimed = true
			return insertMessage(ctx, tx, m)
		})
		if err != nil {
			return warned, fmt.Errorf("router: warn interaction %d: %w", d.ID, err)
		}
		if !claimed {
			continue
		}
		it, err := readInteraction(ctx, r.db, d.ID)
		if err != nil {
			return warned, err
		}
		r.publish("message", ownerOf(it), MessageEvent{InteractionID: d.ID, Message: m})
		r.publish("window_warning", ownerOf(it), WindowWarningEvent{InteractionID: d.ID, WindowExpiresAt: exp})
		warned++
	}
	return warned, nil
}
