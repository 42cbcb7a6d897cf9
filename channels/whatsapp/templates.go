package whatsapp

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"omnicc/domain"
	"omnicc/store"
)

// Template is a message template approved at the provider: the only thing
// that may be sent outside the 24-hour window. Components are Meta's
// template components with {{n}} placeholders filled from the parameters.
type Template struct {
	ID                int64           `json:"id" db:"id"`
	AccountID         int64           `json:"account_id" db:"account_id"`
	Name              string          `json:"name" db:"name"`
	Language          string          `json:"language" db:"language"`
	Components        json.RawMessage `json:"components" db:"-"`
	ComponentsText    string          `json:"-" db:"components"`
	Recontact         bool            `json:"recontact" db:"recontact"`
	AgentsCanSend     bool            `json:"agents_can_send" db:"agents_can_send"`
	CloseOnQuickReply bool            `json:"close_on_quick_reply" db:"close_on_quick_reply"`
	CreatedAt         time.Time       `json:"created_at" db:"created_at"`
	UpdatedAt         time.Time       `json:"updated_at" db:"updated_at"`
}

// TemplateInput creates or updates a template (nil fields left alone).
type TemplateInput struct {
	AccountID         *int64          `json:"account_id"`
	Name              *string         `json:"name"`
	Language          *string         `json:"language"`
	Components        json.RawMessage `json:"components"`
	Recontact         *bool           `json:"recontact"`
	AgentsCanSend     *bool           `json:"agents_can_send"`
	CloseOnQuickReply *bool           `json:"close_on_quick_reply"`
}

func (in TemplateInput) apply(t *Template) {
	if in.AccountID != nil {
		t.AccountID = *in.AccountID
	}
	if in.Name != nil {
		t.Name = strings.TrimSpace(*in.Name)
	}
	if in.Language != nil {
		t.Language = strings.TrimSpace(*in.Language)
	}
	if in.Components != nil {
		t.Components = in.Components
	}
	if in.Recontact != nil {
		t.Recontact = *in.Recontact
	}
	if in.AgentsCanSend != nil {
		t.AgentsCanSend = *in.AgentsCanSend
	}
	if in.CloseOnQuickReply != nil {
		t.CloseOnQuickReply = *in.CloseOnQuickReply
	}
}

func (s *Store) validateTemplate(ctx context.Context, t *Template) error {
	if t.AccountID < 1 {
		return domain.FieldErrorf("account_id", "is required")
	}
	if _, err := s.Account(ctx, t.AccountID); errors.Is(err, domain.ErrNotFound) {
		return domain.FieldErrorf("account_id", "whatsapp account %d does not exist", t.AccountID)
	} else if err != nil {
		return err
	}
	if t.Name == "" {
		return domain.FieldErrorf("name", "is required (the template's name at the provider)")
	}
	if t.Language == "" {
		return domain.FieldErrorf("language", "is required, e.g. en_US")
	}
	if len(t.Components) == 0 || string(t.Components) == "null" {
		t.Components = json.RawMessage("[]")
	}
	var comps []map[string]any
	if err := json.Unmarshal(t.Components, &comps); err != nil {
		return domain.FieldErrorf("components", "must be a JSON array of template components: %v", err)
	}
	t.ComponentsText = string(t.Components)
	return nil
}

const templateColumns = `id, account_id, name, language, COALESCE(components, '[]') AS components, recontact,
	agents_can_send, close_on_quick_reply, created_at, updated_at`

func (t *Template) loaded() { t.Components = json.RawMessage(t.ComponentsText) }

// Templates lists the templates, of one account when accountID > 0.
func (s *Store) Templates(ctx context.Context, accountID int64) ([]Template, error) {
	q := `SELECT ` + templateColumns + ` FROM whatsapp_templates`
	var args []any
	if accountID > 0 {
		q += ` WHERE account_id = ?`
		args = append(args, accountID)
	}
	var out []Template
	if err := s.db.SelectContext(ctx, &out, q+` ORDER BY id`, args...); err != nil {
		return nil, fmt.Errorf("whatsapp: list templates: %w", err)
	}
	for i := range out {
		out[i].loaded()
	}
	return out, nil
}

