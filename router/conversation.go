package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"omnicc/contacts"
	"omnicc/presence"
)

// MaxBody is the longest message body, in bytes, the router stores.
const MaxBody = 16 * 1024

// ErrTooLarge is a body over MaxBody.
var ErrTooLarge = errors.New("message body too large")

// Receive is the connector-facing entry: a customer's message on (channel
// account, customer identity) joins the customer's open interaction or
// opens one — a closed one reopens and is routed to the first free agent.
// fresh is false for a retried delivery (same ExternalID), which stores
// nothing and answers the message stored the first time.
func (r *Router) Receive(ctx context.Context, in Inbound) (it *Interaction, m *Message, fresh bool, err error) {
	switch {
	case in.Channel == "":
		return nil, nil, false, fieldErr("channel", "is required")
	case in.Customer == "":
		return nil, nil, false, fieldErr("from", "is required: the customer's identity on the channel")
	case len(in.Body) > MaxBody:
		return nil, nil, false, fmt.Errorf("body is %d bytes, over %d: %w", len(in.Body), MaxBody, ErrTooLarge)
	}
	r.mu.Lock()
	q, err := r.queueLocked(ctx, in.QueueID)
	r.mu.Unlock()
	if err != nil {
		return nil, nil, false, err
	}
	if in.Channel != q.channel {
		return nil, nil, false, fieldErr("queue_id", "queue %d serves %s, not %s: point the %s account at a %s queue", in.QueueID, q.channel, in.Channel, in.Channel, in.Channel)
	}
	now := r.now()
	m = &Message{Direction: DirectionIn, Body: in.Body, Attachments: in.Attachments, Status: MessageReceived, CreatedAt: now}
	if in.ExternalID != "" {
		m.ExternalID = &in.ExternalID
	}
	// The customer's conversation is looked up first; a new customer's is
	// created in the message's own transaction (one commit for both) —
	// unless another delivery created it meanwhile: then, as for an
	// existing one, ensureInteraction opens it on its own first (see there).
	id, err := findInteraction(ctx, r.db, in)
	if err != nil {
		return nil, nil, false, err
	}
	var opened, createdHere bool
	if id == 0 {
		err = inTx(ctx, r.db, func(tx *sqlx.Tx) error {
			newID, ok, err := createInteraction(ctx, tx, r.db.InsertIgnore(), in, now)
			if err != nil {
				return err
			}
			if !ok {
				return errRaced
			}
			it, err = r.storeInbound(ctx, tx, in, m, &Interaction{ID: newID, Status: StatusQueued}, first)
			return err
		})
		switch {
		case err == nil:
			id, opened, createdHere = it.ID, true, true
		case errors.Is(err, errRaced), errors.Is(err, errDuplicate):
			// Lost the race to create it (nothing was kept): join it below.
			err = nil
		}
	}
	newness := notNew // how new the interaction is, for insertMessageOf
	if id == 0 && err == nil {
		if id, opened, err = ensureInteraction(ctx, r.db, r.db.InsertIgnore(), in, now); err != nil {
			return nil, nil, false, err
		}
		if opened {
			newness = created
		}
	}
	if !createdHere && err == nil {
		err = inTx(ctx, r.db, func(tx *sqlx.Tx) error {
			var err error
			// A message that ends the conversation (a quick reply closing
			// it) does not bring a closed one back.
			if !in.CloseAfter && !opened {
				reopened, err := reopenClosed(ctx, tx, id, in.QueueID, now)
				if err != nil {
					return err
				}
				opened = opened || reopened
			}
			if it, err = readInteraction(ctx, tx, id); err != nil {
				return err
			}
			it, err = r.storeInbound(ctx, tx, in, m, it, newness)
			return err
		})
	}
	fresh = true
	switch {
	case errors.Is(err, errDuplicate):
		fresh = false
		if it, err = readInteraction(ctx, r.db, id); err != nil {
			return nil, nil, false, err
		}
		if m, err = findRetried(ctx, r.db, it.ID, nil, m.ExternalID); err != nil {
			return nil, nil, false, err
		}
		r.linkContact(ctx, it, in)
		// A racing retry stored the message first, but this call created
		// the interaction: it still has to queue it.
		if !opened {
			return it, m, false, nil
		}
	case err != nil:
		return nil, nil, false, fmt.Errorf("router: receive on %s from %q: %w", in.Channel, in.Customer, err)
	default:
		r.publish("message", ownerOf(it), MessageEvent{InteractionID: it.ID, Message: m})
		r.linkContact(ctx, it, in)
	}
	if in.CloseAfter {
		if !fresh {
			return it, m, false, nil
		}
		cur, err := r.closeInteraction(ctx, it.ID, "")
		if err != nil {
			return it, m, fresh, err
		}
		return cur, m, fresh, nil
	}
	if fresh && !in.CloseAfter {
		// A queue with an AI assistant: new conversations go to it first,
		// and it answers each customer message until it hands over.
		if opened {
			if bot := r.botQueue(ctx, it.QueueID); bot != 0 {
				cur, err := r.botFirst(ctx, bot, it, m)
				return cur, m, true, err
			}
		} else if it.Bot && it.Status == StatusQueued {
			if bot := r.botQueue(ctx, it.QueueID); bot != 0 {
				cur, err := r.queueBotTurn(ctx, it, botTurn{assistantID: bot, interactionID: it.ID, message: m})
				return cur, m, true, err
			}
			cur, err := r.handoff(ctx, it.ID, "the queue has no assistant any more")
			return cur, m, true, err
		}
	}
	if opened {
		// Storing ran without the router's lock, so deliveries for many
		// customers commit in parallel; only queueing and the offer's
		// decision take it, and the offer is written without it too.
		// Something that moved the interaction on meanwhile (a close) makes
		// the offer's conditional UPDATE find it no longer queued.
		r.mu.Lock()
		q, err := r.queueLocked(ctx, it.QueueID)
		if err == nil {
			q.line.add(it.ID, it.Priority, it.QueuedAt)
			r.publishInteraction(it)
		}
		r.mu.Unlock()
		if err != nil {
			return it, m, fresh, err
		}
		offered, err := r.dispatchUnlocked(ctx, q)
		if err != nil {
			return it, m, fresh, err
		}
		if cur := offered[it.ID]; cur != nil {
			it = cur
		} else if cur, err := readInteraction(ctx, r.db, it.ID); err == nil {
			it = cur
		}
	}
	return it, m, fresh, nil
}

