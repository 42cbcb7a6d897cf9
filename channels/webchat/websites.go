package webchat

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/url"
	"strings"
	"time"

	"omnicc/store"
)

// DefaultMaxFileBytes is a new website's upload limit.
const DefaultMaxFileBytes = 5 << 20

// MaxFileBytesLimit is the most an admin may allow per file.
const MaxFileBytesLimit = 50 << 20

// Website is a site that embeds the chat widget.
type Website struct {
	ID      int64  `json:"id" db:"id"`
	Name    string `json:"name" db:"name"`
	QueueID int64  `json:"queue_id" db:"queue_id"`
	// AllowedOrigins are the scheme://host[:port] of the pages that may
	// talk to the chat; a visitor call from any other is refused.
	AllowedOrigins []string `json:"allowed_origins" db:"-"`
	OriginsJSON    string   `json:"-" db:"allowed_origins"`
	Greeting       string   `json:"greeting" db:"greeting"`
	// OfflineMessage is stored and shown to a visitor who writes while
	// the calendar says the site's chat is closed.
	OfflineMessage string `json:"offline_message" db:"offline_message"`
	CalendarID     *int64 `json:"calendar_id" db:"calendar_id"`
	// ContactListID is where an identified visitor unknown so far is
	// created as a contact.
	ContactListID *int64 `json:"contact_list_id" db:"contact_list_id"`
	MaxFileBytes  int64  `json:"max_file_bytes" db:"max_file_bytes"`
	// IdentitySecret keys identify()'s user_hash; empty turns identify off.
	IdentitySecret string    `json:"identity_secret" db:"identity_secret"`
	Disabled       bool      `json:"disabled" db:"disabled"`
	Token          string    `json:"token" db:"token"`
	SessionKey     string    `json:"-" db:"session_key"`
	Snippet        string    `json:"snippet" db:"-"`
	CreatedAt      time.Time `json:"created_at" db:"created_at"`
	UpdatedAt      time.Time `json:"updated_at" db:"updated_at"`
}

// WebsiteInput creates or partly updates a website.
type WebsiteInput struct {
	Name           *string   `json:"name"`
	QueueID        *int64    `json:"queue_id"`
	AllowedOrigins *[]string `json:"allowed_origins"`
	Greeting       *string   `json:"greeting"`
	OfflineMessage *string   `json:"offline_message"`
	// CalendarID and ContactListID: 0 clears them.
	CalendarID     *int64  `json:"calendar_id"`
	ContactListID  *int64  `json:"contact_list_id"`
	MaxFileBytes   *int64  `json:"max_file_bytes"`
	IdentitySecret *string `json:"identity_secret"`
	Disabled       *bool   `json:"disabled"`
}

const websiteSelect = `SELECT id, name, queue_id, allowed_origins, greeting, offline_message, calendar_id, contact_list_id,
 max_file_bytes, identity_secret, disabled, token, session_key, created_at, updated_at FROM chat_websites`

// NormalizeOrigin turns an origin as an admin writes it into the form a
// browser sends: lower-case scheme and host, no default port, no path.
func NormalizeOrigin(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q is not an origin: write scheme://host[:port], e.g. https://www.example.com", raw)
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	if strings.Contains(u.Hostname(), ":") { // IPv6
		host = "[" + strings.ToLower(u.Hostname()) + "]"
		if port != "" {
			host += ":" + port
		}
	}
	return strings.ToLower(u.Scheme) + "://" + host, nil
}

