package whatsapp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"omnicc/domain"
	"omnicc/store"
)

// Message is a stored WhatsApp message, in or out.
type Message struct {
	ID          int64          `json:"id" db:"id"`
	AccountID   int64          `json:"account_id" db:"account_id"`
	Direction   string         `json:"direction" db:"direction"`
	ExternalID  sql.NullString `json:"-" db:"external_id"`
	WaID        string         `json:"wa_id" db:"wa_id"`
	Name        string         `json:"name" db:"name"`
	Kind        string         `json:"kind" db:"kind"`
	Body        string         `json:"body" db:"body"`
	Payload     string         `json:"payload" db:"payload"`
	MediaID     string         `json:"media_id" db:"media_id"`
	MediaMIME   string         `json:"media_mime" db:"media_mime"`
	MediaSHA256 string         `json:"media_sha256" db:"media_sha256"`
	ReplyTo     string         `json:"reply_to" db:"reply_to"`
	Status      string         `json:"status" db:"status"`
	ErrorCode   int            `json:"error_code" db:"error_code"`
	ErrorTitle  string         `json:"error_title" db:"error_title"`
	Attempts    int            `json:"attempts" db:"attempts"`
	SentAt      time.Time      `json:"sent_at" db:"sent_at"`
	CreatedAt   time.Time      `json:"created_at" db:"created_at"`
	DeliveredAt sql.NullTime   `json:"-" db:"delivered_at"`
	// MediaState is '' (no media), pending, stored or failed (retried).
	MediaState    string `json:"media_state" db:"media_state"`
	MediaPath     string `json:"-" db:"media_path"`
	MediaSize     int64  `json:"media_size" db:"media_size"`
	MediaAttempts int    `json:"media_attempts" db:"media_attempts"`
	MediaError    string `json:"media_error" db:"media_error"`
}

const messageColumns = `id, account_id, direction, external_id, wa_id, name, kind, COALESCE(body, '') AS body,
	COALESCE(payload, '') AS payload, media_id, media_mime, media_sha256, reply_to, status, error_code, error_title,
	attempts, sent_at, created_at, delivered_at, media_state, media_path, media_size, media_attempts, media_error`

// SaveInbound stores a delivery's messages, each once: the unique key on
// (account_id, external_id) turns a redelivered wamid/MessageSid into a
// no-op. It reports how many were new. Every new message from the customer
// opens or extends the conversation's window; an older message delivered
// late never shortens it.
func (s *Store) SaveInbound(ctx context.Context, accountID int64, msgs []InboundMessage) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	now := s.clock.Now().UTC()
	added := 0
	// One transaction per delivery: one commit (one fsync) however many
	// messages it carries, and the 200 is sent only once all are durable.
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		added = 0
		for _, m := range msgs {
			at := m.At
			if at.IsZero() || at.After(now) {
				at = now
			}
			var media Media
			mediaState := ""
			if m.Media != nil && m.Media.ID != "" {
				media = *m.Media
				mediaState = "pending"
			}
			// INSERT IGNORE / OR IGNORE: a redelivered wamid is skipped by the
			// unique key without aborting the transaction.
			res, err := tx.ExecContext(ctx, s.db.InsertIgnore()+` whatsapp_messages (account_id, direction, external_id, wa_id, name,
				kind, body, payload, media_id, media_mime, media_sha256, reply_to, status, status_rank, sent_at, created_at, media_state)
				VALUES (?, 'in', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'received', 0, ?, ?, ?)`,
				accountID, m.ExternalID, m.From, truncate(m.Name, 255), m.Kind, m.Body, m.Payload,
				truncate(media.ID, 512), truncate(media.MIMEType, 128), truncate(media.SHA256, 128), truncate(m.ReplyTo, 128), at, now, mediaState)
			if err != nil {
				return fmt.Errorf("whatsapp: store message %s: %w", m.ExternalID, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			added++
			if m.Kind == "system" {
				continue // Meta's own notices are not the customer writing
			}
			if err := s.extendWindow(ctx, tx, accountID, m.From, at); err != nil {
				return err
			}
		}
		return nil
	})
	return added, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// extendWindow opens or moves the window forward in one statement — an