// storeInbound stores a customer's message in it, inside the message's
// transaction, and answers the interaction as it then is. isNew says how
// new the interaction is (see insertMessageOf).
func (r *Router) storeInbound(ctx context.Context, tx *sqlx.Tx, in Inbound, m *Message, it *Interaction, isNew int) (*Interaction, error) {
	m.InteractionID = it.ID
	if err := insertMessageOf(ctx, tx, m, isNew); err != nil {
		return nil, err
	}
	if !in.WindowExpiresAt.IsZero() {
		// Deliveries arrive out of order: an older message never
		// shortens the window.
		w := stamp(in.WindowExpiresAt)
		if _, err := tx.ExecContext(ctx, `UPDATE interactions SET window_expires_at = ?
 WHERE id = ? AND (window_expires_at IS NULL OR window_expires_at < ?)`, w, it.ID, w); err != nil {
			return nil, err
		}
	}
	if it.Status == StatusAccepted {
		if _, err := tx.ExecContext(ctx, `UPDATE interactions SET unread = unread + 1 WHERE id = ?`, it.ID); err != nil {
			return nil, err
		}
	}
	return readInteraction(ctx, tx, it.ID)
}

// linkContact gives an interaction without a contact the contact its
// customer is, found or created in the entry point's list. A contacts
// failure never loses the message: it is logged, and the next message of
// the conversation tries again.
func (r *Router) linkContact(ctx context.Context, it *Interaction, in Inbound) {
	if it.ContactID != nil || in.ContactListID == 0 || r.cts == nil {
		return
	}
	c, _, err := r.cts.FindOrCreate(ctx, in.ContactListID, contacts.Identity{Channel: in.Channel, ExternalID: in.Customer,
		Phone: in.Phone, Email: in.Email, Name: in.CustomerName})
	if err != nil {
		r.log.Warn("router: find or create the contact of a customer", "channel", in.Channel, "customer", in.Customer,
			"list", in.ContactListID, "err", err)
		return
	}
	if _, err := r.db.ExecContext(ctx, `UPDATE interactions SET contact_id = ? WHERE id = ? AND contact_id IS NULL`, c.ID, it.ID); err != nil {
		r.log.Warn("router: link interaction to contact", "interaction", it.ID, "contact", c.ID, "err", err)
		return
	}
	id := c.ID
	it.ContactID = &id
}

