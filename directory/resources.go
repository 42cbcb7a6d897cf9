package directory

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"omnicc/store"
)

// Base is what every named resource has.
type Base struct {
	ID          int64     `json:"id" db:"id"`
	Name        string    `json:"name" db:"name"`
	Description string    `json:"description" db:"description"`
	CreatedAt   time.Time `json:"created_at" db:"created_at"`
	UpdatedAt   time.Time `json:"updated_at" db:"updated_at"`
}

func (b *Base) base() *Base { return b }

// Team groups agents for supervisors and reports.
type Team struct {
	Base
}

// Profile is a named permission set given to agents.
type Profile struct {
	Base
	Permissions StringList `json:"permissions" db:"permissions"`
}

// AIAssistant is a bot that may take an interaction before agents do.
type AIAssistant struct {
	Base
	WebhookURL string `json:"webhook_url" db:"webhook_url"`
	// WebhookSecret signs every call to the webhook (X-Omnicc-Signature).
	WebhookSecret string `json:"webhook_secret" db:"webhook_secret"`
}

// MarshalJSON never shows the webhook secret in full: agents read the
// assistants too. Only its last four characters tell which one is set.
func (a AIAssistant) MarshalJSON() ([]byte, error) {
	type plain AIAssistant
	p := plain(a)
	switch n := len(p.WebhookSecret); {
	case n == 0:
	case n <= 8:
		p.WebhookSecret = "****"
	default:
		p.WebhookSecret = "****" + p.WebhookSecret[n-4:]
	}
	return json.Marshal(p)
}

// PauseType is a reason an agent pauses for (lunch, training...).
type PauseType struct {
	Base
	Paid bool `json:"paid" db:"paid"`
}

func (Team) extra() ([]string, []any)      { return nil, nil }
func (p Profile) extra() ([]string, []any) { return []string{"permissions"}, []any{p.Permissions} }
func (a AIAssistant) extra() ([]string, []any) {
	return []string{"webhook_url", "webhook_secret"}, []any{a.WebhookURL, a.WebhookSecret}
}
func (p PauseType) extra() ([]string, []any) { return []string{"paid"}, []any{p.Paid} }

func (Team) check() error { return nil }

var permissionRe = regexp.MustCompile(`^[a-z][a-z0-9_.:-]{0,63}$`)

func (p Profile) check() error {
	for _, perm := range p.Permissions {
		if !permissionRe.MatchString(perm) {
			return fieldErr("permissions", "%q must be a lower-case permission name (e.g. contacts.read)", perm)
		}
	}
	return nil
}

func (a AIAssistant) check() error {
	if a.WebhookURL == "" {
		return nil
	}
	if u, err := url.Parse(a.WebhookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fieldErr("webhook_url", "%q must be an absolute http(s) URL", a.WebhookURL)
	}
	return nil
}

// A pause type's name is the reason in AMI QueuePause and queue_log.
func (p PauseType) check() error { return reasonText("name", p.Name) }

type resource interface {
	base() *Base
}

// resourcePtr is the pointer to a resource type, with its table extras.
type resourcePtr[T any] interface {
	*T
	resource
}

type resourceValue interface {
	extra() ([]string, []any)
	check() error
}

// Resources stores one kind of named resource.
type Resources[T resourceValue, PT resourcePtr[T]] struct {
	d      *Directory
	table  string
	entity string
	// inUse, when set, refuses a delete inside its transaction.
	inUse func(ctx context.Context, tx *sqlx.Tx, id int64, name string) error
}

// Teams, Profiles, AIAssistants and PauseTypes are the named resources.
func (d *Directory) Teams() *Resources[Team, *Team] {
	return &Resources[Team, *Team]{d: d, table: "teams", entity: "team"}
}

func (d *Directory) Profiles() *Resources[Profile, *Profile] {
	return &Resources[Profile, *Profile]{d: d, table: "profiles", entity: "profile"}
}

func (d *Directory) AIAssistants() *Resources[AIAssistant, *AIAssistant] {
	return &Resources[AIAssistant, *AIAssistant]{d: d, table: "ai_assistants", entity: "ai_assistant"}
}

func (d *Directory) PauseTypes() *Resources[PauseType, *PauseType] {
	return &Resources[PauseType, *PauseType]{d: d, table: "pause_types", entity: "pause_type", inUse: pauseTypeInUse}
}

// pauseTypeInUse refuses deleting a pause type agents are paused with:
// their pause would be left naming a reason that no longer exists, in
// omnicc's state and in queue_log. Unpausing them first is the admin's
// call, not a side effect of a delete.
func pauseTypeInUse(ctx context.Context, tx *sqlx.Tx, id int64, name string) error {
	var users []string
	if err := tx.SelectContext(ctx, &users, `SELECT u.username FROM agent_sessions s JOIN users u ON u.id = s.agent_id
		WHERE s.pause_type_id = ? AND s.paused_at IS NOT NULL ORDER BY u.username`, id); err != nil {
		return err
	}
	if len(users) == 0 {
		return nil
	}
	return &InUseError{What: "pause type " + name, UsedBy: prefixAll("paused agent ", users),
		Fix: "unpause them first (POST /agents/{id}/unpause), then delete it"}
}

