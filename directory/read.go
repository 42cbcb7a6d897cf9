package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// The read API: what presence and the realtime projection need of agents,
// their queue links and queues, in one place, so that no other package
// writes its own SELECT on users, agent_queues or cc_queues. Each read has a
// form that takes a querier, so the projection can read inside the
// directory transaction that calls it.

// AgentRef is an agent as the live components see it: who it is, how it is
// reached and whether it may log in. The full record is Agent.
type AgentRef struct {
	ID             int64  `db:"id"`
	Username       string `db:"username"`
	FullName       string `db:"full_name"`
	Typology       string `db:"typology"`
	Extension      string `db:"extension"`
	ExternalNumber string `db:"external_number"`
	Context        string `db:"context"`
	Disabled       bool   `db:"disabled"`
	Locked         bool   `db:"locked"`
	LoginInPause   bool   `db:"login_in_pause"`
}

// External reports whether the agent is reached on an outside number.
func (a AgentRef) External() bool { return a.Typology == TypologyExternal }

// QueueLink is an agent assigned to a queue, by the queue's name.
type QueueLink struct {
	AgentID   int64  `db:"user_id"`
	Queue     string `db:"queue_name"`
	Channel   string `db:"channel"`
	Penalty   int    `db:"penalty"`
	Permanent bool   `db:"permanent"`
}

// QueueRef is a queue as the live components see it.
type QueueRef struct {
	ID         int64  `db:"id"`
	Name       string `db:"name"`
	Channel    string `db:"channel"`
	Wrapuptime int    `db:"wrapuptime"`
}

// ChannelCapacity is how many interactions an agent may hold at once on a
// digital channel; 0 means unlimited.
type ChannelCapacity struct {
	AgentID  int64  `db:"user_id"`
	Channel  string `db:"channel"`
	Capacity int    `db:"capacity"`
}

const agentRefSelect = `SELECT id, username, full_name, typology, COALESCE(extension, '') AS extension,
 external_number, context, disabled, locked, login_in_pause FROM users WHERE role = 'agent'`

const queueLinkSelect = `SELECT m.user_id, q.name AS queue_name, q.channel, m.penalty, m.permanent
 FROM agent_queues m JOIN cc_queues q ON q.id = m.queue_id`

// AgentRefs lists every agent.
func (d *Directory) AgentRefs(ctx context.Context) ([]AgentRef, error) {
	var out []AgentRef
	if err := d.db.SelectContext(ctx, &out, agentRefSelect+` ORDER BY id`); err != nil {
		return nil, fmt.Errorf("directory: list agents: %w", err)
	}
	return out, nil
}

// AgentRef reads one agent; ErrNotFound when there is none.
func (d *Directory) AgentRef(ctx context.Context, id int64) (AgentRef, error) {
	return ReadAgentRef(ctx, d.db, id)
}

