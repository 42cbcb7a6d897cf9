package webchat

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"omnicc/router"
)

// MessageView is a message as the visitor sees it: no agent id, no
// delivery error, the agent named by alias.
type MessageView struct {
	Seq         int64     `json:"seq"`
	Direction   string    `json:"direction"`
	Body        string    `json:"body"`
	Attachments []string  `json:"attachments"`
	ClientID    string    `json:"client_id,omitempty"`
	Status      string    `json:"status"`
	Agent       *Agent    `json:"agent,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

func (c *Connector) view(ctx context.Context, m *router.Message) MessageView {
	v := MessageView{Seq: m.Seq, Direction: m.Direction, Body: m.Body, Attachments: m.Attachments, Status: m.Status, CreatedAt: m.CreatedAt}
	if v.Attachments == nil {
		v.Attachments = []string{}
	}
	// The visitor's own client ids are stored as the message's external id.
	if m.Direction == router.DirectionIn && m.ExternalID != nil {
		v.ClientID = *m.ExternalID
	}
	if m.Direction == router.DirectionOut && m.AgentID != nil {
		v.Agent = &Agent{Name: c.agentName(ctx, *m.AgentID)}
	}
	if m.Direction == router.DirectionOut && m.Status == router.MessageFailed {
		v.Status = router.MessageSent // the visitor has it: it is on this page
	}
	return v
}

// agentNameTTL bounds how long an agent's alias is cached.
const agentNameTTL = time.Minute

// agentName is the name a visitor sees: the alias, else the full name,
// never the username.
func (c *Connector) agentName(ctx context.Context, id int64) string {
	c.mu.Lock()
	n, ok := c.names[id]
	c.mu.Unlock()
	if ok && c.o.Clock.Now().Sub(n.at) < agentNameTTL {
		return n.name
	}
	name := "Agent"
	if a, err := c.o.Directory.Agent(ctx, id); err == nil {
		switch {
		case strings.TrimSpace(a.Alias) != "":
			name = strings.TrimSpace(a.Alias)
		case strings.TrimSpace(a.FullName) != "":
			name = strings.TrimSpace(a.FullName)
		}
	}
	c.mu.Lock()
	c.names[id] = agentName{name: name, at: c.o.Clock.Now()}
	c.mu.Unlock()
	return name
}

// History is the visitor's conversation after seq afterSeq, in order.
func (c *Connector) History(ctx context.Context, v *Visitor, afterSeq int64) ([]MessageView, *Conversation, error) {
	it, err := c.interaction(ctx, v)
	if err != nil {
		return nil, nil, err
	}
	if it == nil {
		return []MessageView{}, &Conversation{Status: "new"}, nil
	}
	c.track(it.ID, v.key())
	ms, err := c.o.Router.Messages(ctx, router.Actor{Staff: true}, it.ID, max(afterSeq, 0))
	if err != nil {
		return nil, nil, err
	}
	out := make([]MessageView, 0, len(ms))
	for _, m := range ms {
		out = append(out, c.view(ctx, m))
	}
	conv, err := c.conversationOf(ctx, it)
	return out, conv, err
}

// SendInput is a visitor's message.
type SendInput struct {
	ClientID    string   `json:"client_id"`
	Body        string   `json:"body"`
	Attachments []string `json:"attachments"`
}

// Send stores a visitor's message through the router; the same client id
// again stores nothing new (fresh false) and answers the first one.
// Queue position, "no agent" and offline-hours notices follow as stored
// system messages.
func (c *Connector) Send(ctx context.Context, v *Visitor, in SendInput) (MessageView, bool, error) {
	if err := validateSend(in); err != nil {
		return MessageView{}, false, err
	}
	if !c.allowHTTP(v.key()) {
		return MessageView{}, false, ErrRate
	}
	for i, a := range in.Attachments {
		if err := c.ownFile(ctx, v, a); err != nil {
			return MessageView{}, false, fieldErr("attachments["+strconv.Itoa(i)+"]", "%q is not a file this visitor uploaded", a)
		}
	}
	p := c.profile(ctx, v)
	it, m, fresh, err := c.o.Router.Receive(ctx, router.Inbound{Channel: Channel, Account: v.account(), Customer: v.customer(),
		CustomerName: p.Name, QueueID: v.Website.QueueID, Body: in.Body, Attachments: in.Attachments, ExternalID: in.ClientID})
	if err != nil {
		return MessageView{}, false, err
	}
	c.track(it.ID, v.key())
	if fresh && it.ContactID == nil && p.ContactID != nil {
		if _, err := c.o.Router.LinkContact(ctx, it.ID, *p.ContactID); err != nil {
			c.o.Logger.Warn("webchat: link the identified visitor's contact", "interaction", it.ID, "err", err)
		}
	}
	if fresh {
		c.notices(ctx, v, it)
	}
	c.notify(v.key())
	return c.view(ctx, m), fresh, nil
}

// notices stores the system messages a waiting visitor must see, once per
// time the conversation is queued (their client ids carry queued_at).
func (c *Connector) notices(ctx context.Context, v *Visitor, it *router.Interaction) {
	if it.AgentID != nil || (it.Status != router.StatusQueued && it.Status != router.StatusOffered) {
		return
	}
	episode := strconv.FormatInt(it.QueuedAt.UnixMicro(), 10)
	var body, id string
	switch {
	case !c.open(ctx, v.Website):
		body, id = v.Website.OfflineMessage, "offline:"+episode
		if body == "" {
			body = "We are closed right now. Leave your message and we will answer when we are back."
		}
	case !c.agentsOnline(ctx, v.Website.QueueID):
		body, id = "No agent is available right now. Leave your message: we will answer as soon as one is back.", "no_agent:"+episode
	default:
		if pos, ok := c.o.Router.QueuePosition(it.ID); ok {
			body, id = fmt.Sprintf("You are number %d in the queue. An agent will be with you shortly.", pos), "queued:"+episode
		} else {
			body, id = "An agent will be with you shortly.", "queued:"+episode
		}
	}
	if _, _, err := c.o.Router.AddSystemMessage(ctx, it.ID, body, id); err != nil {
		c.o.Logger.Warn("webchat: store a notice", "interaction", it.ID, "err", err)
	}
}

// agentsOnline reports whether any member of the queue is logged in and
// not paused on chat.
func (c *Connector) agentsOnline(ctx context.Context, queueID int64) bool {
	if c.o.Presence == nil {
		return true
	}
	q, err := c.o.Directory.Queue(ctx, queueID)
	if err != nil {
		return true
	}
	links, err := c.o.Directory.QueueLinks(ctx)
	if err != nil {
		return true
	}
	for _, l := range links {
		if l.Queue == q.Name && c.o.Presence.Available(l.AgentID, Channel) {
			return true
		}
	}
	return false
}

// Typing tells the interaction's agent the visitor is typing (never
// stored).
func (c *Connector) Typing(ctx context.Context, v *Visitor) {
	it, err := c.interaction(ctx, v)
	if err != nil || it == nil || it.AgentID == nil {
		return
	}
	c.o.Router.Publish("typing", it, TypingEvent{InteractionID: it.ID, From: "visitor"})
}

// TypingEvent is the agent websocket's "typing" event.
type TypingEvent struct {
	InteractionID int64  `json:"interaction_id"`
	From          string `json:"from"`
}

// AgentTyping shows the visitor that the agent is typing.
func (c *Connector) AgentTyping(ctx context.Context, it *router.Interaction) error {
	if it.Channel != Channel {
		return fieldErr("interaction_id", "interaction %d is a %s conversation: only web chat shows typing", it.ID, it.Channel)
	}
	name := ""
	if it.AgentID != nil {
		name = c.agentName(ctx, *it.AgentID)
	}
	c.mu.Lock()
	key := c.byInter[it.ID]
	c.mu.Unlock()
	if key == "" {
		key = it.Account + "/" + strings.TrimPrefix(it.Customer, "visitor:")
	}
	// Through the bus, so the visitor's socket gets it on whichever
	// instance it sits (observe pushes it, here and there).
	c.o.Router.Publish(agentTypingEvent, it, agentTyping{Key: key, Name: name})
	return nil
}

// agentTypingEvent carries an agent's typing to the visitor's socket on any
// instance; "internal." keeps it off the agents' websockets.
const agentTypingEvent = "internal.chat_agent_typing"

type agentTyping struct {
	Key  string `json:"key"`
	Name string `json:"name"`
}

// Ack records that the visitor's page received (delivered) or showed
// (read) the agent's messages up to seq.
func (c *Connector) Ack(ctx context.Context, v *Visitor, seq int64, read bool) error {
	it, err := c.interaction(ctx, v)
	if err != nil || it == nil {
		return err
	}
	status, from := StatusDelivered, []string{router.MessagePending, router.MessageSent, router.MessageFailed}
	if read {
		status, from = StatusRead, append(from, StatusDelivered)
	}
	var ids []int64
	q := `SELECT id FROM interaction_messages WHERE interaction_id = ? AND direction = ? AND seq <= ? AND status IN (?` +
		strings.Repeat(", ?", len(from)-1) + `) ORDER BY seq LIMIT 100`
	args := []any{it.ID, router.DirectionOut, seq}
	for _, s := range from {
		args = append(args, s)
	}
	if err := c.o.DB.SelectContext(ctx, &ids, q, args...); err != nil {
		return fmt.Errorf("webchat: ack of interaction %d: %w", it.ID, err)
	}
	for _, id := range ids {
		if err := c.o.Router.SetMessageStatus(ctx, id, status, ""); err != nil {
			return err
		}
	}
	return nil
}

// Deliver is the router's sender for web chat: the reply is stored, so
// it is sent as far as the server goes, and the visitor's sockets are only
// told to read on; a visitor with no socket open reads it from the
// database on its next visit. It records "sent" itself before any socket
// can see the message, so a quick "delivered" from the page is never
// overwritten by the router's own "sent".
func (c *Connector) Deliver(ctx context.Context, out router.Outbound) error {
	if err := c.o.Router.SetMessageStatus(ctx, out.MessageID, router.MessageSent, ""); err != nil {
		return err
	}
	key := out.Account + "/" + strings.TrimPrefix(out.Customer, "visitor:")
	c.track(out.InteractionID, key)
	c.notify(key)
	return router.ErrDeferred
}

// RouterSender adapts the connector to router.Sender.
type RouterSender struct{ Connector *Connector }

// Send implements router.Sender.
func (s RouterSender) Send(ctx context.Context, out router.Outbound) error {
	return s.Connector.Deliver(ctx, out)
}

// The delivery statuses a visitor's page reports for agents' messages.
const (
	StatusDelivered = "delivered"
	StatusRead      = "read"
)

// allowHTTP rate-limits a visitor's sends across its sockets and HTTP
// calls together.
func (c *Connector) allowHTTP(key string) bool {
	now := c.o.Clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buckets) > 100000 {
		clear(c.buckets) // a flood of visitors: forget, rather than grow
	}
	b := c.buckets[key]
	if b == nil {
		b = newBucket(c.lim.MessagesPerSecond, c.lim.Burst, now)
		c.buckets[key] = b
	}
	return b.take(now)
}