// Entity is the resource's singular name, for messages.
func (r *Resources[T, PT]) Entity() string { return r.entity }

func validName(b *Base) error {
	if strings.TrimSpace(b.Name) == "" {
		return fieldErr("name", "is required")
	}
	if len(b.Name) > 128 {
		return fieldErr("name", "must be at most 128 characters")
	}
	if err := oneLine("name", b.Name); err != nil {
		return err
	}
	if len(b.Description) > 2000 {
		return fieldErr("description", "must be at most 2000 characters")
	}
	return nil
}

func (r *Resources[T, PT]) columns(v *T) ([]string, []any) {
	b := PT(v).base()
	cols, vals := (*v).extra()
	return append([]string{"name", "description", "updated_at"}, cols...),
		append([]any{b.Name, b.Description, b.UpdatedAt}, vals...)
}

// Create validates and stores v, setting its id and times.
func (r *Resources[T, PT]) Create(ctx context.Context, v *T) error {
	b := PT(v).base()
	if err := validName(b); err != nil {
		return err
	}
	if err := (*v).check(); err != nil {
		return err
	}
	now := r.d.now()
	b.CreatedAt, b.UpdatedAt = now, now
	cols, vals := r.columns(v)
	cols, vals = append(cols, "created_at"), append(vals, now)
	res, err := r.d.db.ExecContext(ctx, "INSERT INTO "+r.table+" ("+strings.Join(cols, ", ")+") VALUES ("+placeholders(len(cols))+")", vals...)
	if store.IsUniqueViolation(err) {
		return &ConflictError{Field: "name", Value: b.Name}
	}
	if err != nil {
		return err
	}
	if b.ID, err = res.LastInsertId(); err != nil {
		return err
	}
	r.d.notify(Change{Entity: r.entity, Op: "create", ID: b.ID})
	return nil
}

// Get returns one resource.
func (r *Resources[T, PT]) Get(ctx context.Context, id int64) (*T, error) {
	return r.get(ctx, r.d.db, id)
}

func (r *Resources[T, PT]) get(ctx context.Context, q sqlx.QueryerContext, id int64) (*T, error) {
	v := new(T)
	if err := getByID(ctx, q, v, "SELECT * FROM "+r.table+" WHERE id = ?", id, r.entity); err != nil {
		return nil, err
	}
	return v, nil
}

var namedSorts = map[string]string{"id": "id", "name": "name", "created_at": "created_at", "updated_at": "updated_at"}

// List returns a page matching q (name or description) and the total.
func (r *Resources[T, PT]) List(ctx context.Context, q, sort string, page, perPage int) ([]*T, int, error) {
	cond, args := "", []any{}
	if q != "" {
		like := "%" + escapeLike(q) + "%"
		cond = " WHERE name LIKE ? ESCAPE '!' OR description LIKE ? ESCAPE '!'"
		args = append(args, like, like)
	}
	out := []*T{}
	total, err := r.d.selectPage(ctx, &out, pageQuery{table: r.table, selectSQL: "SELECT * FROM " + r.table,
		where: cond, args: args, sort: sort, sorts: namedSorts, page: page, perPage: perPage})
	return out, total, err
}

// Update loads the resource, lets edit change it, validates and stores it.
// The id and times are kept whatever edit does to them.
func (r *Resources[T, PT]) Update(ctx context.Context, id int64, edit func(*T) error) (*T, error) {
	var out *T
	err := r.d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		v, err := r.get(ctx, tx, id)
		if err != nil {
			return err
		}
		keep := *PT(v).base()
		if err := edit(v); err != nil {
			return err
		}
		b := PT(v).base()
		b.ID, b.CreatedAt, b.UpdatedAt = keep.ID, keep.CreatedAt, r.d.now()
		if err := validName(b); err != nil {
			return err
		}
		if err := (*v).check(); err != nil {
			return err
		}
		cols, vals := r.columns(v)
		if _, err := tx.ExecContext(ctx, "UPDATE "+r.table+" SET "+strings.Join(cols, " = ?, ")+" = ? WHERE id = ?", append(vals, id)...); err != nil {
			if store.IsUniqueViolation(err) {
				return &ConflictError{Field: "name", Value: b.Name}
			}
			return err
		}
		out = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.d.notify(Change{Entity: r.entity, Op: "update", ID: id})
	return out, nil
}

// Delete removes the resource and its links to agents.
func (r *Resources[T, PT]) Delete(ctx context.Context, id int64) error {
	err := r.d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		v, err := r.get(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.inUse != nil {
			if err := r.inUse(ctx, tx, id, PT(v).base().Name); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM "+r.table+" WHERE id = ?", id)
		return err
	})
	if err != nil {
		return err
	}
	r.d.notify(Change{Entity: r.entity, Op: "delete", ID: id})
	return nil
}
