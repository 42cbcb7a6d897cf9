package router

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"omnicc/presence"
)

// ErrTransferPending is a transfer asked while another is still pending.
var ErrTransferPending = fmt.Errorf("a transfer of this interaction is already pending: %w", ErrConflict)

// Transfer offers an accepted interaction to another agent (toAgent) or to
// the eligible agents of a digital queue (toQueue). The target has the
// transfer timeout of the interaction's queue to accept; until then the
// interaction stays with its agent. A target that cannot take it now
// (offline, paused, at capacity) is refused at once, naming the field.
func (r *Router) Transfer(ctx context.Context, who Actor, id, toAgent, toQueue int64) (*Interaction, error) {
	if (toAgent == 0) == (toQueue == 0) {
		return nil, fieldErr("agent_id", "give exactly one of agent_id or queue_id")
	}
	it, err := r.mine(ctx, who, id)
	if err != nil {
		return nil, err
	}
	if it.Status != StatusAccepted || it.AgentID == nil {
		return nil, fmt.Errorf("interaction %d is %s: only an accepted interaction can be transferred: %w", id, it.Status, ErrConflict)
	}
	from := *it.AgentID
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.offers[id] != nil {
		return nil, ErrTransferPending
	}
	q, err := r.queueLocked(ctx, it.QueueID)
	if err != nil {
		return nil, err
	}
	timeout := q.transferTimeout
	var to []int64
	if toAgent != 0 {
		if toAgent == from {
			return nil, fieldErr("agent_id", "agent %d already holds interaction %d", toAgent, id)
		}
		if r.pres == nil {
			return nil, fieldErr("agent_id", "agent %d is offline, paused or at capacity on %s", toAgent, it.Channel)
		}
		if _, ok := r.pres.CanTake(toAgent, it.Channel); !ok {
			return nil, fieldErr("agent_id", "agent %d is offline, paused or at capacity on %s: choose another agent or a queue", toAgent, it.Channel)
		}
		to = []int64{toAgent}
	} else {
		tq, err := r.queueLocked(ctx, toQueue)
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				return nil, err
			}
			return nil, fieldErr("queue_id", "queue %d does not exist", toQueue)
		}
		if tq.channel != it.Channel {
			return nil, fieldErr("queue_id", "queue %d serves %s, the interaction is %s", toQueue, tq.channel, it.Channel)
		}
		_, all := r.eligibleLocked(tq, id)
		all = slices.DeleteFunc(all, func(a int64) bool { return a == from })
		if len(all) == 0 {
			return nil, fieldErr("queue_id", "nobody in queue %d can take it now (offline, paused or at capacity)", toQueue)
		}
		to = r.chooseLocked(tq, all)
		timeout = tq.transferTimeout
	}
	now := r.now()
	deadline := now.Add(timeout)
	var target any
	if toQueue != 0 {
		target = toQueue
	}
	err = inTx(ctx, r.db, func(tx *sqlx.Tx) error {
		for _, a := range to {
			if _, err := tx.ExecContext(ctx, `INSERT INTO interaction_offers (interaction_id, agent_id, kind, to_queue_id, expires_at, created_at)
 VALUES (?, ?, 'transfer', ?, ?, ?)`, id, a, target, deadline, now); err != nil {
				return err
			}
		}
		return nil
	})
	if isUnique(err) {
		return nil, ErrTransferPending
	}
	if err != nil {
		return nil, fmt.Errorf("router: transfer interaction %d: %w", id, err)
	}
	o := &offerState{interactionID: id, queueID: it.QueueID, channel: it.Channel, agents: map[int64]time.Time{},
		transfer: true, from: from, toQueue: toQueue}
	for _, a := range to {
		as := r.agentLocked(a)
		o.agents[a] = deadline
		as.reserved[it.Channel]++
		r.pushLoadLocked(as, it.Channel)
		r.publish("offer", a, OfferEvent{Interaction: it, ExpiresAt: deadline, Transfer: true})
		r.count(a, it.Channel, presence.DigitalOffered, 0)
	}
	r.offers[id] = o
	r.signal()
	return it, nil
}

// acceptTransferLocked moves the interaction from its agent to the target
// who accepted; the conditional UPDATE on the original owner decides races
// with a close or another target.
func (r *Router) acceptTransferLocked(ctx context.Context, o *offerState, agentID int64) (*Interaction, error) {
	now := r.now()
	id := o.interactionID
	var it *Interaction
	var gone *OfferGoneError
	err := inTx(ctx, r.db, func(tx *sqlx.Tx) error {
		n, err := exec(ctx, tx, `DELETE FROM interaction_offers WHERE interaction_id = ? AND agent_id = ? AND kind = 'transfer' AND expires_at > ?`,
			id, agentID, now)
		if err != nil {
			return err
		}
		if n == 1 {
			set, args := `agent_id = ?, accepted_at = ?, updated_at = ?, unread = 0`, []any{agentID, now, now}
			if o.toQueue != 0 {
				set += `, queue_id = ?`
				args = append(args, o.toQueue)
			}
			n, err = exec(ctx, tx, `UPDATE interactions SET `+set+` WHERE id = ? AND status = ? AND agent_id = ?`,
				append(args, id, StatusAccepted, o.from)...)
			if err != nil {
				return err
			}
		}
		if it, err = readInteraction(ctx, tx, id); err != nil {
			return err
		}
		if n != 1 {
			gone = &OfferGoneError{InteractionID: id, Reason: ReasonExpired}
			if it.AgentID != nil && *it.AgentID != o.from {
				gone.Reason = ReasonTaken
			}
			return gone
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM interaction_offers WHERE interaction_id = ?`, id)
		return err
	})
	if gone != nil {
		return nil, gone
	}
	if err != nil {
		return nil, fmt.Errorf("router: accept the transfer of interaction %d: %w", id, err)
	}
	delete(r.offers, id)
	for a := range o.agents {
		as := r.agents[a]
		as.reserved[o.channel]--
		if a != agentID {
			r.pushLoadLocked(as, o.channel)
			r.publish("offer_withdrawn", a, OfferWithdrawnEvent{InteractionID: id, Reason: ReasonTaken})
		}
	}
	winner := r.agentLocked(agentID)
	winner.open[o.channel]++
	r.pushLoadLocked(winner, o.channel)
	r.count(agentID, o.channel, presence.DigitalAccepted, 0)
	orig := r.agentLocked(o.from)
	orig.open[o.channel] = max(orig.open[o.channel]-1, 0)
	r.pushLoadLocked(orig, o.channel)
	// The original agent learns it is gone; the new owner gets it.
	r.publish("interaction", o.from, InteractionEvent{Interaction: it})
	r.publishInteraction(it)
	if err := r.routeAgentLocked(ctx, orig); err != nil {
		return it, err
	}
	return it, nil
}

// endTransferLocked: nobody took the transfer (refused or timed out), so
// the interaction stays with its agent, marked unread to catch the eye.
func (r *Router) endTransferLocked(ctx context.Context, o *offerState) error {
	delete(r.offers, o.interactionID)
	if _, err := r.db.ExecContext(ctx, `UPDATE interactions SET unread = unread + 1, updated_at = ? WHERE id = ? AND status = ? AND agent_id = ?`,
		r.now(), o.interactionID, StatusAccepted, o.from); err != nil {
		return fmt.Errorf("router: return interaction %d to agent %d: %w", o.interactionID, o.from, err)
	}
	if it, err := readInteraction(ctx, r.db, o.interactionID); err == nil {
		r.publishInteraction(it)
	}
	return nil
}