func ownerOf(it *Interaction) int64 {
	if it.AgentID != nil {
		return *it.AgentID
	}
	return 0
}

// Get reads an interaction the actor may see: its own, its queues' waiting
// and offered ones, or any for staff.
func (r *Router) Get(ctx context.Context, who Actor, id int64) (*Interaction, error) {
	it, err := readInteraction(ctx, r.db, id)
	if err != nil {
		return nil, err
	}
	if !r.maySee(who, it) {
		return nil, fmt.Errorf("interaction %d belongs to another agent: %w", id, ErrForbidden)
	}
	return it, nil
}

// Find reads the interaction of a customer identity (channel, account,
// customer) that the actor may see.
func (r *Router) Find(ctx context.Context, who Actor, channel, account, customer string) (*Interaction, error) {
	it, err := r.FindByCustomer(ctx, channel, account, customer)
	if err != nil {
		return nil, err
	}
	if !r.maySee(who, it) {
		return nil, fmt.Errorf("interaction %d belongs to another agent: %w", it.ID, ErrForbidden)
	}
	return it, nil
}

func (r *Router) maySee(who Actor, it *Interaction) bool {
	if who.Staff || (it.AgentID != nil && *it.AgentID == who.AgentID) {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if o := r.offers[it.ID]; o != nil {
		if _, ok := o.agents[who.AgentID]; ok {
			return true // a transfer's target reads what it is offered
		}
	}
	if it.Status == StatusQueued || it.Status == StatusOffered {
		if a := r.agents[who.AgentID]; a != nil {
			for _, q := range a.queues {
				if q == it.QueueID {
					return true
				}
			}
		}
	}
	return false
}

// mine reads an interaction the actor may act on: its own, or any for staff.
func (r *Router) mine(ctx context.Context, who Actor, id int64) (*Interaction, error) {
	it, err := readInteraction(ctx, r.db, id)
	if err != nil {
		return nil, err
	}
	if !who.Staff && (it.AgentID == nil || *it.AgentID != who.AgentID) {
		return nil, fmt.Errorf("interaction %d belongs to another agent: %w", id, ErrForbidden)
	}
	return it, nil
}

// Messages lists an interaction's messages after seq afterSeq, in order.
func (r *Router) Messages(ctx context.Context, who Actor, id, afterSeq int64) ([]*Message, error) {
	if _, err := r.Get(ctx, who, id); err != nil {
		return nil, err
	}
	var out []*Message
	if err := r.db.SelectContext(ctx, &out, messageSelect+` WHERE interaction_id = ? AND seq > ? ORDER BY seq`, id, afterSeq); err != nil {
		return nil, fmt.Errorf("router: list messages of interaction %d: %w", id, err)
	}
	for _, m := range out {
		m.decode()
	}
	if out == nil {
		out = []*Message{}
	}
	return out, nil
}

// Reply stores an agent's message and hands it to the channel's sender.
// The same clientID twice stores one message (fresh false the second time).
// A sender failure keeps the message, with status failed and the error.
//
// attachments (AttachmentURL of files already saved, one per message at
// most) make a file message, whose body is an optional caption.
func (r *Router) Reply(ctx context.Context, who Actor, id int64, body, clientID string, attachments ...string) (m *Message, fresh bool, err error) {
	if strings.TrimSpace(body) == "" && len(attachments) == 0 {
		return nil, false, fieldErr("body", "is required")
	}
	if len(attachments) > 1 {
		return nil, false, fieldErr("file", "one file per message")
	}
	if len(body) > MaxBody {
		return nil, false, fmt.Errorf("body is %d bytes, over %d: %w", len(body), MaxBody, ErrTooLarge)
	}
	it, err := r.mine(ctx, who, id)
	if err != nil {
		return nil, false, err
	}
	if it.Status == StatusClosed {
		return nil, false, fmt.Errorf("interaction %d is closed: reopen it to reply: %w", id, ErrClosed)
	}
	if err := r.windowOpen(it); err != nil {
		return nil, false, err
	}
	m = &Message{InteractionID: id, Direction: DirectionOut, Body: body, Attachments: attachments, Status: MessagePending, CreatedAt: r.now()}
	if clientID != "" {
		m.ClientID = &clientID
	}
	if who.AgentID != 0 {
		m.AgentID = &who.AgentID
	}
	err = inTx(ctx, r.db, func(tx *sqlx.Tx) error { return insertMessage(ctx, tx, m) })
	if errors.Is(err, errDuplicate) {
		m, err = findRetried(ctx, r.db, id, m.ClientID, nil)
		return m, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("router: store the reply to interaction %d: %w", id, err)
	}
	// A copy goes out: deliver updates m while the hub may still encode it.
	sent := *m
	r.publish("message", ownerOf(it), MessageEvent{InteractionID: id, Message: &sent})
	r.deliver(ctx, it, m, nil)
	return m, true, nil
}

// windowOpen refuses free text once the interaction's reply window has
// passed: omniccd says so itself, before any provider call.
func (r *Router) windowOpen(it *Interaction) error {
	if it.WindowExpiresAt == nil || r.clock.Now().Before(*it.WindowExpiresAt) {
		return nil
	}
	return &RefusedError{Code: "window_closed", Err: fmt.Errorf("the reply window of interaction %d closed at %s: only a template reaches the customer now (POST /interactions/%d/template)",
		it.ID, it.WindowExpiresAt.Format(time.RFC3339), it.ID)}
}

// SendTemplate stores a channel template message (body is what agents read
// of it) and hands it to the channel's sender with the template. Unlike a
// reply it is not bound by the reply window, and it may go to a closed
// interaction without reopening it: the recontact template reaches a
// customer whose conversation ended, whose answer then reopens it.
func (r *Router) SendTemplate(ctx context.Context, who Actor, id int64, tpl TemplateSend, body string) (*Message, error) {
	if tpl.ID < 1 {
		return nil, fieldErr("template_id", "is required")
	}
	if len(body) > MaxBody {
		return nil, fmt.Errorf("body is %d bytes, over %d: %w", len(body), MaxBody, ErrTooLarge)
	}
	it, err := r.mine(ctx, who, id)
	if err != nil {
		return nil, err
	}
	m := &Message{InteractionID: id, Direction: DirectionOut, Body: body, Status: MessagePending, CreatedAt: r.now()}
	if who.AgentID != 0 {
		m.AgentID = &who.AgentID
	}
	if err := inTx(ctx, r.db, func(tx *sqlx.Tx) error { return insertMessage(ctx, tx, m) }); err != nil {
		return nil, fmt.Errorf("router: store the template message of interaction %d: %w", id, err)
	}
	sent := *m
	r.publish("message", ownerOf(it), MessageEvent{InteractionID: id, Message: &sent})
	r.deliver(ctx, it, m, &tpl)
	return m, nil
}

// deliver hands a stored message to the channel's sender and records the
// outcome; it answers the sender's error for callers that pass it on.
func (r *Router) deliver(ctx context.Context, it *Interaction, m *Message, tpl *TemplateSend) error {
	r.mu.Lock()
	s := r.senders[it.Channel]
	r.mu.Unlock()
	status, errText := MessageSent, ""
	var sendErr error
	if s == nil {
		status, errText = MessageFailed, "no connector sends on channel "+it.Channel
		sendErr = errors.New(errText)
	} else if err := s.Send(ctx, Outbound{InteractionID: it.ID, MessageID: m.ID, Channel: it.Channel, Account: it.Account,
		Customer: it.Customer, Body: m.Body, Attachments: m.Attachments, Template: tpl}); errors.Is(err, ErrDeferred) {
		return nil // the connector delivers it in the background and reports through SetMessageStatus
	} else if err != nil {
		status, errText, sendErr = MessageFailed, err.Error(), err
	}
	if len(errText) > 1000 {
		errText = errText[:1000]
	}
	if err := r.SetMessageStatus(ctx, m.ID, status, errText); err != nil {
		r.log.Warn("router: record delivery", "message", m.ID, "err", err)
		return sendErr
	}
	m.Status, m.Error = status, errText
	m.Attempts++
	return sendErr
}

// ErrDeferred is what a Sender answers when it took the message for
// delivery in the background (with its own retries): the message stays
// pending until the connector calls SetMessageStatus.
var ErrDeferred = errors.New("delivery deferred to the connector")

// PendingOutbound lists the agents' messages on channel still waiting for
// delivery — what a connector picks up again after a restart.
func (r *Router) PendingOutbound(ctx context.Context, channel string) ([]Outbound, error) {
	var rows []struct {
		Message
		Channel  string `db:"channel"`
		Account  string `db:"account"`
		Customer string `db:"customer"`
	}
	if err := r.db.SelectContext(ctx, &rows, `SELECT m.id, m.interaction_id, m.seq, m.direction, m.body, m.attachments,
 m.client_id, m.external_id, m.status, m.agent_id, m.attempts, m.error, m.created_at, i.channel, i.account, i.customer
 FROM interaction_messages m JOIN interactions i ON i.id = m.interaction_id
 WHERE i.channel = ? AND m.direction = ? AND m.status = ? ORDER BY m.id`, channel, DirectionOut, MessagePending); err != nil {
		return nil, fmt.Errorf("router: list pending messages on %s: %w", channel, err)
	}
	out := make([]Outbound, 0, len(rows))
	for _, m := range rows {
		m.decode()
		out = append(out, Outbound{InteractionID: m.InteractionID, MessageID: m.ID, Channel: m.Channel, Account: m.Account,
			Customer: m.Customer, Body: m.Body, Attachments: m.Attachments})
	}
	return out, nil
}

// SetMessageStatus records the outcome of handing a message to its sender
// (sent or failed), now or later. It only moves a message still pending or
// failed: a provider's delivered or read that arrived first is kept.
func (r *Router) SetMessageStatus(ctx context.Context, messageID int64, status, errText string) error {
	q := `UPDATE interaction_messages SET status = ?, error = ?, attempts = attempts + 1 WHERE id = ?`
	args := []any{status, errText, messageID}
	if status == MessageFailed || status == MessageSent {
		q += ` AND status IN (?, ?)`
		args = append(args, MessagePending, MessageFailed)
	}
	if _, err := r.db.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("router: set status of message %d: %w", messageID, err)
	}
	return r.publishMessage(ctx, messageID)
}

