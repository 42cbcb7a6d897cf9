package router

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// What a connector that talks to customers live (the web chat) needs
// beyond Receive: to find a customer's conversation, to store the system
// messages the customer must still see after a reload (queue position, no
// agent online, offline hours), and to link the conversation to a contact.

// FindByCustomer is the interaction of one customer identity on a channel
// account, or ErrNotFound before the customer's first message.
func (r *Router) FindByCustomer(ctx context.Context, channel, account, customer string) (*Interaction, error) {
	var id int64
	err := r.db.GetContext(ctx, &id, `SELECT id FROM interactions WHERE channel = ? AND account = ? AND customer = ?`, channel, account, customer)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("no %s interaction for %q: %w", channel, customer, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("router: find the %s interaction of %q: %w", channel, customer, err)
	}
	return readInteraction(ctx, r.db, id)
}

// AddSystemMessage stores a system message (direction system) in the
// interaction's sequence. clientID makes it idempotent: the same clientID
// twice stores one message (fresh false the second time).
func (r *Router) AddSystemMessage(ctx context.Context, interactionID int64, body, clientID string) (m *Message, fresh bool, err error) {
	if len(body) > MaxBody {
		return nil, false, fmt.Errorf("body is %d bytes, over %d: %w", len(body), MaxBody, ErrTooLarge)
	}
	it, err := readInteraction(ctx, r.db, interactionID)
	if err != nil {
		return nil, false, err
	}
	m = &Message{InteractionID: interactionID, Direction: DirectionSystem, Body: body, Status: MessageSent, CreatedAt: r.now()}
	if clientID != "" {
		m.ClientID = &clientID
	}
	err = inTx(ctx, r.db, func(tx *sqlx.Tx) error { return insertMessage(ctx, tx, m) })
	if errors.Is(err, errDuplicate) {
		m, err = findRetried(ctx, r.db, interactionID, m.ClientID, nil)
		return m, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("router: store a system message on interaction %d: %w", interactionID, err)
	}
	r.publish("message", ownerOf(it), MessageEvent{InteractionID: interactionID, Message: m})
	return m, true, nil
}

// QueuePosition is the interaction's place in its queue's line (1 is the
// next one offered); ok is false when it is not waiting in line (offered,
// accepted, closed).
func (r *Router) QueuePosition(interactionID int64) (pos int, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, q := range r.queues {
		me := q.line.byID[interactionID]
		if me == nil {
			continue
		}
		pos = 1
		for _, other := range q.line.items {
			if other != me && lineBefore(other, me) {
				pos++
			}
		}
		return pos, true
	}
	return 0, false
}

func lineBefore(a, b *waitItem) bool {
	if a.priority != b.priority {
		return a.priority > b.priority
	}
	if !a.queuedAt.Equal(b.queuedAt) {
		return a.queuedAt.Before(b.queuedAt)
	}
	return a.id < b.id
}

// LinkContact sets the interaction's contact (a customer who proved who
// they are) and tells the desktops.
func (r *Router) LinkContact(ctx context.Context, interactionID, contactID int64) (*Interaction, error) {
	if _, err := r.db.ExecContext(ctx, `UPDATE interactions SET contact_id = ?, updated_at = ? WHERE id = ?`, contactID, r.now(), interactionID); err != nil {
		return nil, fmt.Errorf("router: link interaction %d to contact %d: %w", interactionID, contactID, err)
	}
	it, err := readInteraction(ctx, r.db, interactionID)
	if err != nil {
		return nil, err
	}
	r.publishInteraction(it)
	return it, nil
}

// Publish lets a connector tell the desktops of something that is not
// stored (a customer typing): the event goes to the interaction's owner.
func (r *Router) Publish(typ string, it *Interaction, payload any) {
	r.publish(typ, ownerOf(it), payload)
}