// upsert, the one place the engines differ here — so concurrent deliveries
// for one customer neither deadlock nor move it back.
func (s *Store) extendWindow(ctx context.Context, tx *sqlx.Tx, accountID int64, waID string, at time.Time) error {
	exp := at.Add(Window)
	q := `INSERT INTO whatsapp_conversations (account_id, wa_id, last_inbound_at, window_expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (account_id, wa_id) DO UPDATE SET last_inbound_at = excluded.last_inbound_at,
		window_expires_at = excluded.window_expires_at WHERE excluded.window_expires_at > whatsapp_conversations.window_expires_at`
	if s.db.Dialect == store.MySQL {
		q = `INSERT INTO whatsapp_conversations (account_id, wa_id, last_inbound_at, window_expires_at) VALUES (?, ?, ?, ?)
		ON DUPLICATE KEY UPDATE last_inbound_at = IF(VALUES(window_expires_at) > window_expires_at, VALUES(last_inbound_at), last_inbound_at),
		window_expires_at = GREATEST(window_expires_at, VALUES(window_expires_at))`
	}
	if _, err := tx.ExecContext(ctx, q, accountID, waID, at, exp); err != nil {
		return fmt.Errorf("whatsapp: open or extend the window of %s: %w", waID, err)
	}
	return nil
}

// WindowExpiresAt is when the conversation with waID stops accepting free
// text; the zero time when the customer never wrote.
func (s *Store) WindowExpiresAt(ctx context.Context, accountID int64, waID string) (time.Time, error) {
	var t time.Time
	err := s.db.GetContext(ctx, &t, `SELECT window_expires_at FROM whatsapp_conversations WHERE account_id = ? AND wa_id = ?`, accountID, waID)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return t, fmt.Errorf("whatsapp: window of %s: %w", waID, err)
	}
	return t.UTC(), nil
}

