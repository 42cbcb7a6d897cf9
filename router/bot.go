package router

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
)

// Bot is an AI assistant answering a digital queue's new conversations
// before agents do: the assistant package calls its webhook.
type Bot interface {
	Ask(ctx context.Context, assistantID int64, turn BotTurn) (BotAnswer, error)
}

// BotTurn is one customer message handed to the assistant.
type BotTurn struct {
	InteractionID int64    `json:"interaction_id"`
	Channel       string   `json:"channel"`
	Customer      string   `json:"customer"`
	CustomerName  string   `json:"customer_name"`
	Message       *Message `json:"message"`
}

// BotAnswer is what the assistant answers: messages for the customer, and
// whether agents take over now.
type BotAnswer struct {
	Replies []string `json:"replies"`
	Handoff bool     `json:"handoff"`
	Reason  string   `json:"reason"`
}

// SetBot gives the router the AI assistants' webhook client; call it
// before Run. Without one, queues naming an assistant route to agents.
func (r *Router) SetBot(b Bot) { r.bot = b }

// botFirst starts a new conversation of a queue with an assistant on the
// bot: it stays queued, out of the agents' line, while the bot answers.
func (r *Router) botFirst(ctx context.Context, assistantID int64, it *Interaction, m *Message) (*Interaction, error) {
	if _, err := r.db.ExecContext(ctx, `UPDATE interactions SET bot_active = ? WHERE id = ? AND status = ?`, true, it.ID, StatusQueued); err != nil {
		return it, fmt.Errorf("router: hand interaction %d to the assistant: %w", it.ID, err)
	}
	it.Bot = true
	r.publishInteraction(it)
	return r.askBot(ctx, assistantID, it, m)
}

// askBot hands one customer message to the assistant, sends its replies
// and hands the conversation to agents on its handoff, its failure or its
// timeout — the transcript stays, agents read it all.
func (r *Router) askBot(ctx context.Context, assistantID int64, it *Interaction, m *Message) (*Interaction, error) {
	ans, err := r.bot.Ask(ctx, assistantID, BotTurn{InteractionID: it.ID, Channel: it.Channel, Customer: it.Customer,
		CustomerName: it.CustomerName, Message: m})
	if err != nil {
		r.log.Warn("router: the assistant failed; agents take over", "interaction", it.ID, "assistant", assistantID, "err", err)
		return r.handoff(ctx, it.ID, "the assistant did not answer")
	}
	for _, body := range ans.Replies {
		if strings.TrimSpace(body) == "" || len(body) > MaxBody {
			continue
		}
		out := &Message{InteractionID: it.ID, Direction: DirectionOut, Body: body, Status: MessagePending, CreatedAt: r.now()}
		if err := inTx(ctx, r.db, func(tx *sqlx.Tx) error { return insertMessage(ctx, tx, out) }); err != nil {
			return it, fmt.Errorf("router: store the assistant's reply on interaction %d: %w", it.ID, err)
		}
		sent := *out
		r.publish("message", 0, MessageEvent{InteractionID: it.ID, Message: &sent})
		r.deliver(ctx, it, out, nil)
	}
	if ans.Handoff {
		reason := ans.Reason
		if reason == "" {
			reason = "the assistant handed over"
		}
		return r.handoff(ctx, it.ID, reason)
	}
	return readInteraction(ctx, r.db, it.ID)
}

// handoff takes a conversation from the assistant and puts it in its
// queue's line for agents, with a system message saying why.
func (r *Router) handoff(ctx context.Context, id int64, reason string) (*Interaction, error) {
	now := r.now()
	if len(reason) > 500 {
		reason = reason[:500]
	}
	moved := false
	err := inTx(ctx, r.db, func(tx *sqlx.Tx) error {
		n, err := exec(ctx, tx, `UPDATE interactions SET bot_active = ?, queued_at = ?, updated_at = ? WHERE id = ? AND bot_active = ? AND status = ?`,
			false, now, now, id, true, StatusQueued)
		if err != nil || n == 0 {
			return err
		}
		moved = true
		return insertMessage(ctx, tx, &Message{InteractionID: id, Direction: DirectionSystem, Status: MessageReceived,
			Body: "Handed to agents: " + reason, CreatedAt: now})
	})
	if err != nil {
		return nil, fmt.Errorf("router: hand interaction %d to agents: %w", id, err)
	}
	it, err := readInteraction(ctx, r.db, id)
	if err != nil || !moved {
		return it, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	q, err := r.queueLocked(ctx, it.QueueID)
	if err != nil {
		return it, err
	}
	q.line.add(it.ID, it.Priority, it.QueuedAt)
	r.publishInteraction(it)
	if err := r.dispatchLocked(ctx, q); err != nil {
		return it, err
	}
	return readInteraction(ctx, r.db, id)
}

// botQueue is the assistant of a queue, 0 when it has none or no bot is
// wired.
func (r *Router) botQueue(ctx context.Context, queueID int64) int64 {
	if r.bot == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	q, err := r.queueLocked(ctx, queueID)
	if err != nil {
		return 0
	}
	return q.assistant
}
