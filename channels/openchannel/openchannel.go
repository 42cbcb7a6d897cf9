// Package openchannel is the generic connector: an integrator POSTs its
// customers' messages in with an account token, and agents' replies are
// POSTed to the account's reply_url, signed with the account secret.
package openchannel

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"omnicc/channels"
	"omnicc/clock"
	"omnicc/directory"
	"omnicc/domain"
	"omnicc/router"
	"omnicc/store"
)

// Channel is the router channel (and queue channel) of open channel traffic.
const Channel = "openchannel"

// SignatureHeader carries sha256=<hex HMAC-SHA256(secret, raw body)> on
// every reply POSTed to an integrator.
const SignatureHeader = "X-Omnicc-Signature"

// Errors the HTTP side maps to statuses: the channels package's, so api
// maps them without importing the connector.
var (
	ErrNotFound     = channels.ErrOpenChannelNotFound
	ErrUnauthorized = channels.ErrOpenChannelUnauthorized
	ErrConflict     = channels.ErrOpenChannelConflict
)

// FieldError is bad input, naming the field: the core's, mapped once in api.
type FieldError = domain.FieldError

func fieldErr(field, format string, a ...any) error { return domain.FieldErrorf(field, format, a...) }

// Router is what the connector needs of the router.
type Router interface {
	Receive(ctx context.Context, in router.Inbound) (*router.Interaction, *router.Message, bool, error)
	SetMessageStatus(ctx context.Context, messageID int64, status, errText string) error
	PendingOutbound(ctx context.Context, channel string) ([]router.Outbound, error)
}

// Queues checks that an account's queue exists and serves open channel:
// *directory.Directory.
type Queues interface {
	Queue(ctx context.Context, id int64) (*directory.Queue, error)
}

// Clock is the connector's time source (retry backoff).
type Clock = clock.Clock

// Options builds a Connector.
type Options struct {
	DB     *store.DB
	Router Router
	Queues Queues
	Client *http.Client
	Clock  Clock
	Logger *slog.Logger
	// Backoff is the wait before the first retry of a failed reply; each
	// retry doubles it up to MaxBackoff. Defaults 2s and 5m.
	Backoff, MaxBackoff time.Duration
	// MaxAttempts is how many times a reply is tried before it is marked
	// failed for the agent to see. Default 8.
	MaxAttempts int
}

// Account is an integrator's open channel account.
type Account = channels.OpenChannelAccount

// AccountInput creates or partly updates an account.
type AccountInput = channels.OpenChannelAccountInput

// InboundMessage is the integrator's POST body.
type InboundMessage = channels.OpenChannelMessage

// Reply is the JSON POSTed to reply_url.
type Reply struct {
	InteractionID int64  `json:"interaction_id"`
	To            string `json:"to"`
	Body          string `json:"body"`
	MessageID     int64  `json:"message_id"`
}

// job is one reply to deliver, with its attempts so far.
type job struct {
	out      router.Outbound
	attempts int
	due      time.Time
}

// Connector serves open channel accounts and delivers replies.
type Connector struct {
	o    Options
	mu   sync.Mutex
	jobs []*job
	wake chan struct{}
}