// ApplyStatus moves an outbound message forward (sent → delivered → read,
// or failed, which is final); an older or repeated status changes nothing.
// The message is found by our id (biz_opaque_callback_data / ref) when the
// status carries it — a status may arrive before the send's answer — and by
// its wamid/MessageSid otherwise. It reports the message when it moved.
func (s *Store) ApplyStatus(ctx context.Context, accountID int64, ev StatusEvent) (*StatusUpdate, error) {
	rank := statusRank(ev.Status)
	if rank <= 0 {
		return nil, nil
	}
	var pricing any
	if len(ev.Pricing) > 0 && string(ev.Pricing) != "null" {
		pricing = string(ev.Pricing)
	}
	var id int64
	if ref, ok := parseRef(ev.Ref); ok {
		id = ref
	} else {
		err := s.db.GetContext(ctx, &id, `SELECT id FROM whatsapp_messages WHERE account_id = ? AND external_id = ?`, accountID, ev.ExternalID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil // not ours (sent from another tool on the same number)
		}
		if err != nil {
			return nil, fmt.Errorf("whatsapp: find message %s: %w", ev.ExternalID, err)
		}
	}
	res, err := s.db.ExecContext(ctx, `UPDATE whatsapp_messages SET status = ?, status_rank = ?, error_code = ?, error_title = ?,
		pricing = COALESCE(?, pricing), external_id = COALESCE(external_id, ?)
		WHERE id = ? AND account_id = ? AND direction = 'out' AND status_rank < ? AND status_rank < 4`,
		ev.Status, rank, ev.ErrorCode, truncate(ev.ErrorTitle, 512), pricing, ev.ExternalID, id, accountID, rank)
	if err != nil {
		return nil, fmt.Errorf("whatsapp: status of %s: %w", ev.ExternalID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, nil
	}
	at := ev.At
	if at.IsZero() {
		at = s.clock.Now().UTC()
	}
	var routerMsg sql.NullInt64
	if err := s.db.GetContext(ctx, &routerMsg, `SELECT interaction_message_id FROM whatsapp_messages WHERE id = ?`, id); err != nil {
		return nil, fmt.Errorf("whatsapp: router message of %s: %w", ev.ExternalID, err)
	}
	return &StatusUpdate{AccountID: accountID, MessageID: id, ExternalID: ev.ExternalID, Status: ev.Status,
		ErrorCode: ev.ErrorCode, ErrorTitle: ev.ErrorTitle, At: at, InteractionMessageID: routerMsg.Int64}, nil
}

// refPrefix marks our ids in biz_opaque_callback_data and Twilio's ref.
const refPrefix = "omnicc:"

func makeRef(id int64) string { return fmt.Sprintf("%s%d", refPrefix, id) }

func parseRef(s string) (int64, bool) {
	var id int64
	if _, err := fmt.Sscanf(s, refPrefix+"%d", &id); err != nil || id < 1 {
		return 0, false
	}
	return id, true
}

// Message loads one stored message.
func (s *Store) Message(ctx context.Context, id int64) (Message, error) {
	var m Message
	err := s.db.GetContext(ctx, &m, `SELECT `+messageColumns+` FROM whatsapp_messages WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("whatsapp message %d: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return m, fmt.Errorf("whatsapp: load message %d: %w", id, err)
	}
	return m, nil
}

// MessageForInteraction loads the WhatsApp message that carries the
// router's message interactionMessageID (ErrNotFound when none was stored,
// e.g. the send was refused before it).
func (s *Store) MessageForInteraction(ctx context.Context, interactionMessageID int64) (Message, error) {
	var m Message
	err := s.db.GetContext(ctx, &m, `SELECT `+messageColumns+` FROM whatsapp_messages WHERE interaction_message_id = ?
		ORDER BY id DESC LIMIT 1`, interactionMessageID)
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("whatsapp message of interaction message %d: %w", interactionMessageID, domain.ErrNotFound)
	}
	if err != nil {
		return m, fmt.Errorf("whatsapp: load the message of interaction message %d: %w", interactionMessageID, err)
	}
	return m, nil
}

// Messages lists an account's messages with one customer, oldest first.
func (s *Store) Messages(ctx context.Context, accountID int64, waID string) ([]Message, error) {
	var out []Message
	err := s.db.SelectContext(ctx, &out, `SELECT `+messageColumns+` FROM whatsapp_messages WHERE account_id = ? AND wa_id = ? ORDER BY id`, accountID, waID)
	if err != nil {
		return nil, fmt.Errorf("whatsapp: list messages of %s: %w", waID, err)
	}
	return out, nil
}

// pendingInbound are stored inbound messages the inbox has not taken yet,
// oldest first.
func (s *Store) pendingInbound(ctx context.Context, limit int) ([]Message, error) {
	var out []Message
	err := s.db.SelectContext(ctx, &out, `SELECT `+messageColumns+` FROM whatsapp_messages
		WHERE direction = 'in' AND delivered_at IS NULL ORDER BY id LIMIT ?`, limit)
	return out, err
}

func (s *Store) markDelivered(ctx context.Context, id int64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE whatsapp_messages SET delivered_at = ? WHERE id = ?`, s.clock.Now().UTC(), id)
	return err
}

// saveOutbound stores an outbound message before any provider call, so an
// outage never loses an agent's message.
// outboundRefs are what an outbound message is for: the router's message it
// carries and the template it sends (0: none).
type outboundRefs struct{ interactionMessage, template int64 }

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func (s *Store) saveOutbound(ctx context.Context, accountID int64, to, kind, body, mediaURL string, refs outboundRefs) (int64, error) {
	now := s.clock.Now().UTC()
	res, err := s.db.ExecContext(ctx, `INSERT INTO whatsapp_messages (account_id, direction, wa_id, kind, body, media_id,
		status, status_rank, sent_at, created_at, interaction_message_id, template_id) VALUES (?, 'out', ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)`,
		accountID, to, kind, body, truncate(mediaURL, 512), now, now, nullID(refs.interactionMessage), nullID(refs.template))
	if err != nil {
		return 0, fmt.Errorf("whatsapp: store outbound message: %w", err)
	}
	return res.LastInsertId()
}

func (s *Store) sendResult(ctx context.Context, id int64, externalID string, attempts int, failCode int, failTitle string) error {
	var err error
	if failTitle != "" {
		_, err = s.db.ExecContext(ctx, `UPDATE whatsapp_messages SET status = 'failed', status_rank = 4, error_code = ?,
			error_title = ?, attempts = ? WHERE id = ? AND status_rank < 4`, failCode, truncate(failTitle, 512), attempts, id)
	} else {
		// The status may already have moved (a webhook can beat the answer):
		// only the wamid and the attempts are written here.
		_, err = s.db.ExecContext(ctx, `UPDATE whatsapp_messages SET external_id = ?, attempts = ? WHERE id = ?`, externalID, attempts, id)
	}
	if err != nil {
		return fmt.Errorf("whatsapp: record the send of message %d: %w", id, err)
	}
	return nil
}