// Template loads one template.
func (s *Store) Template(ctx context.Context, id int64) (Template, error) {
	var t Template
	err := s.db.GetContext(ctx, &t, `SELECT `+templateColumns+` FROM whatsapp_templates WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("whatsapp template %d: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("whatsapp: load template %d: %w", id, err)
	}
	t.loaded()
	return t, nil
}

// CreateTemplate stores a template.
func (s *Store) CreateTemplate(ctx context.Context, in TemplateInput) (Template, error) {
	var t Template
	in.apply(&t)
	if err := s.validateTemplate(ctx, &t); err != nil {
		return t, err
	}
	now := s.clock.Now().UTC()
	res, err := s.db.ExecContext(ctx, `INSERT INTO whatsapp_templates (account_id, name, language, components,
		recontact, agents_can_send, close_on_quick_reply, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.AccountID, t.Name, t.Language, t.ComponentsText, t.Recontact, t.AgentsCanSend, t.CloseOnQuickReply, now, now)
	if store.IsUniqueViolation(err) {
		return t, &domain.ConflictError{Field: "name", Value: t.Name + " (" + t.Language + ")"}
	}
	if err != nil {
		return t, fmt.Errorf("whatsapp: create template: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return t, err
	}
	return s.Template(ctx, id)
}

// UpdateTemplate changes the fields given.
func (s *Store) UpdateTemplate(ctx context.Context, id int64, in TemplateInput) (Template, error) {
	t, err := s.Template(ctx, id)
	if err != nil {
		return t, err
	}
	in.apply(&t)
	if err := s.validateTemplate(ctx, &t); err != nil {
		return t, err
	}
	_, err = s.db.ExecContext(ctx, `UPDATE whatsapp_templates SET account_id = ?, name = ?, language = ?, components = ?,
		recontact = ?, agents_can_send = ?, close_on_quick_reply = ?, updated_at = ? WHERE id = ?`,
		t.AccountID, t.Name, t.Language, t.ComponentsText, t.Recontact, t.AgentsCanSend, t.CloseOnQuickReply,
		s.clock.Now().UTC(), id)
	if store.IsUniqueViolation(err) {
		return t, &domain.ConflictError{Field: "name", Value: t.Name + " (" + t.Language + ")"}
	}
	if err != nil {
		return t, fmt.Errorf("whatsapp: update template %d: %w", id, err)
	}
	return s.Template(ctx, id)
}

// DeleteTemplate removes a template.
func (s *Store) DeleteTemplate(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM whatsapp_templates WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("whatsapp: delete template %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("whatsapp template %d: %w", id, domain.ErrNotFound)
	}
	return nil
}

// CloseOnQuickReply reports whether a quick-reply answer closes the
// interaction: the template it answers (replyTo, the wamid in its context)
// is marked close_on_quick_reply. A quick reply without a context, or to a
// message omniccd did not send as a template, counts when any template of
// the account is so marked.
func (s *Store) CloseOnQuickReply(ctx context.Context, accountID int64, replyTo string) (bool, error) {
	if replyTo != "" {
		var flag []bool
		err := s.db.SelectContext(ctx, &flag, `SELECT t.close_on_quick_reply FROM whatsapp_messages m
			JOIN whatsapp_templates t ON t.id = m.template_id
			WHERE m.account_id = ? AND m.external_id = ? AND m.direction = 'out'`, accountID, replyTo)
		if err != nil {
			return false, fmt.Errorf("whatsapp: the template a quick reply answers: %w", err)
		}
		if len(flag) > 0 {
			return flag[0], nil
		}
	}
	var n int
	err := s.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM whatsapp_templates WHERE account_id = ? AND close_on_quick_reply = ?`, accountID, true)
	return n > 0, err
}