// New builds a Connector; register it as the router's sender for Channel
// and run Run for deliveries.
func New(o Options) *Connector {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Clock == nil {
		o.Clock = clock.Wall
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Backoff <= 0 {
		o.Backoff = 2 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	return &Connector{o: o, wake: make(chan struct{}, 1)}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (c *Connector) now() time.Time { return c.o.Clock.Now().UTC().Truncate(time.Microsecond) }

const accountSelect = `SELECT id, name, queue_id, contact_list_id, reply_url, token, secret, created_at, updated_at FROM openchannel_accounts`

func (c *Connector) apply(ctx context.Context, a *Account, in AccountInput) error {
	if in.Name != nil {
		a.Name = strings.TrimSpace(*in.Name)
	}
	if in.QueueID != nil {
		a.QueueID = *in.QueueID
	}
	if in.ReplyURL != nil {
		a.ReplyURL = strings.TrimSpace(*in.ReplyURL)
	}
	if in.ContactListID != nil {
		a.ContactListID = nil
		if l := *in.ContactListID; l < 0 {
			return fieldErr("contact_list_id", "must be a contact list id")
		} else if l > 0 {
			a.ContactListID = &l
		}
	}
	if a.Name == "" || len(a.Name) > 128 {
		return fieldErr("name", "must be 1 to 128 characters")
	}
	if u, err := url.Parse(a.ReplyURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(a.ReplyURL) > 2000 {
		return fieldErr("reply_url", "%q must be an absolute http(s) URL", a.ReplyURL)
	}
	if a.QueueID <= 0 {
		return fieldErr("queue_id", "is required")
	}
	q, err := c.o.Queues.Queue(ctx, a.QueueID)
	if err != nil {
		return fieldErr("queue_id", "queue %d does not exist", a.QueueID)
	}
	if q.Channel != Channel {
		return fieldErr("queue_id", "queue %d serves %s: open channel accounts need an %s queue", a.QueueID, q.Channel, Channel)
	}
	return nil
}

// CreateAccount stores a new account with a fresh token and secret.
func (c *Connector) CreateAccount(ctx context.Context, in AccountInput) (*Account, error) {
	a := &Account{}
	if err := c.apply(ctx, a, in); err != nil {
		return nil, err
	}
	now := c.now()
	a.Token, a.Secret = randomHex(24), randomHex(32)
	res, err := c.o.DB.ExecContext(ctx, `INSERT INTO openchannel_accounts (name, queue_id, contact_list_id, reply_url, token, secret, created_at, updated_at)
 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, a.Name, a.QueueID, a.ContactListID, a.ReplyURL, a.Token, a.Secret, now, now)
	if store.IsUniqueViolation(err) {
		return nil, fmt.Errorf("name: an open channel account named %q exists: %w", a.Name, ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("openchannel: create account: %w", err)
	}
	id, _ := res.LastInsertId()
	return c.Account(ctx, id)
}

// Account reads one account.
func (c *Connector) Account(ctx context.Context, id int64) (*Account, error) {
	var a Account
	err := c.o.DB.GetContext(ctx, &a, accountSelect+` WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("open channel account %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("openchannel: read account %d: %w", id, err)
	}
	return &a, nil
}

// Accounts lists every account.
func (c *Connector) Accounts(ctx context.Context) ([]*Account, error) {
	out := []*Account{}
	if err := c.o.DB.SelectContext(ctx, &out, accountSelect+` ORDER BY id`); err != nil {
		return nil, fmt.Errorf("openchannel: list accounts: %w", err)
	}
	return out, nil
}

// UpdateAccount changes the fields given.
func (c *Connector) UpdateAccount(ctx context.Context, id int64, in AccountInput) (*Account, error) {
	a, err := c.Account(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := c.apply(ctx, a, in); err != nil {
		return nil, err
	}
	_, err = c.o.DB.ExecContext(ctx, `UPDATE openchannel_accounts SET name = ?, queue_id = ?, contact_list_id = ?, reply_url = ?, updated_at = ? WHERE id = ?`,
		a.Name, a.QueueID, a.ContactListID, a.ReplyURL, c.now(), id)
	if store.IsUniqueViolation(err) {
		return nil, fmt.Errorf("name: an open channel account named %q exists: %w", a.Name, ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("openchannel: update account %d: %w", id, err)
	}
	return c.Account(ctx, id)
}

// DeleteAccount removes an account; its interactions stay.
func (c *Connector) DeleteAccount(ctx context.Context, id int64) error {
	res, err := c.o.DB.ExecContext(ctx, `DELETE FROM openchannel_accounts WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("openchannel: delete account %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("open channel account %d: %w", id, ErrNotFound)
	}
	return nil
}

// Receive takes an integrator's message for the account, authenticated by
// its token. fresh is false for a repeated external_id (nothing new stored).
func (c *Connector) Receive(ctx context.Context, accountID int64, token string, m InboundMessage) (*router.Interaction, *router.Message, bool, error) {
	a, err := c.Account(ctx, accountID)
	if errors.Is(err, ErrNotFound) {
		// Same answer as a wrong token: a caller learns nothing of which
		// account ids exist.
		return nil, nil, false, ErrUnauthorized
	}
	if err != nil {
		return nil, nil, false, err
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(a.Token)) != 1 {
		return nil, nil, false, ErrUnauthorized
	}
	switch {
	case strings.TrimSpace(m.From) == "" || len(m.From) > 255:
		return nil, nil, false, fieldErr("from", "is required: the customer's id in your system (at most 255 characters)")
	case strings.TrimSpace(m.Body) == "":
		return nil, nil, false, fieldErr("body", "is required")
	case len(m.ExternalID) > 255:
		return nil, nil, false, fieldErr("external_id", "is longer than 255 characters")
	case len(m.Name) > 255:
		return nil, nil, false, fieldErr("name", "is longer than 255 characters")
	}
	in := router.Inbound{Channel: Channel, Account: strconv.FormatInt(a.ID, 10), Customer: m.From,
		CustomerName: m.Name, QueueID: a.QueueID, Body: m.Body, ExternalID: m.ExternalID}
	if a.ContactListID != nil {
		in.ContactListID = *a.ContactListID
		// from is the integrator's id for the customer; when it is a number
		// or an address, the contact is matched by it too.
		if from := strings.TrimSpace(m.From); strings.Contains(from, "@") {
			in.Email = from
		} else if strings.Trim(strings.TrimPrefix(from, "+"), "0123456789 ") == "" {
			in.Phone = from
		}
	}
	return c.o.Router.Receive(ctx, in)
}

// Send queues an agent's reply (already stored by the router) for delivery
// and answers router.ErrDeferred: Run delivers it and reports the outcome.
func (c *Connector) Send(_ context.Context, out router.Outbound) error {
	c.mu.Lock()
	c.jobs = append(c.jobs, &job{out: out, due: c.o.Clock.Now()})
	c.mu.Unlock()
	c.signal()
	return router.ErrDeferred
}

func (c *Connector) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run delivers replies until ctx ends: first those left pending by a
// previous run, then each as it is sent, retrying failures with backoff.
func (c *Connector) Run(ctx context.Context) error {
	pending, err := c.o.Router.PendingOutbound(ctx, Channel)
	if err != nil {
		return err
	}
	c.mu.Lock()
	// A reply sent between the router's start and this read is queued
	// already: deliver it once.
	queued := map[int64]bool{}
	for _, j := range c.jobs {
		queued[j.out.MessageID] = true
	}
	for _, out := range pending {
		if !queued[out.MessageID] {
			c.jobs = append(c.jobs, &job{out: out, due: c.o.Clock.Now()})
		}
	}
	c.mu.Unlock()
	for {
		c.deliverDue(ctx)
		var timer <-chan time.Time
		if next, ok := c.nextDue(); ok {
			timer = c.o.Clock.After(max(next.Sub(c.o.Clock.Now()), time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.wake:
		case <-timer:
		}
	}
}

func (c *Connector) nextDue() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var next time.Time
	for _, j := range c.jobs {
		if next.IsZero() || j.due.Before(next) {
			next = j.due
		}
	}
	return next, !next.IsZero()
}

func (c *Connector) deliverDue(ctx context.Context) {
	now := c.o.Clock.Now()
	c.mu.Lock()
	var due, later []*job
	for _, j := range c.jobs {
		if !j.due.After(now) {
			due = append(due, j)
		} else {
			later = append(later, j)
		}
	}
	c.jobs = later
	c.mu.Unlock()
	for _, j := range due {
		if ctx.Err() != nil {
			return
		}
		err := c.post(ctx, j.out)
		j.attempts++
		if err == nil {
			c.report(ctx, j.out.MessageID, router.MessageSent, "")
			continue
		}
		var perm *permanentError
		if errors.As(err, &perm) || j.attempts >= c.o.MaxAttempts {
			c.report(ctx, j.out.MessageID, router.MessageFailed, err.Error())
			continue
		}
		wait := c.o.Backoff << (j.attempts - 1)
		if wait > c.o.MaxBackoff || wait <= 0 {
			wait = c.o.MaxBackoff
		}
		j.due = c.o.Clock.Now().Add(wait)
		c.o.Logger.Warn("openchannel: reply not delivered, will retry", "message", j.out.MessageID, "attempt", j.attempts, "in", wait, "err", err)
		c.mu.Lock()
		c.jobs = append(c.jobs, j)
		c.mu.Unlock()
	}
}

func (c *Connector) report(ctx context.Context, messageID int64, status, errText string) {
	if err := c.o.Router.SetMessageStatus(ctx, messageID, status, errText); err != nil {
		c.o.Logger.Warn("openchannel: record delivery", "message", messageID, "err", err)
	}
}

// permanentError is an answer retrying will not change (a 4xx other than
// 408 and 429, an account gone).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }

// Sign is the X-Omnicc-Signature value of body: sha256=<hex HMAC-SHA256>.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (c *Connector) post(ctx context.Context, out router.Outbound) error {
	id, err := strconv.ParseInt(out.Account, 10, 64)
	if err != nil {
		return &permanentError{fmt.Errorf("interaction %d names account %q, not an open channel account id", out.InteractionID, out.Account)}
	}
	a, err := c.Account(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return &permanentError{fmt.Errorf("open channel account %d was deleted", id)}
	}
	if err != nil {
		return err
	}
	body, _ := json.Marshal(Reply{InteractionID: out.InteractionID, To: out.Customer, Body: out.Body, MessageID: out.MessageID})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.ReplyURL, bytes.NewReader(body))
	if err != nil {
		return &permanentError{fmt.Errorf("reply_url %q: %w", a.ReplyURL, err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(a.Secret, body))
	resp, err := c.o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", a.ReplyURL, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("POST %s answered %s", a.ReplyURL, resp.Status)
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return &permanentError{err}
	}
	return err
}
