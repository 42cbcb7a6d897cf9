package contacts

import (
	"context"
	"fmt"
	"slices"
	"time"

	"omnicc/directory"
)

// JourneyEntry is one interaction of a contact: a call from the call log or
// an interaction of the router (chat, WhatsApp, …).
type JourneyEntry struct {
	Kind      string    `json:"kind"` // call or interaction
	ID        int64     `json:"id"`
	Channel   string    `json:"channel"`
	Direction string    `json:"direction,omitempty"`
	Status    string    `json:"status,omitempty"`
	At        time.Time `json:"at"`
	Link      string    `json:"link"`
}

// Journey lists a contact's calls and interactions, newest first. Calls are
// found by the contact id the routing path logged and by the contact's
// numbers (as caller, or as the number an outbound call dialled), so calls
// logged before the contact existed belong to it too. Interactions are read
// only once the router's table exists.
func (m *Manager) Journey(ctx context.Context, id int64, page, perPage int) ([]JourneyEntry, int, error) {
	c, err := m.Get(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	if perPage <= 0 {
		perPage = 50
	}
	if perPage > directory.MaxPerPage {
		return nil, 0, fieldErr("per_page", "must be at most %d", directory.MaxPerPage)
	}
	if page <= 0 {
		page = 1
	}
	want := page * perPage
	numbers := []string{}
	for _, n := range []string{c.Phone, c.Mobile, m.plan.Normalize(c.Phone), m.plan.Normalize(c.Mobile), "+" + m.plan.Normalize(c.Phone), "+" + m.plan.Normalize(c.Mobile)} {
		if n != "" && n != "+" && !slices.Contains(numbers, n) {
			numbers = append(numbers, n)
		}
	}
	q := `SELECT id, at, direction FROM call_log WHERE contact_id = ?`
	args := []any{id}
	for _, n := range numbers {
		q += ` UNION SELECT id, at, direction FROM call_log WHERE caller = ? UNION SELECT id, at, direction FROM call_log WHERE did = ? AND direction = 'outbound'`
		args = append(args, n, n)
	}
	var calls []struct {
		ID        int64     `db:"id"`
		At        time.Time `db:"at"`
		Direction string    `db:"direction"`
	}
	var total int
	if err := m.db.GetContext(ctx, &total, `SELECT COUNT(*) FROM (`+q+`) x`, args...); err != nil {
		return nil, 0, fmt.Errorf("journey of contact %d: calls: %w", id, err)
	}
	if err := m.db.SelectContext(ctx, &calls, `SELECT id, at, direction FROM (`+q+`) x ORDER BY at DESC, id DESC LIMIT ?`, append(args, want)...); err != nil {
		return nil, 0, fmt.Errorf("journey of contact %d: calls: %w", id, err)
	}
	out := []JourneyEntry{}
	for _, r := range calls {
		out = append(out, JourneyEntry{Kind: "call", ID: r.ID, Channel: "voice", Direction: r.Direction, At: r.At.UTC(), Link: fmt.Sprintf("/api/v1/call-log?id=%d", r.ID)})
	}
	if m.hasTable(ctx, m.db, "interactions") {
		var ints []struct {
			ID      int64     `db:"id"`
			Channel string    `db:"channel"`
			Status  string    `db:"status"`
			At      time.Time `db:"created_at"`
		}
		var n int
		if err := m.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM interactions WHERE contact_id = ?`, id); err == nil {
			if err := m.db.SelectContext(ctx, &ints, `SELECT id, channel, status, created_at FROM interactions WHERE contact_id = ?
				ORDER BY created_at DESC, id DESC LIMIT ?`, id, want); err != nil {
				return nil, 0, fmt.Errorf("journey of contact %d: interactions: %w", id, err)
			}
			total += n
		} else {
			m.log.Warn("journey: interactions table is not readable", "err", err)
		}
		for _, r := range ints {
			out = append(out, JourneyEntry{Kind: "interaction", ID: r.ID, Channel: r.Channel, Status: r.Status, At: r.At.UTC(), Link: fmt.Sprintf("/api/v1/interactions/%d", r.ID)})
		}
	}
	slices.SortStableFunc(out, func(a, b JourneyEntry) int {
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		return int(b.ID - a.ID)
	})
	from := min((page-1)*perPage, len(out))
	return out[from:min(from+perPage, len(out))], total, nil
}