func (c *Connector) apply(ctx context.Context, w *Website, in WebsiteInput) error {
	trim := func(dst *string, v *string) {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	trim(&w.Name, in.Name)
	trim(&w.Greeting, in.Greeting)
	trim(&w.OfflineMessage, in.OfflineMessage)
	trim(&w.IdentitySecret, in.IdentitySecret)
	if in.QueueID != nil {
		w.QueueID = *in.QueueID
	}
	if in.MaxFileBytes != nil {
		w.MaxFileBytes = *in.MaxFileBytes
	}
	if in.Disabled != nil {
		w.Disabled = *in.Disabled
	}
	optional := func(dst **int64, v *int64) {
		if v != nil {
			if *v == 0 {
				*dst = nil
			} else {
				n := *v
				*dst = &n
			}
		}
	}
	optional(&w.CalendarID, in.CalendarID)
	optional(&w.ContactListID, in.ContactListID)
	if in.AllowedOrigins != nil {
		w.AllowedOrigins = []string{}
		for i, o := range *in.AllowedOrigins {
			n, err := NormalizeOrigin(o)
			if err != nil {
				return fieldErr(fmt.Sprintf("allowed_origins[%d]", i), "%s", err.Error())
			}
			w.AllowedOrigins = append(w.AllowedOrigins, n)
		}
	}
	switch {
	case w.Name == "" || len(w.Name) > 128:
		return fieldErr("name", "must be 1 to 128 characters")
	case len(w.AllowedOrigins) == 0:
		return fieldErr("allowed_origins", "list at least one origin (scheme://host[:port]) of the pages that embed the widget")
	case len(w.Greeting) > 2000:
		return fieldErr("greeting", "is longer than 2000 characters")
	case len(w.OfflineMessage) > 2000:
		return fieldErr("offline_message", "is longer than 2000 characters")
	case len(w.IdentitySecret) > 128 || (w.IdentitySecret != "" && len(w.IdentitySecret) < 16):
		return fieldErr("identity_secret", "must be 16 to 128 characters (or empty to turn identify() off)")
	case w.MaxFileBytes < 0 || w.MaxFileBytes > MaxFileBytesLimit:
		return fieldErr("max_file_bytes", "must be 0 (no uploads) to %d", MaxFileBytesLimit)
	case w.QueueID <= 0:
		return fieldErr("queue_id", "is required")
	}
	b, _ := json.Marshal(w.AllowedOrigins)
	if len(b) > 4000 {
		return fieldErr("allowed_origins", "too many origins (%d bytes of JSON, at most 4000)", len(b))
	}
	w.OriginsJSON = string(b)
	q, err := c.o.Directory.Queue(ctx, w.QueueID)
	if err != nil {
		return fieldErr("queue_id", "queue %d does not exist", w.QueueID)
	}
	if q.Channel != Channel {
		return fieldErr("queue_id", "queue %d serves %s: chat websites need a %s queue", w.QueueID, q.Channel, Channel)
	}
	if w.CalendarID != nil {
		if _, err := c.o.Directory.Calendar(ctx, *w.CalendarID); err != nil {
			return fieldErr("calendar_id", "calendar %d does not exist", *w.CalendarID)
		}
	}
	return nil
}

func (c *Connector) decorate(w *Website) *Website {
	w.AllowedOrigins = []string{}
	_ = json.Unmarshal([]byte(w.OriginsJSON), &w.AllowedOrigins)
	w.CreatedAt, w.UpdatedAt = w.CreatedAt.UTC(), w.UpdatedAt.UTC()
	w.Snippet = Snippet(c.o.PublicURL, w.Token)
	return w
}

// Snippet is the script tag a site pastes into its pages.
func Snippet(publicURL, token string) string {
	base := strings.TrimRight(publicURL, "/") + "/api/v1"
	return `<script src="` + html.EscapeString(base) + `/chat/widget.js" data-omnicc-website="` + html.EscapeString(token) + `" async></script>`
}

// CreateWebsite stores a new website with a fresh public token.
func (c *Connector) CreateWebsite(ctx context.Context, in WebsiteInput) (*Website, error) {
	w := &Website{MaxFileBytes: DefaultMaxFileBytes}
	if err := c.apply(ctx, w, in); err != nil {
		return nil, err
	}
	now := c.now()
	w.Token, w.SessionKey = randomHex(16), randomHex(32)
	res, err := c.o.DB.ExecContext(ctx, `INSERT INTO chat_websites (name, queue_id, allowed_origins, greeting, offline_message,
 calendar_id, contact_list_id, max_file_bytes, identity_secret, disabled, token, session_key, created_at, updated_at)
 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, w.Name, w.QueueID, w.OriginsJSON, w.Greeting, w.OfflineMessage,
		w.CalendarID, w.ContactListID, w.MaxFileBytes, w.IdentitySecret, w.Disabled, w.Token, w.SessionKey, now, now)
	if store.IsUniqueViolation(err) {
		return nil, fmt.Errorf("name: a chat website named %q exists: %w", w.Name, ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("webchat: create website: %w", err)
	}
	id, _ := res.LastInsertId()
	return c.Website(ctx, id)
}

// Website reads one website.
func (c *Connector) Website(ctx context.Context, id int64) (*Website, error) {
	return c.websiteWhere(ctx, `id = ?`, id)
}

// WebsiteByToken reads an enabled website by its public token.
func (c *Connector) WebsiteByToken(ctx context.Context, token string) (*Website, error) {
	if token == "" || len(token) > 64 {
		return nil, ErrNotFound
	}
	w, err := c.websiteWhere(ctx, `token = ?`, token)
	if err != nil {
		return nil, err
	}
	if w.Disabled {
		return nil, ErrNotFound
	}
	return w, nil
}

func (c *Connector) websiteWhere(ctx context.Context, where string, arg any) (*Website, error) {
	var w Website
	err := c.o.DB.GetContext(ctx, &w, websiteSelect+` WHERE `+where, arg)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("chat website: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("webchat: read website: %w", err)
	}
	return c.decorate(&w), nil
}

// Websites lists every website.
func (c *Connector) Websites(ctx context.Context) ([]*Website, error) {
	out := []*Website{}
	if err := c.o.DB.SelectContext(ctx, &out, websiteSelect+` ORDER BY id`); err != nil {
		return nil, fmt.Errorf("webchat: list websites: %w", err)
	}
	for _, w := range out {
		c.decorate(w)
	}
	return out, nil
}

// UpdateWebsite changes the fields given.
func (c *Connector) UpdateWebsite(ctx context.Context, id int64, in WebsiteInput) (*Website, error) {
	w, err := c.Website(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := c.apply(ctx, w, in); err != nil {
		return nil, err
	}
	_, err = c.o.DB.ExecContext(ctx, `UPDATE chat_websites SET name = ?, queue_id = ?, allowed_origins = ?, greeting = ?,
 offline_message = ?, calendar_id = ?, contact_list_id = ?, max_file_bytes = ?, identity_secret = ?, disabled = ?, updated_at = ?
 WHERE id = ?`, w.Name, w.QueueID, w.OriginsJSON, w.Greeting, w.OfflineMessage, w.CalendarID, w.ContactListID,
		w.MaxFileBytes, w.IdentitySecret, w.Disabled, c.now(), id)
	if store.IsUniqueViolation(err) {
		return nil, fmt.Errorf("name: a chat website named %q exists: %w", w.Name, ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("webchat: update website %d: %w", id, err)
	}
	return c.Website(ctx, id)
}

// DeleteWebsite removes a website and its visitors; their interactions
// stay with the router.
func (c *Connector) DeleteWebsite(ctx context.Context, id int64) error {
	res, err := c.o.DB.ExecContext(ctx, `DELETE FROM chat_websites WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("webchat: delete website %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("chat website %d: %w", id, ErrNotFound)
	}
	return nil
}

// AllowsOrigin reports whether a browser's Origin header names one of the
// website's allowed origins.
func (w *Website) AllowsOrigin(origin string) bool {
	if origin == "" || origin == "null" {
		return false
	}
	n, err := NormalizeOrigin(origin)
	if err != nil {
		return false
	}
	for _, o := range w.AllowedOrigins {
		if o == n {
			return true
		}
	}
	return false
}

// SnippetBase is where the snippet's script is served from: the public URL
// and the API prefix.
func (c *Connector) SnippetBase() string { return strings.TrimRight(c.o.PublicURL, "/") + "/api/v1" }