// statusFrom lists, for a provider's status, the statuses a message may
// move from: sent → delivered → read only forward (delivered may be skipped
// or come after read), and failed — with the provider's code and title —
// until the customer has read it.
var statusFrom = map[string][]any{
	MessageSent:      {MessagePending, MessageFailed},
	MessageDelivered: {MessagePending, MessageFailed, MessageSent},
	MessageRead:      {MessagePending, MessageFailed, MessageSent, MessageDelivered},
	MessageFailed:    {MessagePending, MessageFailed, MessageSent, MessageDelivered},
}

// DeliveryStatus records a provider's news of an agent's message (a status
// webhook): sent, delivered, read or failed with errText (the provider's
// code and title). A status that would move the message back changes
// nothing; one that moves it is pushed to the desktops as a message event.
func (r *Router) DeliveryStatus(ctx context.Context, messageID int64, status, errText string) error {
	from, ok := statusFrom[status]
	if !ok {
		return fieldErr("status", "%q is not sent, delivered, read or failed", status)
	}
	if len(errText) > 1000 {
		errText = errText[:1000]
	}
	n, err := exec(ctx, r.db, `UPDATE interaction_messages SET status = ?, error = ? WHERE id = ? AND direction = ?
 AND status IN (?, ?, ?, ?)`, append([]any{status, errText, messageID, DirectionOut}, pad(from, 4)...)...)
	if err != nil {
		return fmt.Errorf("router: delivery status of message %d: %w", messageID, err)
	}
	if n == 0 {
		return nil
	}
	return r.publishMessage(ctx, messageID)
}

