package whatsapp

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
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
// late never shortens it. It returns once the messages are committed.
func (s *Store) SaveInbound(ctx context.Context, accountID int64, msgs []InboundMessage) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	return s.inbound.save(ctx, s, &inboundWrite{accountID: accountID, msgs: msgs, wake: make(chan struct{})})
}

// Group commit. A delivery is acknowledged only once it is durable, and on
// MariaDB a commit is an fsync. With one transaction per delivery, every
// delivery held a REST pool connection across its own fsync: at 500
// deliveries a second on a busy server the pool ran dry and answers queued
// for seconds behind it (the block profile: all waiting in database/sql's
// conn, for the account lookup and BeginTx). Now up to inboundWriters
// transactions are in flight; a delivery arriving while all are busy waits
// and is written with the others that waited, in one transaction and one
// fsync, by the first of them when a writer finishes. At low rates each
// delivery is written alone, at once, as before.

// inboundWriters is how many batch transactions may be in flight at once.
const inboundWriters = 4

// maxInboundBatch bounds the deliveries of one transaction.
const maxInboundBatch = 256

// inboundWriteTimeout bounds one batch's transaction: it runs detached
// from the request that happens to lead it, whose cancellation must not
// fail the others' deliveries.
const inboundWriteTimeout = 30 * time.Second

type inboundWrite struct {
	accountID int64
	msgs      []InboundMessage
	added     int
	err       error
	// Under groupCommit.mu: done once written; batch set when this
	// delivery is to write it (it leads).
	done  bool
	batch []*inboundWrite
	wake  chan struct{} // closed when done, or when it leads
}

// groupCommit keeps the invariant that deliveries wait in queue only
// while all inboundWriters are busy.
type groupCommit struct {
	mu      sync.Mutex
	queue   []*inboundWrite
	writers int
}

func (g *groupCommit) save(ctx context.Context, s *Store, w *inboundWrite) (int, error) {
	g.mu.Lock()
	if g.writers < inboundWriters {
		g.writers++
		w.batch = []*inboundWrite{w}
		g.mu.Unlock()
	} else {
		g.queue = append(g.queue, w)
		g.mu.Unlock()
		// Not abandoned on ctx: the delivery may be handed the next
		// batch, which others wait on; a batch is bounded by
		// inboundWriteTimeout.
		<-w.wake
		g.mu.Lock()
		done := w.done
		g.mu.Unlock()
		if done {
			return w.added, w.err
		}
	}
	batch := w.batch
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), inboundWriteTimeout)
	func() {
		// Whatever happens the batch is answered and the slot handed on:
		// a writer that vanished would leave every later delivery waiting.
		defer func() {
			if p := recover(); p != nil {
				for _, b := range batch {
					b.added, b.err = 0, fmt.Errorf("whatsapp: storing a batch of deliveries panicked: %v", p)
				}
			}
		}()
		s.writeInbound(wctx, batch)
	}()
	cancel()

	g.mu.Lock()
	for _, b := range batch {
		b.done = true
	}
	var next *inboundWrite
	if len(g.queue) > 0 {
		// This writer's slot passes to the first delivery waiting, with
		// all that waited (up to the batch limit).
		n := min(len(g.queue), maxInboundBatch)
		next = g.queue[0]
		next.batch = g.queue[:n:n]
		g.queue = append([]*inboundWrite(nil), g.queue[n:]...)
	} else {
		g.writers--
	}
	g.mu.Unlock()
	for _, b := range batch {
		if b != w {
			close(b.wake)
		}
	}
	if next != nil {
		close(next.wake)
	}
	return w.added, w.err
}

// writeInbound commits a batch in one transaction. Should it fail (one
// delivery's bad row), each delivery is written on its own, so one cannot
// fail the others; MariaDB's deadlock victim is retried first.
func (s *Store) writeInbound(ctx context.Context, batch []*inboundWrite) {
	err := withDeadlockRetry(func() error {
		return s.db.InTx(ctx, func(tx *sqlx.Tx) error { return s.insertInbound(ctx, tx, batch) })
	})
	if err == nil {
		return
	}
	if len(batch) == 1 {
		batch[0].added, batch[0].err = 0, err
		return
	}
	for _, w := range batch {
		w.err = withDeadlockRetry(func() error {
			return s.db.InTx(ctx, func(tx *sqlx.Tx) error { return s.insertInbound(ctx, tx, []*inboundWrite{w}) })
		})
		if w.err != nil {
			w.added = 0
		}
	}
}

