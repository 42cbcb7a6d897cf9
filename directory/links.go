package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// LinkKind is one agent↔resource association table.
type LinkKind struct {
	table  string // agent_teams
	column string // team_id
	target string // teams
	entity string // team
}

// The plain associations; queues carry a penalty and have their own calls.
var (
	TeamLinks        = LinkKind{"agent_teams", "team_id", "teams", "team"}
	ProfileLinks     = LinkKind{"agent_profiles", "profile_id", "profiles", "profile"}
	AIAssistantLinks = LinkKind{"agent_ai_assistants", "ai_assistant_id", "ai_assistants", "ai_assistant"}
)

// Entity is the linked resource's singular name.
func (k LinkKind) Entity() string { return k.entity }

func mustExist(ctx context.Context, tx *sqlx.Tx, table, where string, field string, id int64) error {
	var one int
	err := tx.GetContext(ctx, &one, "SELECT 1 FROM "+table+" WHERE "+where, id)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %d: %w", field, id, ErrNotFound)
	}
	return err
}

func agentExists(ctx context.Context, tx *sqlx.Tx, id int64) error {
	var role string
	err := tx.GetContext(ctx, &role, "SELECT role FROM users WHERE id = ?", id)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && role != string(RoleAgent)) {
		return fmt.Errorf("agent %d: %w", id, ErrNotFound)
	}
	return err
}

// Link associates an agent with a resource; linking twice is a no-op.
func (d *Directory) Link(ctx context.Context, k LinkKind, agentID, targetID int64) error {
	return d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := agentExists(ctx, tx, agentID); err != nil {
			return err
		}
		if err := mustExist(ctx, tx, k.target, "id = ?", k.entity, targetID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, d.db.InsertIgnore()+" "+k.table+" (user_id, "+k.column+") VALUES (?, ?)", agentID, targetID)
		return err
	})
}

// Unlink removes an association; removing a missing one is a no-op.
func (d *Directory) Unlink(ctx context.Context, k LinkKind, agentID, targetID int64) error {
	_, err := d.db.ExecContext(ctx, "DELETE FROM "+k.table+" WHERE user_id = ? AND "+k.column+" = ?", agentID, targetID)
	return err
}