// pad repeats the last value so an IN list has n entries.
func pad(v []any, n int) []any {
	out := append([]any(nil), v...)
	for len(out) < n {
		out = append(out, v[len(v)-1])
	}
	return out
}

func (r *Router) publishMessage(ctx context.Context, messageID int64) error {
	// The desktop shows each message's delivery status as it changes.
	m, err := readMessage(ctx, r.db, messageID)
	if err != nil {
		return err
	}
	it, err := readInteraction(ctx, r.db, m.InteractionID)
	if err != nil {
		return err
	}
	r.publish("message", ownerOf(it), MessageEvent{InteractionID: it.ID, Message: m})
	return nil
}

// Retry hands the failed replies of the interaction to the sender again.
func (r *Router) Retry(ctx context.Context, who Actor, id int64) error {
	it, err := r.mine(ctx, who, id)
	if err != nil {
		return err
	}
	var failed []*Message
	if err := r.db.SelectContext(ctx, &failed, messageSelect+` WHERE interaction_id = ? AND status = ? ORDER BY seq`, id, MessageFailed); err != nil {
		return fmt.Errorf("router: list failed messages of interaction %d: %w", id, err)
	}
	for _, m := range failed {
		m.decode()
		r.deliver(ctx, it, m, nil)
	}
	return nil
}

