package contacts

import (
	"context"
	"regexp"
	"strings"
)

// Tag is a tag in use on contacts, or one given a colour, with how many
// contacts carry it. Tags match whatever their case (stored lower-cased).
type Tag struct {
	Name     string `json:"name" db:"tag"`
	Color    string `json:"color" db:"color"` // #rrggbb, "" when none was set
	Contacts int    `json:"contacts" db:"contacts"`
}

var tagColor = regexp.MustCompile(`^#[0-9a-f]{6}$`)

// Tags lists every tag in use or coloured, by name.
func (m *Manager) Tags(ctx context.Context) ([]Tag, error) {
	out := []Tag{}
	err := m.db.SelectContext(ctx, &out, `SELECT t.tag, COALESCE(c.color, '') AS color, t.contacts FROM (
		SELECT tag, COUNT(*) AS contacts FROM contact_tags GROUP BY tag
		UNION ALL
		SELECT tag, 0 FROM contact_tag_colors WHERE tag NOT IN (SELECT tag FROM contact_tags)
	) t LEFT JOIN contact_tag_colors c ON c.tag = t.tag ORDER BY t.tag`)
	return out, err
}

// SetTagColor gives a tag its colour (#rrggbb); an empty colour removes it.
// A tag no contact carries yet may be coloured ahead of use.
func (m *Manager) SetTagColor(ctx context.Context, name, color string) (Tag, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" || len(name) > 64 {
		return Tag{}, fieldErr("name", "%q must be 1-64 characters", name)
	}
	color = strings.ToLower(strings.TrimSpace(color))
	if color != "" && !tagColor.MatchString(color) {
		return Tag{}, fieldErr("color", "%q is not a colour: use #rrggbb, e.g. #e53935 (empty removes it)", color)
	}
	// REPLACE is one atomic statement on both engines: two admins
	// colouring one tag at once leave one of their colours, not an error.
	q, args := `REPLACE INTO contact_tag_colors (tag, color) VALUES (?, ?)`, []any{name, color}
	if color == "" {
		q, args = `DELETE FROM contact_tag_colors WHERE tag = ?`, []any{name}
	}
	if _, err := m.db.ExecContext(ctx, q, args...); err != nil {
		return Tag{}, err
	}
	t := Tag{Name: name, Color: color}
	err := m.db.GetContext(ctx, &t.Contacts, `SELECT COUNT(*) FROM contact_tags WHERE tag = ?`, name)
	return t, err
}
