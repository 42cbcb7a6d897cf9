package router

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"omnicc/store"
)

// The SQL of the router, written once for both engines. Every status change
// is a conditional UPDATE whose rows affected say whether it happened, so the
// database — not the in-memory state — decides every race.

const interactionSelect = `SELECT id, channel, account, customer, customer_name, queue_id, contact_id, status,
 agent_id, priority, disposition, tags, unread, last_seq, queued_at, created_at, updated_at, accepted_at, closed_at,
 window_expires_at, bot_active FROM interactions`

const messageSelect = `SELECT id, interaction_id, seq, direction, body, attachments, client_id, external_id, status,
 agent_id, attempts, error, created_at FROM interaction_messages`

func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func (it *Interaction) decode() {
	it.Tags = []string{}
	_ = json.Unmarshal([]byte(it.TagsJSON), &it.Tags)
	if it.Tags == nil {
		it.Tags = []string{}
	}
	it.QueuedAt, it.CreatedAt, it.UpdatedAt = it.QueuedAt.UTC(), it.CreatedAt.UTC(), it.UpdatedAt.UTC()
	if it.WindowExpiresAt != nil {
		w := it.WindowExpiresAt.UTC()
		it.WindowExpiresAt = &w
	}
}

func (m *Message) decode() {
	m.Attachments = []string{}
	_ = json.Unmarshal([]byte(m.AttachJSON), &m.Attachments)
	if m.Attachments == nil {
		m.Attachments = []string{}
	}
	m.CreatedAt = m.CreatedAt.UTC()
}