// errInboundRace: another transaction stored one of the batch's wamids
// between the look-up and the insert, so the counts of new messages would
// be wrong; the batch is written again and then sees it.
var errInboundRace = errors.New("whatsapp: a wamid of the batch was stored meanwhile")

// withDeadlockRetry runs a transaction again when MariaDB rolled it back
// whole as a deadlock victim, or when its counts raced (errInboundRace).
func withDeadlockRetry(fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if attempt < 5 && (store.IsDeadlock(err) || errors.Is(err, errInboundRace)) {
			continue
		}
		return err
	}
}

// rowsPerStatement bounds the rows of one multi-row statement (16
// parameters a message, far under either engine's limit).
const rowsPerStatement = 100

type inboundRow struct {
	w  *inboundWrite
	m  InboundMessage
	at time.Time
}

// insertInbound writes a batch's messages in tx with a few multi-row
// statements — the round trips, not the rows, are what a loaded server
// makes slow — and sets each delivery's count of new messages. Rows go in
// one order (account, customer, wamid), so batches in flight together lock
// keys in the same order and do not deadlock each other.
func (s *Store) insertInbound(ctx context.Context, tx *sqlx.Tx, batch []*inboundWrite) error {
	now := s.clock.Now().UTC()
	var rows []inboundRow
	for _, w := range batch {
		w.added = 0
		for _, m := range w.msgs {
			at := m.At
			if at.IsZero() || at.After(now) {
				at = now
			}
			rows = append(rows, inboundRow{w: w, m: m, at: at})
		}
	}
	slices.SortStableFunc(rows, func(a, b inboundRow) int {
		return cmp.Or(cmp.Compare(a.w.accountID, b.w.accountID), strings.Compare(a.m.From, b.m.From),
			strings.Compare(a.m.ExternalID, b.m.ExternalID))
	})
	// A wamid twice in the batch is written (and counted) once.
	rows = slices.CompactFunc(rows, func(a, b inboundRow) bool {
		return a.w.accountID == b.w.accountID && a.m.ExternalID == b.m.ExternalID && a.m.From == b.m.From
	})
	// Which are already stored: one query per account and chunk. A lone row
	// needs none — its INSERT's rows affected says.
	stored := map[string]bool{}
	if len(rows) > 1 {
		for chunk := range slices.Chunk(rows, rowsPerStatement) {
			for _, group := range byAccount(chunk) {
				q := `SELECT external_id FROM whatsapp_messages WHERE account_id = ? AND external_id IN (?` +
					strings.Repeat(", ?", len(group)-1) + `)`
				args := []any{group[0].w.accountID}
				for _, r := range group {
					args = append(args, r.m.ExternalID)
				}
				var ids []string
				if err := tx.SelectContext(ctx, &ids, q, args...); err != nil {
					return fmt.Errorf("whatsapp: look for redelivered messages: %w", err)
				}
				for _, id := range ids {
					stored[inboundKey(group[0].w.accountID, id)] = true
				}
			}
		}
	}
	// INSERT IGNORE / OR IGNORE: a redelivered wamid is skipped by the
	// unique key without aborting the transaction.
	for chunk := range slices.Chunk(rows, rowsPerStatement) {
		q := s.db.InsertIgnore() + ` whatsapp_messages (account_id, direction, external_id, wa_id, name,
			kind, body, payload, media_id, media_mime, media_sha256, reply_to, status, status_rank, sent_at, created_at, media_state)
			VALUES (?, 'in', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'received', 0, ?, ?, ?)` +
			strings.Repeat(`, (?, 'in', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'received', 0, ?, ?, ?)`, len(chunk)-1)
		args := make([]any, 0, 15*len(chunk))
		for _, r := range chunk {
			m := r.m
			var media Media
			mediaState := ""
			if m.Media != nil && m.Media.ID != "" {
				media = *m.Media
				mediaState = "pending"
			}
			args = append(args, r.w.accountID, m.ExternalID, m.From, truncate(m.Name, 255), m.Kind, m.Body, m.Payload,
				truncate(media.ID, 512), truncate(media.MIMEType, 128), truncate(media.SHA256, 128), truncate(m.ReplyTo, 128),
				r.at, now, mediaState)
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("whatsapp: store %d messages (first %s): %w", len(chunk), chunk[0].m.ExternalID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if len(rows) == 1 {
			if n == 0 {
				stored[inboundKey(rows[0].w.accountID, rows[0].m.ExternalID)] = true
			}
			continue
		}
		want := 0
		for _, r := range chunk {
			if !stored[inboundKey(r.w.accountID, r.m.ExternalID)] {
				want++
			}
		}
		if int(n) != want {
			return errInboundRace
		}
	}
	// Each conversation's window moves to its latest message of the batch.
	// A redelivery carries the time it had the first time, so it changes
	// nothing: every customer message may go in. Meta's own notices
	// (system) are not the customer writing.
	type conv struct {
		account int64
		waID    string
		at      time.Time
	}
	var convs []conv
	for _, r := range rows {
		if !stored[inboundKey(r.w.accountID, r.m.ExternalID)] {
			r.w.added++
		}
		if r.m.Kind == "system" {
			continue
		}
		if n := len(convs); n > 0 && convs[n-1].account == r.w.accountID && convs[n-1].waID == r.m.From {
			if r.at.After(convs[n-1].at) {
				convs[n-1].at = r.at
			}
			continue
		}
		convs = append(convs, conv{r.w.accountID, r.m.From, r.at})
	}
	for chunk := range slices.Chunk(convs, rowsPerStatement) {
		args := make([]any, 0, 4*len(chunk))
		for _, c := range chunk {
			args = append(args, c.account, c.waID, c.at, c.at.Add(Window))
		}
		if err := s.extendWindows(ctx, tx, len(chunk), args); err != nil {
			return err
		}
	}
	return nil
}

func inboundKey(account int64, externalID string) string {
	return strconv.FormatInt(account, 10) + "/" + externalID
}

// byAccount splits rows sorted by account into one group per account.
func byAccount(rows []inboundRow) [][]inboundRow {
	var out [][]inboundRow
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && rows[j].w.accountID == rows[i].w.accountID {
			j++
		}
		out = append(out, rows[i:j])
		i = j
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// extendWindows opens or moves windows forward — n conversations, args
// (account_id, wa_id, last_inbound_at, window_expires_at) for each — in one
// upsert, the one place the engines differ here, so concurrent deliveries
// for one customer neither deadlock nor move a window back.
func (s *Store) extendWindows(ctx context.Context, tx *sqlx.Tx, n int, args []any) error {
	values := `(?, ?, ?, ?)` + strings.Repeat(`, (?, ?, ?, ?)`, n-1)
	q := `INSERT INTO whatsapp_conversations (account_id, wa_id, last_inbound_at, window_expires_at) VALUES ` + values + `
		ON CONFLICT (account_id, wa_id) DO UPDATE SET last_inbound_at = excluded.last_inbound_at,
		window_expires_at = excluded.window_expires_at WHERE excluded.window_expires_at > whatsapp_conversations.window_expires_at`
	if s.db.Dialect == store.MySQL {
		q = `INSERT INTO whatsapp_conversations (account_id, wa_id, last_inbound_at, window_expires_at) VALUES ` + values + `
		ON DUPLICATE KEY UPDATE last_inbound_at = IF(VALUES(window_expires_at) > window_expires_at, VALUES(last_inbound_at), last_inbound_at),
		window_expires_at = GREATEST(window_expires_at, VALUES(window_expires_at))`
	}
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("whatsapp: open or extend the window of %d conversations: %w", n, err)
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

func (s *Store) markDelivered(ctx context.Context, ids ...int64) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, 0, len(ids)+1)
	args = append(args, s.clock.Now().UTC())
	for _, id := range ids {
		args = append(args, id)
	}
	_, err := s.db.ExecContext(ctx, `UPDATE whatsapp_messages SET delivered_at = ? WHERE id IN (?`+
		strings.Repeat(",?", len(ids)-1)+`)`, args...)
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
