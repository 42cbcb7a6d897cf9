package router

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"omnicc/presence"
)

// Start is a conversation an agent opens itself (the contact card's
// WhatsApp template): the customer identity it lives under, so that the
// customer's answer joins it, and where its contact is found.
type Start struct {
	Channel      string
	Account      string
	Customer     string
	CustomerName string
	QueueID      int64
	// ContactListID and Phone find (or create) the interaction's contact,
	// as for an inbound message (see Inbound).
	ContactListID int64
	Phone         string
	// WindowExpiresAt is the channel's reply window as it stands now; zero
	// when the customer never wrote, and the interaction then starts with
	// its window closed (only templates go until the customer answers).
	WindowExpiresAt time.Time
}

// StartWithTemplate opens a business-initiated conversation: the
// interaction of the customer is created (or a closed one taken back)
// accepted by the agent who writes first, counted in its capacity like an
// accepted offer, and published as an interaction event; the template
// message is stored in it and handed to the channel's sender. The
// customer's answer lands in this same interaction (same identity).
//
// A customer whose interaction is waiting in a queue or held by another
// agent is not taken from there: ErrConflict, naming the interaction.
// Starting again in one's own open interaction just sends the template.
//
// The interaction and the message are stored whatever the sender says; a
// sender failure comes back as the error, with both.
func (r *Router) StartWithTemplate(ctx context.Context, who Actor, in Start, tpl TemplateSend, body string) (*Interaction, *Message, error) {
	switch {
	case in.Channel == "":
		return nil, nil, fieldErr("channel", "is required")
	case in.Customer == "":
		return nil, nil, fieldErr("to", "is required: the customer's identity on the channel")
	case who.AgentID == 0:
		return nil, nil, fieldErr("agent_id", "a conversation is started by a signed-in user, who then holds it")
	case tpl.ID < 1:
		return nil, nil, fieldErr("template_id", "is required")
	case len(body) > MaxBody:
		return nil, nil, fmt.Errorf("body is %d bytes, over %d: %w", len(body), MaxBody, ErrTooLarge)
	}
	r.mu.Lock()
	it, claimed, err := r.claimLocked(ctx, who, in)
	r.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	if claimed {
		r.linkContact(ctx, it, Inbound{Channel: in.Channel, Customer: in.Customer, CustomerName: in.CustomerName,
			ContactListID: in.ContactListID, Phone: in.Phone})
		r.publishInteraction(it)
	}
	m := &Message{InteractionID: it.ID, Direction: DirectionOut, Body: body, Status: MessagePending, CreatedAt: r.now(),
		AgentID: &who.AgentID}
	if err := inTx(ctx, r.db, func(tx *sqlx.Tx) error { return insertMessage(ctx, tx, m) }); err != nil {
		return it, nil, fmt.Errorf("router: store the template message of interaction %d: %w", it.ID, err)
	}
	sent := *m
	r.publish("message", who.AgentID, MessageEvent{InteractionID: it.ID, Message: &sent})
	return it, m, r.deliver(ctx, it, m, &tpl)
}

// claimLocked makes the customer's interaction the agent's: a new one
// inserted accepted, or a closed one reopened to the agent, each in one
// statement whose rows affected decide a race with the customer's own
// first message (which inserts it queued). claimed is true when the agent's
// load grew.
func (r *Router) claimLocked(ctx context.Context, who Actor, in Start) (it *Interaction, claimed bool, err error) {
	q, err := r.queueLocked(ctx, in.QueueID)
	if err != nil {
		return nil, false, err
	}
	if in.Channel != q.channel {
		return nil, false, fieldErr("queue_id", "queue %d serves %s, not %s: point the %s account at a %s queue", in.QueueID, q.channel, in.Channel, in.Channel, in.Channel)
	}
	now := r.now()
	window := now
	if !in.WindowExpiresAt.IsZero() {
		window = stamp(in.WindowExpiresAt)
	}
	n, err := exec(ctx, r.db, r.db.InsertIgnore()+` interactions (channel, account, customer, customer_name, queue_id, status,
 agent_id, tags, queued_at, created_at, updated_at, accepted_at, window_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, '[]', ?, ?, ?, ?, ?)`,
		in.Channel, in.Account, in.Customer, in.CustomerName, in.QueueID, StatusAccepted, who.AgentID, now, now, now, now, window)
	if err != nil {
		return nil, false, fmt.Errorf("router: open the interaction of %s %q: %w", in.Channel, in.Customer, err)
	}
	if n == 0 {
		// The window only moves forward, as for an inbound message.
		n, err = exec(ctx, r.db, `UPDATE interactions SET status = ?, agent_id = ?, queue_id = ?, disposition = '', unread = 0,
 closed_at = NULL, accepted_at = ?, updated_at = ?, bot_active = ?,
 window_expires_at = CASE WHEN window_expires_at IS NULL OR window_expires_at < ? THEN ? ELSE window_expires_at END
 WHERE channel = ? AND account = ? AND customer = ? AND status = ?`,
			StatusAccepted, who.AgentID, in.QueueID, now, now, false, window, window, in.Channel, in.Account, in.Customer, StatusClosed)
		if err != nil {
			return nil, false, fmt.Errorf("router: take back the interaction of %s %q: %w", in.Channel, in.Customer, err)
		}
	}
	var id int64
	if err := r.db.GetContext(ctx, &id, `SELECT id FROM interactions WHERE channel = ? AND account = ? AND customer = ?`,
		in.Channel, in.Account, in.Customer); err != nil {
		return nil, false, fmt.Errorf("router: find the interaction of %s %q: %w", in.Channel, in.Customer, err)
	}
	if it, err = readInteraction(ctx, r.db, id); err != nil {
		return nil, false, err
	}
	if n == 0 {
		if it.Status == StatusAccepted && it.AgentID != nil && *it.AgentID == who.AgentID {
			return it, false, nil
		}
		holder := "waits in its queue"
		if it.Status == StatusAccepted {
			holder = "is held by another agent"
		}
		return nil, false, fmt.Errorf("the conversation with %s is interaction %d, which %s: %w", in.Customer, it.ID, holder, ErrConflict)
	}
	a := r.agentLocked(who.AgentID)
	a.open[it.Channel]++
	r.pushLoadLocked(a, it.Channel)
	r.count(who.AgentID, it.Channel, presence.DigitalAccepted, 0)
	return it, true, nil
}