// Read clears the actor's unread count of the interaction.
func (r *Router) Read(ctx context.Context, who Actor, id int64) (*Interaction, error) {
	if _, err := r.mine(ctx, who, id); err != nil {
		return nil, err
	}
	if _, err := r.db.ExecContext(ctx, `UPDATE interactions SET unread = 0 WHERE id = ?`, id); err != nil {
		return nil, fmt.Errorf("router: mark interaction %d read: %w", id, err)
	}
	it, err := readInteraction(ctx, r.db, id)
	if err == nil {
		// The customer's side shows read ticks (the web chat listens).
		r.publishInteraction(it)
	}
	return it, err
}

// Close ends an interaction with an optional disposition; closing a closed
// one changes nothing. The owner's capacity frees at once and the next
// waiting interaction is offered.
func (r *Router) Close(ctx context.Context, who Actor, id int64, disposition string) (*Interaction, error) {
	it, err := r.Get(ctx, who, id)
	if err != nil {
		return nil, err
	}
	if !who.Staff && (it.AgentID == nil || *it.AgentID != who.AgentID) {
		return nil, fmt.Errorf("interaction %d belongs to another agent: %w", id, ErrForbidden)
	}
	if it.Status == StatusClosed {
		return it, nil
	}
	if disposition != "" {
		var n int
		if err := r.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM dispositions WHERE name = ?`, disposition); err != nil {
			return nil, fmt.Errorf("router: look up disposition: %w", err)
		}
		if n == 0 {
			return nil, fieldErr("disposition", "%q is not a disposition: create it under /dispositions first", disposition)
		}
	} else {
		r.mu.Lock()
		q, err := r.queueLocked(ctx, it.QueueID)
		r.mu.Unlock()
		if err == nil && q.requireDisposition {
			return nil, fmt.Errorf("queue %s requires a disposition: close with {\"disposition\": <name>} (GET /dispositions lists them): %w",
				q.name, ErrDispositionRequired)
		}
	}
	return r.closeInteraction(ctx, id, disposition)
}

// closeInteraction closes an interaction for whoever may (the checks are
// the caller's): an agent's close, an idle one, a closing quick reply.
func (r *Router) closeInteraction(ctx context.Context, id int64, disposition string) (*Interaction, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	var cur *Interaction
	err := inTx(ctx, r.db, func(tx *sqlx.Tx) error {
		var err error
		if cur, err = readInteraction(ctx, tx, id); err != nil {
			return err
		}
		if cur.Status == StatusClosed {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE interactions SET status = ?, disposition = ?, closed_at = ?, updated_at = ?, unread = 0,
 bot_active = ? WHERE id = ? AND status <> ?`, StatusClosed, disposition, now, now, false, id, StatusClosed); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM interaction_offers WHERE interaction_id = ?`, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("router: close interaction %d: %w", id, err)
	}
	if cur.Status == StatusClosed {
		return cur, nil
	}
	if q := r.queues[cur.QueueID]; q != nil {
		q.line.remove(id)
	}
	delete(r.passed, id)
	delete(r.nextRound, id)
	var freed []*agentState
	if o := r.offers[id]; o != nil {
		delete(r.offers, id)
		for aid := range o.agents {
			a := r.agents[aid]
			a.reserved[o.channel]--
			r.pushLoadLocked(a, o.channel)
			if !o.writing { // an offer still being written was never shown
				r.publish("offer_withdrawn", aid, OfferWithdrawnEvent{InteractionID: id, Reason: ReasonClosed})
			}
			freed = append(freed, a)
		}
	}
	if cur.Status == StatusAccepted && cur.AgentID != nil {
		a := r.agentLocked(*cur.AgentID)
		a.open[cur.Channel] = max(a.open[cur.Channel]-1, 0)
		r.pushLoadLocked(a, cur.Channel)
		freed = append(freed, a)
		var handle time.Duration
		if cur.AcceptedAt != nil {
			handle = now.Sub(*cur.AcceptedAt)
		}
		r.count(*cur.AgentID, cur.Channel, presence.DigitalClosed, handle)
	}
	out, err := readInteraction(ctx, r.db, id)
	if err != nil {
		return nil, err
	}
	r.publishInteraction(out)
	for _, a := range freed {
		if err := r.routeAgentLocked(ctx, a); err != nil {
			return out, err
		}
	}
	return out, nil
}

// Reopen brings a closed interaction back: to the agent reopening it
// (accepted, counting against its capacity), or into its queue when staff
// reopen it.
func (r *Router) Reopen(ctx context.Context, who Actor, id int64) (*Interaction, error) {
	it, err := r.Get(ctx, who, id)
	if err != nil {
		return nil, err
	}
	if it.Status != StatusClosed {
		return it, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	var n int64
	if who.Staff && who.AgentID == 0 || who.Staff && (it.AgentID == nil || *it.AgentID != who.AgentID) {
		n, err = exec(ctx, r.db, `UPDATE interactions SET status = ?, agent_id = NULL, closed_at = NULL, queued_at = ?, updated_at = ?
 WHERE id = ? AND status = ?`, StatusQueued, now, now, id, StatusClosed)
	} else {
		n, err = exec(ctx, r.db, `UPDATE interactions SET status = ?, agent_id = ?, closed_at = NULL, accepted_at = ?, updated_at = ?
 WHERE id = ? AND status = ?`, StatusAccepted, who.AgentID, now, now, id, StatusClosed)
	}
	if err != nil {
		return nil, fmt.Errorf("router: reopen interaction %d: %w", id, err)
	}
	out, err := readInteraction(ctx, r.db, id)
	if err != nil {
		return nil, err
	}
	if n == 1 {
		if out.Status == StatusQueued {
			if q, err := r.queueLocked(ctx, out.QueueID); err == nil {
				q.line.add(out.ID, out.Priority, out.QueuedAt)
				defer func() { _ = r.dispatchLocked(ctx, q) }()
			}
		} else {
			a := r.agentLocked(who.AgentID)
			a.open[out.Channel]++
			r.pushLoadLocked(a, out.Channel)
		}
		r.publishInteraction(out)
	}
	return out, nil
}

// AddNote stores an internal note; agents never show notes to customers.
func (r *Router) AddNote(ctx context.Context, who Actor, id int64, body string) (*Note, error) {
	if strings.TrimSpace(body) == "" {
		return nil, fieldErr("body", "is required")
	}
	if len(body) > MaxBody {
		return nil, fmt.Errorf("body is %d bytes, over %d: %w", len(body), MaxBody, ErrTooLarge)
	}
	if _, err := r.Get(ctx, who, id); err != nil {
		return nil, err
	}
	n := &Note{InteractionID: id, Body: body, CreatedAt: r.now()}
	if who.AgentID != 0 {
		n.AgentID = &who.AgentID
	}
	res, err := r.db.ExecContext(ctx, `INSERT INTO interaction_notes (interaction_id, agent_id, body, created_at) VALUES (?, ?, ?, ?)`,
		id, n.AgentID, body, n.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("router: store note on interaction %d: %w", id, err)
	}
	n.ID, _ = res.LastInsertId()
	return n, nil
}

// Notes lists an interaction's notes, oldest first.
func (r *Router) Notes(ctx context.Context, who Actor, id int64) ([]*Note, error) {
	if _, err := r.Get(ctx, who, id); err != nil {
		return nil, err
	}
	out := []*Note{}
	if err := r.db.SelectContext(ctx, &out, `SELECT id, interaction_id, agent_id, body, created_at FROM interaction_notes
 WHERE interaction_id = ? ORDER BY id`, id); err != nil {
		return nil, fmt.Errorf("router: list notes of interaction %d: %w", id, err)
	}
	return out, nil
}

// SetTags replaces an interaction's tags.
func (r *Router) SetTags(ctx context.Context, who Actor, id int64, tags []string) (*Interaction, error) {
	clean := []string{}
	for i, t := range tags {
		t = strings.TrimSpace(t)
		if t == "" || len(t) > 64 {
			return nil, fieldErr(fmt.Sprintf("tags[%d]", i), "must be 1 to 64 characters")
		}
		clean = append(clean, t)
	}
	b, _ := json.Marshal(clean)
	if len(b) > 4000 {
		return nil, fieldErr("tags", "too many tags (%d bytes of JSON, at most 4000)", len(b))
	}
	if _, err := r.Get(ctx, who, id); err != nil {
		return nil, err
	}
	if _, err := r.db.ExecContext(ctx, `UPDATE interactions SET tags = ?, updated_at = ? WHERE id = ?`, string(b), r.now(), id); err != nil {
		return nil, fmt.Errorf("router: set tags of interaction %d: %w", id, err)
	}
	it, err := readInteraction(ctx, r.db, id)
	if err == nil {
		r.publishInteraction(it)
	}
	return it, err
}