// ReadAgentRef is AgentRef through q (a transaction, or the database).
func ReadAgentRef(ctx context.Context, q sqlx.QueryerContext, id int64) (AgentRef, error) {
	var a AgentRef
	err := sqlx.GetContext(ctx, q, &a, agentRefSelect+` AND id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return AgentRef{}, fmt.Errorf("agent %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return AgentRef{}, fmt.Errorf("directory: read agent %d: %w", id, err)
	}
	return a, nil
}

// QueueLinks lists every agent-queue link, by queue name.
func (d *Directory) QueueLinks(ctx context.Context) ([]QueueLink, error) {
	var out []QueueLink
	if err := d.db.SelectContext(ctx, &out, queueLinkSelect+` ORDER BY q.name, m.user_id`); err != nil {
		return nil, fmt.Errorf("directory: list queue links: %w", err)
	}
	return out, nil
}

// AgentQueueLinks lists the queues one agent is linked to, by name.
func (d *Directory) AgentQueueLinks(ctx context.Context, agentID int64) ([]QueueLink, error) {
	return ReadAgentQueueLinks(ctx, d.db, agentID)
}

// ReadAgentQueueLinks is AgentQueueLinks through q.
func ReadAgentQueueLinks(ctx context.Context, q sqlx.QueryerContext, agentID int64) ([]QueueLink, error) {
	var out []QueueLink
	if err := sqlx.SelectContext(ctx, q, &out, queueLinkSelect+` WHERE m.user_id = ? ORDER BY q.name`, agentID); err != nil {
		return nil, fmt.Errorf("directory: read the queues of agent %d: %w", agentID, err)
	}
	return out, nil
}

// ReadQueueLink is the link of one agent to one queue through q. ok is
// false when the queue does not exist; a queue the agent is not linked to
// answers the queue's name and channel with present false.
func ReadQueueLink(ctx context.Context, q sqlx.QueryerContext, queueID, agentID int64) (l QueueLink, present, ok bool, err error) {
	var row struct {
		QueueLink
		Present bool `db:"present"`
	}
	err = sqlx.GetContext(ctx, q, &row, `SELECT ? AS user_id, q.name AS queue_name, q.channel,
 COALESCE(m.penalty, 0) AS penalty, COALESCE(m.permanent, 0) AS permanent,
 CASE WHEN m.user_id IS NULL THEN 0 ELSE 1 END AS present
 FROM cc_queues q LEFT JOIN agent_queues m ON m.queue_id = q.id AND m.user_id = ? WHERE q.id = ?`, agentID, agentID, queueID)
	if errors.Is(err, sql.ErrNoRows) {
		return QueueLink{}, false, false, nil
	}
	if err != nil {
		return QueueLink{}, false, false, fmt.Errorf("directory: read the link of agent %d to queue %d: %w", agentID, queueID, err)
	}
	return row.QueueLink, row.Present, true, nil
}

// QueueRefs lists every queue, voice and digital.
func (d *Directory) QueueRefs(ctx context.Context) ([]QueueRef, error) {
	var out []QueueRef
	if err := d.db.SelectContext(ctx, &out, `SELECT id, name, channel, wrapuptime FROM cc_queues ORDER BY id`); err != nil {
		return nil, fmt.Errorf("directory: list queues: %w", err)
	}
	return out, nil
}

// PauseTypeNames maps every pause type's id to its name.
func (d *Directory) PauseTypeNames(ctx context.Context) (map[int64]string, error) {
	var rows []struct {
		ID   int64  `db:"id"`
		Name string `db:"name"`
	}
	if err := d.db.SelectContext(ctx, &rows, `SELECT id, name FROM pause_types`); err != nil {
		return nil, fmt.Errorf("directory: list pause types: %w", err)
	}
	out := make(map[int64]string, len(rows))
	for _, r := range rows {
		out[r.ID] = r.Name
	}
	return out, nil
}

// ChannelCapacities lists the capacity of every agent on every digital
// channel it has settings for (agents without a row have capacity 0:
// unlimited).
func (d *Directory) ChannelCapacities(ctx context.Context) ([]ChannelCapacity, error) {
	var out []ChannelCapacity
	if err := d.db.SelectContext(ctx, &out, `SELECT user_id, channel, capacity FROM agent_channels ORDER BY user_id, channel`); err != nil {
		return nil, fmt.Errorf("directory: list channel capacities: %w", err)
	}
	return out, nil
}

// AgentChannelCapacities is ChannelCapacities for one agent.
func (d *Directory) AgentChannelCapacities(ctx context.Context, agentID int64) ([]ChannelCapacity, error) {
	var out []ChannelCapacity
	if err := d.db.SelectContext(ctx, &out, `SELECT user_id, channel, capacity FROM agent_channels WHERE user_id = ? ORDER BY channel`, agentID); err != nil {
		return nil, fmt.Errorf("directory: read the channel capacities of agent %d: %w", agentID, err)
	}
	return out, nil
}

// AgentIDByExtension is the id of the agent with this internal extension;
// ErrNotFound when there is none.
func (d *Directory) AgentIDByExtension(ctx context.Context, ext string) (int64, error) {
	var id int64
	err := d.db.GetContext(ctx, &id, `SELECT id FROM users WHERE extension = ? AND role = ?`, ext, RoleAgent)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("agent with extension %q: %w", ext, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("directory: find the agent with extension %q: %w", ext, err)
	}
	return id, nil
}

// MaskSensitiveData reports whether the user (of any role) sees personal
// data masked; an unknown user does not.
func (d *Directory) MaskSensitiveData(ctx context.Context, userID int64) (bool, error) {
	var mask bool
	err := d.db.GetContext(ctx, &mask, `SELECT mask_sensitive_data FROM users WHERE id = ?`, userID)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return mask, err
}
