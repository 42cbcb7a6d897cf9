package router

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Filter selects interactions for a list (the SPEC's query parameters).
type Filter struct {
	Status    string
	Channel   string
	QueueID   int64
	AgentID   int64
	ContactID int64
	Tag       string
	Unread    bool
	From, To  time.Time
	Q         string
	Limit     int
	Offset    int
}

var statuses = []string{StatusQueued, StatusOffered, StatusAccepted, StatusClosed}

// List answers the interactions the actor may see that match f, newest
// first, with the total before paging. An agent sees its own and the
// waiting ones of its queues; staff see all.
func (r *Router) List(ctx context.Context, who Actor, f Filter) ([]*Interaction, int, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if f.Status != "" {
		if !slices.Contains(statuses, f.Status) {
			return nil, 0, fieldErr("status", "%q is not one of %s", f.Status, strings.Join(statuses, ", "))
		}
		add("status = ?", f.Status)
	}
	if f.Channel != "" {
		add("channel = ?", f.Channel)
	}
	if f.QueueID != 0 {
		add("queue_id = ?", f.QueueID)
	}
	if f.AgentID != 0 {
		add("agent_id = ?", f.AgentID)
	}
	if f.ContactID != 0 {
		add("contact_id = ?", f.ContactID)
	}
	if f.Tag != "" {
		// Tags are a JSON array of strings; the quoted form matches one tag
		// whole, on both engines, without JSON functions.
		add("tags LIKE ? ESCAPE '!'", "%"+likeEscape(jsonString(f.Tag))+"%")
	}
	if f.Unread {
		add("unread > 0")
	}
	if !f.From.IsZero() {
		add("created_at >= ?", stamp(f.From))
	}
	if !f.To.IsZero() {
		add("created_at < ?", stamp(f.To))
	}
	if f.Q != "" {
		p := "%" + likeEscape(f.Q) + "%"
		add("(customer LIKE ? ESCAPE '!' OR customer_name LIKE ? ESCAPE '!')", p, p)
	}
	if !who.Staff {
		r.mu.Lock()
		var qs []int64
		if a := r.agents[who.AgentID]; a != nil {
			qs = slices.Clone(a.queues)
		}
		r.mu.Unlock()
		cond := "agent_id = ?"
		args2 := []any{who.AgentID}
		if len(qs) > 0 {
			cond += " OR (status IN (?, ?) AND queue_id IN (?" + strings.Repeat(", ?", len(qs)-1) + "))"
			args2 = append(args2, StatusQueued, StatusOffered)
			for _, q := range qs {
				args2 = append(args2, q)
			}
		}
		add("("+cond+")", args2...)
	}
	w := ""
	if len(where) > 0 {
		w = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := r.db.GetContext(ctx, &total, `SELECT COUNT(*) FROM interactions`+w, args...); err != nil {
		return nil, 0, fmt.Errorf("router: count interactions: %w", err)
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	out := []*Interaction{}
	if err := r.db.SelectContext(ctx, &out, interactionSelect+w+` ORDER BY id DESC LIMIT ? OFFSET ?`,
		append(args, f.Limit, max(f.Offset, 0))...); err != nil {
		return nil, 0, fmt.Errorf("router: list interactions: %w", err)
	}
	for _, it := range out {
		it.decode()
	}
	return out, total, nil
}

func jsonString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// likeEscape quotes LIKE's wildcards with '!', an escape character both
// engines take in an ESCAPE clause (a backslash means different things to
// MySQL's string literals and SQLite's).
func likeEscape(s string) string {
	return strings.NewReplacer(`!`, `!!`, `%`, `!%`, `_`, `!_`).Replace(s)
}

// QueueWaiting is one queue of an agent's dashboard.
type QueueWaiting struct {
	QueueID int64  `json:"queue_id"`
	Name    string `json:"name"`
	Channel string `json:"channel"`
	Waiting int    `json:"waiting"`
}

// Dashboard is an agent's digital work at a glance.
type Dashboard struct {
	Queues []QueueWaiting `json:"queues"`
	Open   int            `json:"open"`
	Unread int            `json:"unread"`
}

// Dashboard answers the waiting count of each digital queue of the agent
// (from the in-memory lines: no scan) and its open and unread totals.
func (r *Router) Dashboard(ctx context.Context, agentID int64) (*Dashboard, error) {
	d := &Dashboard{Queues: []QueueWaiting{}}
	r.mu.Lock()
	if a := r.agents[agentID]; a != nil {
		for _, id := range a.queues {
			if q := r.queues[id]; q != nil {
				d.Queues = append(d.Queues, QueueWaiting{QueueID: q.id, Name: q.name, Channel: q.channel, Waiting: q.line.Len()})
			}
		}
	}
	r.mu.Unlock()
	var row struct {
		Open   int           `db:"open"`
		Unread sql.NullInt64 `db:"unread"`
	}
	if err := r.db.GetContext(ctx, &row, `SELECT COUNT(*) AS open, SUM(unread) AS unread FROM interactions
 WHERE agent_id = ? AND status = ?`, agentID, StatusAccepted); err != nil {
		return nil, fmt.Errorf("router: dashboard of agent %d: %w", agentID, err)
	}
	d.Open, d.Unread = row.Open, int(row.Unread.Int64)
	return d, nil
}

// Disposition is an outcome an agent may close an interaction with.
type Disposition struct {
	ID          int64     `json:"id" db:"id"`
	Name        string    `json:"name" db:"name"`
	Description string    `json:"description" db:"description"`
	CreatedAt   time.Time `json:"created_at" db:"created_at"`
	UpdatedAt   time.Time `json:"updated_at" db:"updated_at"`
}

// DispositionInput creates or partly updates a disposition.
type DispositionInput struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

const dispositionSelect = `SELECT id, name, description, created_at, updated_at FROM dispositions`

// Dispositions lists the dispositions by name.
func (r *Router) Dispositions(ctx context.Context) ([]*Disposition, error) {
	out := []*Disposition{}
	if err := r.db.SelectContext(ctx, &out, dispositionSelect+` ORDER BY name`); err != nil {
		return nil, fmt.Errorf("router: list dispositions: %w", err)
	}
	return out, nil
}

// Disposition reads one.
func (r *Router) Disposition(ctx context.Context, id int64) (*Disposition, error) {
	var d Disposition
	err := r.db.GetContext(ctx, &d, dispositionSelect+` WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("disposition %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("router: read disposition %d: %w", id, err)
	}
	return &d, nil
}

func (in DispositionInput) apply(d *Disposition) error {
	if in.Name != nil {
		d.Name = strings.TrimSpace(*in.Name)
	}
	if in.Description != nil {
		d.Description = *in.Description
	}
	if d.Name == "" || len(d.Name) > 128 {
		return fieldErr("name", "must be 1 to 128 characters")
	}
	if len(d.Description) > 2000 {
		return fieldErr("description", "is longer than 2000 characters")
	}
	return nil
}

// CreateDisposition stores a new one; a name in use is a conflict.
func (r *Router) CreateDisposition(ctx context.Context, in DispositionInput) (*Disposition, error) {
	d := &Disposition{}
	if err := in.apply(d); err != nil {
		return nil, err
	}
	now := r.now()
	res, err := r.db.ExecContext(ctx, `INSERT INTO dispositions (name, description, created_at, updated_at) VALUES (?, ?, ?, ?)`,
		d.Name, d.Description, now, now)
	if err != nil {
		return nil, dispositionErr(d.Name, err)
	}
	id, _ := res.LastInsertId()
	return r.Disposition(ctx, id)
}

// UpdateDisposition changes the fields given.
func (r *Router) UpdateDisposition(ctx context.Context, id int64, in DispositionInput) (*Disposition, error) {
	d, err := r.Disposition(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := in.apply(d); err != nil {
		return nil, err
	}
	if _, err := r.db.ExecContext(ctx, `UPDATE dispositions SET name = ?, description = ?, updated_at = ? WHERE id = ?`,
		d.Name, d.Description, r.now(), id); err != nil {
		return nil, dispositionErr(d.Name, err)
	}
	return r.Disposition(ctx, id)
}

// DeleteDisposition removes one; closed interactions keep its name.
func (r *Router) DeleteDisposition(ctx context.Context, id int64) error {
	n, err := exec(ctx, r.db, `DELETE FROM dispositions WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("router: delete disposition %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("disposition %d: %w", id, ErrNotFound)
	}
	return nil
}

func dispositionErr(name string, err error) error {
	if isUnique(err) {
		return fmt.Errorf("name: a disposition named %q exists: %w", name, ErrConflict)
	}
	return fmt.Errorf("router: store disposition: %w", err)
}
