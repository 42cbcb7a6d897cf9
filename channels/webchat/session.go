package webchat

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"omnicc/contacts"
	"omnicc/router"
)

// A visitor session token is "v1.<website id>.<visitor>.<mac>": the mac is
// HMAC-SHA256 of the rest under the website's session key, which never
// leaves the server. The visitor id is 128 random bits, so a token can be
// neither guessed nor forged, and one website's token is worthless on
// another. The browser keeps it (localStorage) and sends it on every call;
// every instance can check it, since the key is in the database.

// Visitor is who a checked session token names.
type Visitor struct {
	Website *Website
	ID      string // the random visitor id
}

// key is the in-memory key of the visitor's sockets.
func (v *Visitor) key() string { return strconv.FormatInt(v.Website.ID, 10) + "/" + v.ID }

// customer is the visitor's identity in the router.
func (v *Visitor) customer() string { return "visitor:" + v.ID }

func (v *Visitor) account() string { return strconv.FormatInt(v.Website.ID, 10) }

func sign(key, payload string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func sessionToken(w *Website, visitor string) string {
	payload := "v1." + strconv.FormatInt(w.ID, 10) + "." + visitor
	return payload + "." + sign(w.SessionKey, payload)
}

// CheckSession verifies a visitor session token and the page's origin.
// Every visitor call goes through it.
func (c *Connector) CheckSession(ctx context.Context, token, origin string) (*Visitor, error) {
	parts := strings.Split(token, ".")
	if len(token) > 200 || len(parts) != 4 || parts[0] != "v1" || !validVisitorID(parts[2]) {
		return nil, ErrSession
	}
	id, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || id <= 0 {
		return nil, ErrSession
	}
	w, err := c.Website(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && w.Disabled) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if !w.AllowsOrigin(origin) {
		return nil, ErrOrigin
	}
	want := sign(w.SessionKey, strings.Join(parts[:3], "."))
	if !hmac.Equal([]byte(want), []byte(parts[3])) {
		return nil, ErrSession
	}
	return &Visitor{Website: w, ID: parts[2]}, nil
}

func validVisitorID(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// SiteInfo is what the widget shows before the first message.
type SiteInfo struct {
	Name         string `json:"name"`
	Greeting     string `json:"greeting"`
	Open         bool   `json:"open"`
	Offline      string `json:"offline_message"`
	MaxFileBytes int64  `json:"max_file_bytes"`
	FileTypes    string `json:"file_types"`
	Identify     bool   `json:"identify"`
}

// Agent is how a visitor sees an agent: its alias, or its full name —
// never its username.
type Agent struct {
	Name string `json:"name"`
}

// Conversation is the visitor's view of the conversation's state.
type Conversation struct {
	// InteractionID is 0 before the visitor's first message.
	InteractionID int64  `json:"interaction_id"`
	Status        string `json:"status"`
	Agent         *Agent `json:"agent"`
	LastSeq       int64  `json:"last_seq"`
	// ReadSeq: every visitor message up to it has been read by an agent.
	ReadSeq int64 `json:"read_seq"`
}

// SessionAnswer answers POST /chat/sessions.
type SessionAnswer struct {
	Session      string       `json:"session"`
	Website      SiteInfo     `json:"website"`
	Conversation Conversation `json:"conversation"`
}

// StartSession opens the chat for a page: a valid session of the same
// website is kept (a reload, another tab), anything else gets a new
// visitor.
func (c *Connector) StartSession(ctx context.Context, websiteToken, session, origin, remote string) (*SessionAnswer, error) {
	w, err := c.WebsiteByToken(ctx, websiteToken)
	if err != nil {
		return nil, ErrNotFound
	}
	if !w.AllowsOrigin(origin) {
		return nil, ErrOrigin
	}
	var v *Visitor
	if session != "" {
		if got, err := c.CheckSession(ctx, session, origin); err == nil && got.Website.ID == w.ID {
			v = got
		}
	}
	now := c.now()
	if v == nil {
		if !c.allowNewVisitor(remote) {
			return nil, ErrRate
		}
		v = &Visitor{Website: w, ID: randomHex(16)}
		session = sessionToken(w, v.ID)
		if _, err := c.o.DB.ExecContext(ctx, `INSERT INTO chat_visitors (website_id, visitor, created_at, last_seen_at) VALUES (?, ?, ?, ?)`,
			w.ID, v.ID, now, now); err != nil {
			return nil, fmt.Errorf("webchat: store visitor: %w", err)
		}
	} else if _, err := c.o.DB.ExecContext(ctx, `UPDATE chat_visitors SET last_seen_at = ? WHERE website_id = ? AND visitor = ?`, now, w.ID, v.ID); err != nil {
		return nil, fmt.Errorf("webchat: touch visitor: %w", err)
	}
	conv, err := c.Conversation(ctx, v)
	if err != nil {
		return nil, err
	}
	return &SessionAnswer{Session: session, Website: SiteInfo{Name: w.Name, Greeting: w.Greeting, Open: c.open(ctx, w),
		Offline: w.OfflineMessage, MaxFileBytes: w.MaxFileBytes, FileTypes: strings.Join(AllowedFileTypes, ","),
		Identify: w.IdentitySecret != ""}, Conversation: *conv}, nil
}

// open is false while the website's calendar says it is closed.
func (c *Connector) open(ctx context.Context, w *Website) bool {
	if w.CalendarID == nil {
		return true
	}
	cal, err := c.o.Directory.Calendar(ctx, *w.CalendarID)
	if err != nil {
		return true // a deleted calendar closes nothing
	}
	s, err := cal.Schedule()
	if err != nil {
		return true
	}
	return s.Open(c.o.Clock.Now())
}

// interaction is the visitor's interaction, nil before its first message.
func (c *Connector) interaction(ctx context.Context, v *Visitor) (*router.Interaction, error) {
	it, err := c.o.Router.FindByCustomer(ctx, Channel, v.account(), v.customer())
	if errors.Is(err, router.ErrNotFound) {
		return nil, nil
	}
	return it, err
}

// Conversation is the state of the visitor's conversation.
func (c *Connector) Conversation(ctx context.Context, v *Visitor) (*Conversation, error) {
	it, err := c.interaction(ctx, v)
	if err != nil || it == nil {
		return &Conversation{Status: "new"}, err
	}
	c.track(it.ID, v.key())
	return c.conversationOf(ctx, it)
}

func (c *Connector) conversationOf(ctx context.Context, it *router.Interaction) (*Conversation, error) {
	conv := &Conversation{InteractionID: it.ID, Status: it.Status, LastSeq: it.LastSeq}
	if it.AgentID != nil && it.Status == router.StatusAccepted {
		conv.Agent = &Agent{Name: c.agentName(ctx, *it.AgentID)}
	}
	if it.AgentID != nil && (it.Status == router.StatusAccepted || it.Status == router.StatusClosed) {
		// unread counts the visitor's messages the owner has not read yet:
		// the ones before them are read.
		if it.Unread == 0 {
			conv.ReadSeq = it.LastSeq
		} else {
			var seqs []int64
			if err := c.o.DB.SelectContext(ctx, &seqs, `SELECT seq FROM interaction_messages WHERE interaction_id = ? AND direction = ?
 ORDER BY seq DESC LIMIT 1 OFFSET ?`, it.ID, router.DirectionIn, it.Unread); err != nil {
				return nil, fmt.Errorf("webchat: read ticks of interaction %d: %w", it.ID, err)
			}
			if len(seqs) == 1 {
				conv.ReadSeq = seqs[0]
			}
		}
	}
	return conv, nil
}

// IdentifyInput is identify()'s argument.
type IdentifyInput struct {
	UserID   string `json:"user_id"`
	UserHash string `json:"user_hash"`
	Name     string `json:"name"`
	Email    string `json:"email"`
}

// UserHash is the user_hash a site computes for one of its users:
// hex HMAC-SHA256 of the user id under the website's identity secret.
func UserHash(secret, userID string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(userID))
	return hex.EncodeToString(m.Sum(nil))
}

// Identify links the visitor to the site's user when user_hash proves the
// site vouches for user_id; a wrong hash is ignored (verified false),
// never trusted. name and email are kept either way, as the visitor's own
// words.
func (c *Connector) Identify(ctx context.Context, v *Visitor, in IdentifyInput) (verified bool, err error) {
	if len(in.UserID) > 255 || len(in.Name) > 255 || len(in.Email) > 255 || len(in.UserHash) > 128 {
		return false, fieldErr("user_id", "user_id, name and email are at most 255 characters")
	}
	w := v.Website
	verified = w.IdentitySecret != "" && in.UserID != "" &&
		hmac.Equal([]byte(strings.ToLower(in.UserHash)), []byte(UserHash(w.IdentitySecret, in.UserID)))
	name, email := strings.TrimSpace(in.Name), strings.TrimSpace(in.Email)
	if _, err := c.o.DB.ExecContext(ctx, `UPDATE chat_visitors SET name = ?, email = ? WHERE website_id = ? AND visitor = ?`,
		name, email, w.ID, v.ID); err != nil {
		return false, fmt.Errorf("webchat: store the visitor's name: %w", err)
	}
	if !verified {
		return false, nil
	}
	var contactID *int64
	if c.o.Contacts != nil && w.ContactListID != nil {
		ct, _, err := c.o.Contacts.FindOrCreate(ctx, *w.ContactListID, contacts.Identity{Channel: Channel, ExternalID: in.UserID, Email: email, Name: name})
		if err != nil {
			c.o.Logger.Warn("webchat: find the contact of an identified visitor", "website", w.ID, "err", err)
		} else {
			contactID = &ct.ID
		}
	}
	if _, err := c.o.DB.ExecContext(ctx, `UPDATE chat_visitors SET user_id = ?, contact_id = ? WHERE website_id = ? AND visitor = ?`,
		in.UserID, contactID, w.ID, v.ID); err != nil {
		return false, fmt.Errorf("webchat: store the visitor's identity: %w", err)
	}
	if contactID != nil {
		if it, err := c.interaction(ctx, v); err == nil && it != nil {
			if _, err := c.o.Router.LinkContact(ctx, it.ID, *contactID); err != nil {
				return true, err
			}
		}
	}
	return true, nil
}

// visitorProfile is what the visitor told about itself.
type visitorProfile struct {
	Name      string `db:"name"`
	Email     string `db:"email"`
	UserID    string `db:"user_id"`
	ContactID *int64 `db:"contact_id"`
}

func (c *Connector) profile(ctx context.Context, v *Visitor) visitorProfile {
	var p visitorProfile
	_ = c.o.DB.GetContext(ctx, &p, `SELECT name, email, user_id, contact_id FROM chat_visitors WHERE website_id = ? AND visitor = ?`,
		v.Website.ID, v.ID)
	return p
}

// allowNewVisitor rate-limits the visitors one address creates.
func (c *Connector) allowNewVisitor(remote string) bool {
	now := c.o.Clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.newcomers) > 100000 {
		clear(c.newcomers)
	}
	b := c.newcomers[remote]
	if b == nil {
		b = newBucket(c.lim.NewVisitorsPerSecond, c.lim.NewVisitorsBurst, now)
		c.newcomers[remote] = b
	}
	return b.take(now)
}