// SetAgentLinks makes the agent's associations exactly targetIDs.
func (d *Directory) SetAgentLinks(ctx context.Context, k LinkKind, agentID int64, targetIDs []int64) error {
	return d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := agentExists(ctx, tx, agentID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+k.table+" WHERE user_id = ?", agentID); err != nil {
			return err
		}
		for _, id := range dedupe(targetIDs) {
			if err := mustExist(ctx, tx, k.target, "id = ?", k.entity, id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO "+k.table+" (user_id, "+k.column+") VALUES (?, ?)", agentID, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetLinkedAgents makes the resource's agents exactly agentIDs — the same
// association edited from the resource's side.
func (d *Directory) SetLinkedAgents(ctx context.Context, k LinkKind, targetID int64, agentIDs []int64) error {
	return d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := mustExist(ctx, tx, k.target, "id = ?", k.entity, targetID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+k.table+" WHERE "+k.column+" = ?", targetID); err != nil {
			return err
		}
		for _, id := range dedupe(agentIDs) {
			if err := agentExists(ctx, tx, id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO "+k.table+" (user_id, "+k.column+") VALUES (?, ?)", id, targetID); err != nil {
				return err
			}
		}
		return nil
	})
}

// LinkedTargets lists the ids an agent is associated with.
func (d *Directory) LinkedTargets(ctx context.Context, k LinkKind, agentID int64) ([]int64, error) {
	ids := []int64{}
	err := d.db.SelectContext(ctx, &ids, "SELECT "+k.column+" FROM "+k.table+" WHERE user_id = ? ORDER BY "+k.column, agentID)
	return ids, err
}

// LinkedAgents lists the agents associated with a resource.
func (d *Directory) LinkedAgents(ctx context.Context, k LinkKind, targetID int64) ([]int64, error) {
	ids := []int64{}
	err := d.db.SelectContext(ctx, &ids, "SELECT user_id FROM "+k.table+" WHERE "+k.column+" = ? ORDER BY user_id", targetID)
	return ids, err
}

func dedupe(ids []int64) []int64 {
	seen := make(map[int64]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// Membership links an agent to a queue. A permanent member is a static
// member in Asterisk's queue_members; the others join when they log in.
type Membership struct {
	QueueID   int64  `json:"queue_id" db:"queue_id"`
	AgentID   int64  `json:"agent_id" db:"user_id"`
	Penalty   int    `json:"penalty" db:"penalty"`
	Permanent bool   `json:"permanent" db:"permanent"`
	QueueName string `json:"queue_name" db:"queue_name"`
	Channel   string `json:"channel" db:"channel"`
	Username  string `json:"username" db:"username"`
}

// MembershipInput is one link to write.
type MembershipInput struct {
	QueueID   int64 `json:"queue_id"`
	AgentID   int64 `json:"agent_id"`
	Penalty   int   `json:"penalty"`
	Permanent bool  `json:"permanent"`
}

func (m MembershipInput) validate() error {
	if m.Penalty < 0 || m.Penalty > 1000 {
		return fieldErr("penalty", "%d must be between 0 and 1000", m.Penalty)
	}
	return nil
}

// upsertMember writes one link; only voice queues have Asterisk members, so
// only they can have permanent ones.
func (d *Directory) upsertMember(ctx context.Context, tx *sqlx.Tx, m MembershipInput) error {
	if err := m.validate(); err != nil {
		return err
	}
	if err := agentExists(ctx, tx, m.AgentID); err != nil {
		return err
	}
	q, err := d.queue(ctx, tx, m.QueueID)
	if err != nil {
		return err
	}
	if m.Permanent && q.Channel != ChannelVoice {
		return fieldErr("permanent", "only members of voice queues can be permanent (queue %q is %s)", q.Name, q.Channel)
	}
	res, err := tx.ExecContext(ctx, `UPDATE agent_queues SET penalty = ?, permanent = ? WHERE user_id = ? AND queue_id = ?`,
		m.Penalty, m.Permanent, m.AgentID, m.QueueID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO agent_queues (user_id, queue_id, penalty, permanent) VALUES (?, ?, ?, ?)`,
			m.AgentID, m.QueueID, m.Penalty, m.Permanent); err != nil {
			return err
		}
	}
	return d.opts.Projector.MembershipChanged(ctx, tx, m.QueueID, m.AgentID)
}

// AddQueueMember links (or relinks with new settings) an agent to a queue.
func (d *Directory) AddQueueMember(ctx context.Context, m MembershipInput) error {
	if err := d.db.InTx(ctx, func(tx *sqlx.Tx) error { return d.upsertMember(ctx, tx, m) }); err != nil {
		return err
	}
	d.notify(Change{Entity: "membership", Op: "update", ID: m.AgentID, QueueID: m.QueueID})
	return nil
}

// RemoveQueueMember unlinks an agent from a queue; a missing link is a no-op.
func (d *Directory) RemoveQueueMember(ctx context.Context, queueID, agentID int64) error {
	err := d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM agent_queues WHERE user_id = ? AND queue_id = ?`, agentID, queueID); err != nil {
			return err
		}
		return d.opts.Projector.MembershipChanged(ctx, tx, queueID, agentID)
	})
	if err != nil {
		return err
	}
	d.notify(Change{Entity: "membership", Op: "delete", ID: agentID, QueueID: queueID})
	return nil
}

// SetAgentQueues makes the agent's queues exactly ms (AgentID is taken from agentID).
func (d *Directory) SetAgentQueues(ctx context.Context, agentID int64, ms []MembershipInput) error {
	var changed []Change
	err := d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := agentExists(ctx, tx, agentID); err != nil {
			return err
		}
		var old []int64
		if err := tx.SelectContext(ctx, &old, `SELECT queue_id FROM agent_queues WHERE user_id = ?`, agentID); err != nil {
			return err
		}
		keep := map[int64]bool{}
		for _, m := range ms {
			m.AgentID = agentID
			if err := d.upsertMember(ctx, tx, m); err != nil {
				return err
			}
			keep[m.QueueID] = true
			changed = append(changed, Change{Entity: "membership", Op: "update", ID: agentID, QueueID: m.QueueID})
		}
		for _, q := range old {
			if keep[q] {
				continue
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM agent_queues WHERE user_id = ? AND queue_id = ?`, agentID, q); err != nil {
				return err
			}
			if err := d.opts.Projector.MembershipChanged(ctx, tx, q, agentID); err != nil {
				return err
			}
			changed = append(changed, Change{Entity: "membership", Op: "delete", ID: agentID, QueueID: q})
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.notify(changed...)
	return nil
}

// SetQueueAgents makes the queue's members exactly ms (QueueID is taken from queueID).
func (d *Directory) SetQueueAgents(ctx context.Context, queueID int64, ms []MembershipInput) error {
	var changed []Change
	err := d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := d.queue(ctx, tx, queueID); err != nil {
			return err
		}
		var old []int64
		if err := tx.SelectContext(ctx, &old, `SELECT user_id FROM agent_queues WHERE queue_id = ?`, queueID); err != nil {
			return err
		}
		keep := map[int64]bool{}
		for _, m := range ms {
			m.QueueID = queueID
			if err := d.upsertMember(ctx, tx, m); err != nil {
				return err
			}
			keep[m.AgentID] = true
			changed = append(changed, Change{Entity: "membership", Op: "update", ID: m.AgentID, QueueID: queueID})
		}
		for _, a := range old {
			if keep[a] {
				continue
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM agent_queues WHERE user_id = ? AND queue_id = ?`, a, queueID); err != nil {
				return err
			}
			if err := d.opts.Projector.MembershipChanged(ctx, tx, queueID, a); err != nil {
				return err
			}
			changed = append(changed, Change{Entity: "membership", Op: "delete", ID: a, QueueID: queueID})
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.notify(changed...)
	return nil
}

const membershipSelect = `SELECT m.queue_id, m.user_id, m.penalty, m.permanent, q.name AS queue_name, q.channel, u.username
 FROM agent_queues m JOIN cc_queues q ON q.id = m.queue_id JOIN users u ON u.id = m.user_id`

// AgentQueues lists an agent's queue links.
func (d *Directory) AgentQueues(ctx context.Context, agentID int64) ([]Membership, error) {
	out := []Membership{}
	err := d.db.SelectContext(ctx, &out, membershipSelect+` WHERE m.user_id = ? ORDER BY q.name`, agentID)
	return out, err
}

// QueueMembers lists a queue's agent links.
func (d *Directory) QueueMembers(ctx context.Context, queueID int64) ([]Membership, error) {
	out := []Membership{}
	err := d.db.SelectContext(ctx, &out, membershipSelect+` WHERE m.queue_id = ? ORDER BY u.username`, queueID)
	return out, err
}

// QueueMember is one agent's link to one queue.
func (d *Directory) QueueMember(ctx context.Context, queueID, agentID int64) (*Membership, error) {
	var m Membership
	err := d.db.GetContext(ctx, &m, membershipSelect+` WHERE m.queue_id = ? AND m.user_id = ?`, queueID, agentID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("agent %d in queue %d: %w", agentID, queueID, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// QueueMembersTx is QueueMembers inside a caller's transaction, for the projector.
func QueueMembersTx(ctx context.Context, tx *sqlx.Tx, queueID int64) ([]Membership, error) {
	out := []Membership{}
	err := tx.SelectContext(ctx, &out, membershipSelect+` WHERE m.queue_id = ? ORDER BY u.username`, queueID)
	return out, err
}