func readInteraction(ctx context.Context, q sqlx.QueryerContext, id int64) (*Interaction, error) {
	var it Interaction
	err := sqlx.GetContext(ctx, q, &it, interactionSelect+` WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("interaction %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("router: read interaction %d: %w", id, err)
	}
	it.decode()
	return &it, nil
}

func exec(ctx context.Context, tx sqlx.ExecerContext, query string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// errRaced: another delivery created the customer's interaction first.
var errRaced = errors.New("the interaction was created meanwhile")

// findInteraction is the id of the customer's interaction, 0 when it has
// none yet. A plain read: it takes no lock.
func findInteraction(ctx context.Context, db *store.DB, in Inbound) (int64, error) {
	var id int64
	err := db.GetContext(ctx, &id, `SELECT id FROM interactions WHERE channel = ? AND account = ? AND customer = ?`,
		in.Channel, in.Account, in.Customer)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("router: find the interaction of %s %q: %w", in.Channel, in.Customer, err)
	}
	return id, nil
}

// createInteraction creates a new customer's interaction inside the
// message's transaction; ok is false when one exists (created since
// findInteraction looked), and the caller must then roll back: on MariaDB
// the ignored INSERT left a shared lock on that row, and updating it in
// this transaction could deadlock with the other delivery doing the same.
func createInteraction(ctx context.Context, tx *sqlx.Tx, insertIgnore string, in Inbound, now time.Time) (id int64, ok bool, err error) {
	// last_seq is 1 from the start: the message that opens it is inserted
	// next with seq 1 (insertMessageOf, first).
	res, err := tx.ExecContext(ctx, insertIgnore+` interactions (channel, account, customer, customer_name, queue_id, status,
 tags, last_seq, queued_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, '[]', 1, ?, ?, ?)`,
		in.Channel, in.Account, in.Customer, in.CustomerName, in.QueueID, StatusQueued, now, now, now)
	if err != nil {
		return 0, false, fmt.Errorf("router: open the interaction of %s %q: %w", in.Channel, in.Customer, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return 0, false, err
	}
	id, err = res.LastInsertId()
	return id, err == nil, err
}

// ensureInteraction creates the interaction of the customer's identity
// unless it exists, and answers its id; created is true for the one caller
// whose INSERT made it. It runs on its own, before the message's
// transaction: INSERT IGNORE of an existing key takes a shared lock on
// MariaDB, and a transaction that then updates the row (the seq) would
// deadlock with every other delivery for the same customer doing the same.
// The unique key on the identity makes racing first deliveries share it.
func ensureInteraction(ctx context.Context, db sqlx.ExtContext, insertIgnore string, in Inbound, now time.Time) (id int64, created bool, err error) {
	n, err := exec(ctx, db, insertIgnore+` interactions (channel, account, customer, customer_name, queue_id, status,
 tags, queued_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, '[]', ?, ?, ?)`,
		in.Channel, in.Account, in.Customer, in.CustomerName, in.QueueID, StatusQueued, now, now, now)
	if err != nil {
		return 0, false, fmt.Errorf("router: open the interaction of %s %q: %w", in.Channel, in.Customer, err)
	}
	if err := sqlx.GetContext(ctx, db, &id, `SELECT id FROM interactions WHERE channel = ? AND account = ? AND customer = ?`,
		in.Channel, in.Account, in.Customer); err != nil {
		return 0, false, fmt.Errorf("router: find the interaction of %s %q: %w", in.Channel, in.Customer, err)
	}
	return id, n == 1, nil
}

// reopenClosed puts a closed interaction back in its (new) queue: a
// customer writing to a closed conversation reopens it for the first free
// agent. It is the first statement of the message's transaction, so the
// interaction's row lock is taken exclusively from the start.
func reopenClosed(ctx context.Context, tx *sqlx.Tx, id, queueID int64, now time.Time) (bool, error) {
	n, err := exec(ctx, tx, `UPDATE interactions SET status = ?, agent_id = NULL, queue_id = ?, disposition = '',
 unread = 0, queued_at = ?, updated_at = ?, closed_at = NULL, accepted_at = NULL WHERE id = ? AND status = ?`,
		StatusQueued, queueID, now, now, id, StatusClosed)
	if err != nil {
		return false, fmt.Errorf("router: reopen interaction %d: %w", id, err)
	}
	return n == 1, nil
}

// errDuplicate rolls back a message insert whose client_id or external_id
// is already stored.
var errDuplicate = errors.New("duplicate message")

// insertMessage stores m with the interaction's next seq. Bumping last_seq
// first takes the interaction's row lock, so a racing retry of the same
// client_id/external_id waits and then sees the first one; the unique keys
// are the last word either way.
func insertMessage(ctx context.Context, tx *sqlx.Tx, m *Message) error {
	return insertMessageOf(ctx, tx, m, notNew)
}

// How new the interaction of a message being inserted is.
const (
	notNew = iota
	// created for this message, no message stored in it yet: none can be a
	// retry of m (the unique keys still stand guard).
	created
	// first: created in this very transaction by createInteraction, which
	// set its last_seq to 1 for m.
	first
)

// insertMessageOf is insertMessage for an interaction as new as fresh says.
func insertMessageOf(ctx context.Context, tx *sqlx.Tx, m *Message, fresh int) error {
	if fresh == first {
		m.Seq = 1
		return insertMessageRow(ctx, tx, m)
	}
	if _, err := exec(ctx, tx, `UPDATE interactions SET last_seq = last_seq + 1, updated_at = ? WHERE id = ?`, m.CreatedAt, m.InteractionID); err != nil {
		return fmt.Errorf("router: next seq of interaction %d: %w", m.InteractionID, err)
	}
	if (m.ClientID != nil || m.ExternalID != nil) && fresh == notNew {
		var n int
		if err := sqlx.GetContext(ctx, tx, &n, `SELECT COUNT(*) FROM interaction_messages WHERE interaction_id = ?
 AND (client_id = ? OR external_id = ?)`, m.InteractionID, m.ClientID, m.ExternalID); err != nil {
			return fmt.Errorf("router: look for a retried message: %w", err)
		}
		if n > 0 {
			return errDuplicate
		}
	}
	if err := sqlx.GetContext(ctx, tx, &m.Seq, `SELECT last_seq FROM interactions WHERE id = ?`, m.InteractionID); err != nil {
		return fmt.Errorf("router: read seq of interaction %d: %w", m.InteractionID, err)
	}
	return insertMessageRow(ctx, tx, m)
}

// insertMessageRow inserts m with its seq.
func insertMessageRow(ctx context.Context, tx *sqlx.Tx, m *Message) error {
	att, _ := json.Marshal(m.Attachments)
	if m.Attachments == nil {
		att = []byte("[]")
	}
	m.AttachJSON = string(att)
	res, err := tx.ExecContext(ctx, `INSERT INTO interaction_messages (interaction_id, seq, direction, body, attachments,
 client_id, external_id, status, agent_id, attempts, error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '', ?)`,
		m.InteractionID, m.Seq, m.Direction, m.Body, m.AttachJSON, m.ClientID, m.ExternalID, m.Status, m.AgentID, m.CreatedAt)
	if store.IsUniqueViolation(err) {
		return errDuplicate
	}
	if err != nil {
		return fmt.Errorf("router: store message of interaction %d: %w", m.InteractionID, err)
	}
	m.ID, _ = res.LastInsertId()
	if m.Attachments == nil {
		m.Attachments = []string{}
	}
	return nil
}

// findRetried reads the message a retried delivery or reply duplicates.
func findRetried(ctx context.Context, q sqlx.QueryerContext, interactionID int64, clientID, externalID *string) (*Message, error) {
	var m Message
	err := sqlx.GetContext(ctx, q, &m, messageSelect+` WHERE interaction_id = ? AND (client_id = ? OR external_id = ?)
 ORDER BY seq LIMIT 1`, interactionID, clientID, externalID)
	if err != nil {
		return nil, fmt.Errorf("router: read the retried message of interaction %d: %w", interactionID, err)
	}
	m.decode()
	return &m, nil
}

func readMessage(ctx context.Context, q sqlx.QueryerContext, id int64) (*Message, error) {
	var m Message
	if err := sqlx.GetContext(ctx, q, &m, messageSelect+` WHERE id = ?`, id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("message %d: %w", id, ErrNotFound)
		}
		return nil, fmt.Errorf("router: read message %d: %w", id, err)
	}
	m.decode()
	return &m, nil
}

type offerRow struct {
	InteractionID int64         `db:"interaction_id"`
	AgentID       int64         `db:"agent_id"`
	Kind          string        `db:"kind"`
	ToQueueID     sql.NullInt64 `db:"to_queue_id"`
	ExpiresAt     time.Time     `db:"expires_at"`
}

func isUnique(err error) bool { return store.IsUniqueViolation(err) }

// inTx is store's InTxRetry: concurrent first messages of one new customer
// (an album of photos) take shared locks on the new interaction row by
// INSERT IGNORE and then both want it exclusively, and MariaDB rolls one
// back (1213). SQLite takes the write lock up front and never deadlocks.
func inTx(ctx context.Context, db *store.DB, fn func(tx *sqlx.Tx) error) error {
	return db.InTxRetry(ctx, fn)
}
