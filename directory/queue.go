package directory

import (
	"context"
	"database/sql"
	"errors"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"omnicc/store"
)

// ChannelVoice is the queue channel Asterisk's app_queue serves.
const ChannelVoice = "voice"

var (
	queueChannels    = append([]string{ChannelVoice}, DigitalChannels...)
	voiceStrategies  = []string{"ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "linear", "wrandom"}
	digitalStrategy  = []string{"beepall", "roundrobin", "leastrecent", "fewestinteractions"}
	emptyConditions  = []string{"paused", "penalty", "inuse", "ringing", "unavailable", "invalid", "unknown", "wrapup"}
	queueNameRe      = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
	mohClassRe       = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
	announceHoldtime = []string{"yes", "no", "once"}
)

// Queue is a voice queue (served by Asterisk's app_queue through the realtime
// `queues` table, with its option names) or a digital one (routed by omnicc).
type Queue struct {
	ID          int64  `json:"id" db:"id"`
	Name        string `json:"name" db:"name"`
	Channel     string `json:"channel" db:"channel"`
	Description string `json:"description" db:"description"`
	Strategy    string `json:"strategy" db:"strategy"`
	// Voice: app_queue options, named as in queues.conf.
	Timeout           int    `json:"timeout" db:"timeout"`
	Retry             int    `json:"retry" db:"retry"`
	WrapUpTime        int    `json:"wrapuptime" db:"wrapuptime"`
	MaxLen            int    `json:"maxlen" db:"maxlen"`
	MusicOnHold       string `json:"musiconhold" db:"musiconhold"`
	JoinEmpty         string `json:"joinempty" db:"joinempty"`
	LeaveWhenEmpty    string `json:"leavewhenempty" db:"leavewhenempty"`
	RingInUse         bool   `json:"ringinuse" db:"ringinuse"`
	AnnounceFrequency int    `json:"announce_frequency" db:"announce_frequency"`
	AnnounceHoldtime  string `json:"announce_holdtime" db:"announce_holdtime"`
	// RecordCalls records every call an agent answers from the queue
	// (inactive, wav, wav49, gsm), started by omniccd over the AMI.
	RecordCalls string `json:"record_calls" db:"record_calls"`
	// Digital: how long an agent has to accept an offer, and a transfer.
	OfferTimeout    int `json:"offer_timeout" db:"offer_timeout"`
	TransferTimeout int `json:"transfer_timeout" db:"transfer_timeout"`
	// Digital: close an interaction with no message for IdleClose seconds
	// (0 = never), and refuse a close without a disposition.
	IdleClose          int  `json:"idle_close" db:"idle_close"`
	RequireDisposition bool `json:"require_disposition" db:"require_disposition"`
	// AIAssistantID, on a digital queue, sends new interactions to the
	// assistant's webhook first; agents get them on its handoff.
	AIAssistantID *int64    `json:"ai_assistant_id" db:"ai_assistant_id"`
	CreatedAt     time.Time `json:"created_at" db:"created_at"`
	UpdatedAt     time.Time `json:"updated_at" db:"updated_at"`
}

// QueueInput is a create or partial update of a queue.
type QueueInput struct {
	Name               *string `json:"name"`
	Channel            *string `json:"channel"`
	Description        *string `json:"description"`
	Strategy           *string `json:"strategy"`
	Timeout            *int    `json:"timeout"`
	Retry              *int    `json:"retry"`
	WrapUpTime         *int    `json:"wrapuptime"`
	MaxLen             *int    `json:"maxlen"`
	MusicOnHold        *string `json:"musiconhold"`
	JoinEmpty          *string `json:"joinempty"`
	LeaveWhenEmpty     *string `json:"leavewhenempty"`
	RingInUse          *bool   `json:"ringinuse"`
	AnnounceFrequency  *int    `json:"announce_frequency"`
	AnnounceHoldtime   *string `json:"announce_holdtime"`
	RecordCalls        *string `json:"record_calls"`
	OfferTimeout       *int    `json:"offer_timeout"`
	TransferTimeout    *int    `json:"transfer_timeout"`
	IdleClose          *int    `json:"idle_close"`
	RequireDisposition *bool   `json:"require_disposition"`
	// AIAssistantID: 0 clears it.
	AIAssistantID *int64 `json:"ai_assistant_id"`
}

func (in *QueueInput) apply(q *Queue) {
	set(&q.Name, in.Name)
	set(&q.Channel, in.Channel)
	set(&q.Description, in.Description)
	set(&q.Strategy, in.Strategy)
	set(&q.Timeout, in.Timeout)
	set(&q.Retry, in.Retry)
	set(&q.WrapUpTime, in.WrapUpTime)
	set(&q.MaxLen, in.MaxLen)
	set(&q.MusicOnHold, in.MusicOnHold)
	set(&q.JoinEmpty, in.JoinEmpty)
	set(&q.LeaveWhenEmpty, in.LeaveWhenEmpty)
	set(&q.RingInUse, in.RingInUse)
	set(&q.AnnounceFrequency, in.AnnounceFrequency)
	set(&q.AnnounceHoldtime, in.AnnounceHoldtime)
	set(&q.RecordCalls, in.RecordCalls)
	set(&q.OfferTimeout, in.OfferTimeout)
	set(&q.TransferTimeout, in.TransferTimeout)
	set(&q.IdleClose, in.IdleClose)
	set(&q.RequireDisposition, in.RequireDisposition)
	if in.AIAssistantID != nil {
		q.AIAssistantID = nil
		if id := *in.AIAssistantID; id != 0 {
			q.AIAssistantID = &id
		}
	}
}

func (q *Queue) validate() error {
	if !queueNameRe.MatchString(q.Name) {
		return fieldErr("name", "%q must be 1-128 letters, digits, '_', '.' or '-' (Asterisk uses it in the dialplan)", q.Name)
	}
	if !slices.Contains(queueChannels, q.Channel) {
		return fieldErr("channel", "%q must be one of %s", q.Channel, strings.Join(queueChannels, ", "))
	}
	if q.Channel == ChannelVoice {
		if !slices.Contains(voiceStrategies, q.Strategy) {
			return fieldErr("strategy", "%q is not an app_queue strategy: use one of %s", q.Strategy, strings.Join(voiceStrategies, ", "))
		}
	} else if !slices.Contains(digitalStrategy, q.Strategy) {
		return fieldErr("strategy", "%q is not a %s queue strategy: use one of %s", q.Strategy, q.Channel, strings.Join(digitalStrategy, ", "))
	}
	for _, f := range []struct {
		name      string
		v, lo, hi int
	}{
		{"timeout", q.Timeout, 0, 3600}, {"retry", q.Retry, 0, 3600}, {"wrapuptime", q.WrapUpTime, 0, 3600},
		{"maxlen", q.MaxLen, 0, 100000}, {"announce_frequency", q.AnnounceFrequency, 0, 3600},
		{"offer_timeout", q.OfferTimeout, 1, 3600}, {"transfer_timeout", q.TransferTimeout, 1, 86400},
		{"idle_close", q.IdleClose, 0, 30 * 86400},
	} {
		if f.v < f.lo || f.v > f.hi {
			return fieldErr(f.name, "%d must be between %d and %d", f.v, f.lo, f.hi)
		}
	}
	if !mohClassRe.MatchString(q.MusicOnHold) {
		return fieldErr("musiconhold", "%q must be a music-on-hold class name", q.MusicOnHold)
	}
	for _, f := range [][2]string{{"joinempty", q.JoinEmpty}, {"leavewhenempty", q.LeaveWhenEmpty}} {
		if err := validEmptyCondition(f[0], f[1]); err != nil {
			return err
		}
	}
	if !slices.Contains(announceHoldtime, q.AnnounceHoldtime) {
		return fieldErr("announce_holdtime", "%q must be yes, no or once", q.AnnounceHoldtime)
	}
	if !slices.Contains(recordFormats, q.RecordCalls) {
		return fieldErr("record_calls", "%q must be one of %s", q.RecordCalls, strings.Join(recordFormats, ", "))
	}
	if q.RecordCalls != "inactive" && q.Channel != ChannelVoice {
		return fieldErr("record_calls", "only voice queues record calls")
	}
	if q.AIAssistantID != nil && (*q.AIAssistantID < 0 || q.Channel == ChannelVoice) {
		return fieldErr("ai_assistant_id", "an AI assistant takes digital queues only, by its id")
	}
	if len(q.Description) > 2000 {
		return fieldErr("description", "must be at most 2000 characters")
	}
	return nil
}

// validEmptyCondition accepts app_queue's joinempty/leavewhenempty values:
// yes, no, strict, loose, or a comma list of member conditions.
func validEmptyCondition(field, v string) error {
	switch v {
	case "yes", "no", "strict", "loose":
		return nil
	}
	for _, c := range strings.Split(v, ",") {
		if !slices.Contains(emptyConditions, strings.TrimSpace(c)) {
			return fieldErr(field, "%q must be yes, no, strict, loose or a comma list of %s", v, strings.Join(emptyConditions, ", "))
		}
	}
	return nil
}

var queueColumns = []string{"name", "channel", "description", "strategy", "timeout", "retry", "wrapuptime", "maxlen",
	"musiconhold", "joinempty", "leavewhenempty", "ringinuse", "announce_frequency", "announce_holdtime", "record_calls",
	"offer_timeout", "transfer_timeout", "idle_close", "require_disposition", "ai_assistant_id", "updated_at"}

func queueValues(q *Queue) []any {
	return []any{q.Name, q.Channel, q.Description, q.Strategy, q.Timeout, q.Retry, q.WrapUpTime, q.MaxLen,
		q.MusicOnHold, q.JoinEmpty, q.LeaveWhenEmpty, q.RingInUse, q.AnnounceFrequency, q.AnnounceHoldtime, q.RecordCalls,
		q.OfferTimeout, q.TransferTimeout, q.IdleClose, q.RequireDisposition, q.AIAssistantID, q.UpdatedAt}
}

const queueSelect = `SELECT id, name, channel, description, strategy, timeout, retry, wrapuptime, maxlen, musiconhold,
 joinempty, leavewhenempty, ringinuse, announce_frequency, announce_holdtime, record_calls, offer_timeout, transfer_timeout,
 idle_close, require_disposition, ai_assistant_id, created_at, updated_at FROM cc_queues`

// CreateQueue stores a new queue; a voice queue gets its Asterisk row through
// the projector in the same transaction.
func (d *Directory) CreateQueue(ctx context.Context, in QueueInput) (*Queue, error) {
	q := Queue{Channel: ChannelVoice, Timeout: 15, Retry: 5, MusicOnHold: "default", JoinEmpty: "yes",
		LeaveWhenEmpty: "no", AnnounceHoldtime: "no", RecordCalls: "inactive", OfferTimeout: 30, TransferTimeout: 300}
	in.apply(&q)
	if in.Strategy == nil {
		q.Strategy = "ringall"
		if q.Channel != ChannelVoice {
			q.Strategy = "beepall"
		}
	}
	if err := q.validate(); err != nil {
		return nil, err
	}
	now := d.now()
	q.CreatedAt, q.UpdatedAt = now, now
	err := d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		cols := append(slices.Clone(queueColumns), "created_at")
		res, err := tx.ExecContext(ctx, "INSERT INTO cc_queues ("+strings.Join(cols, ", ")+") VALUES ("+placeholders(len(cols))+")",
			append(queueValues(&q), q.CreatedAt)...)
		if err != nil {
			return err
		}
		if q.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		return d.opts.Projector.QueueSaved(ctx, tx, nil, &q)
	})
	if store.IsUniqueViolation(err) {
		return nil, &ConflictError{Field: "name", Value: q.Name}
	}
	if err != nil {
		return nil, err
	}
	d.notify(Change{Entity: "queue", Op: "create", ID: q.ID})
	return &q, nil
}

// Queue returns one queue.
func (d *Directory) Queue(ctx context.Context, id int64) (*Queue, error) {
	return d.queue(ctx, d.db, id)
}

func (d *Directory) queue(ctx context.Context, q sqlx.QueryerContext, id int64) (*Queue, error) {
	var out Queue
	if err := getByID(ctx, q, &out, queueSelect+` WHERE id = ?`, id, "queue"); err != nil {
		return nil, err
	}
	return &out, nil
}

// QueueFilter selects queues for a list.
type QueueFilter struct {
	Q       string
	Channel string
	Sort    string
	Page    int
	PerPage int
}

var queueSorts = map[string]string{"id": "id", "name": "name", "channel": "channel", "strategy": "strategy",
	"created_at": "created_at", "updated_at": "updated_at"}

// ListQueues returns a page of queues and the total.
func (d *Directory) ListQueues(ctx context.Context, f QueueFilter) ([]*Queue, int, error) {
	where := []string{"1 = 1"}
	var args []any
	if f.Q != "" {
		like := "%" + escapeLike(f.Q) + "%"
		where = append(where, `(name LIKE ? ESCAPE '!' OR description LIKE ? ESCAPE '!')`)
		args = append(args, like, like)
	}
	if f.Channel != "" {
		if !slices.Contains(queueChannels, f.Channel) {
			return nil, 0, fieldErr("channel", "%q must be one of %s", f.Channel, strings.Join(queueChannels, ", "))
		}
		where = append(where, "channel = ?")
		args = append(args, f.Channel)
	}
	out := []*Queue{}
	total, err := d.selectPage(ctx, &out, pageQuery{table: "cc_queues", selectSQL: queueSelect,
		where: " WHERE " + strings.Join(where, " AND "), args: args, sort: f.Sort, sorts: queueSorts, page: f.Page, perPage: f.PerPage})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// UpdateQueue applies a partial update. The channel of a queue cannot change:
// its members, its Asterisk row and its interactions all depend on it.
func (d *Directory) UpdateQueue(ctx context.Context, id int64, in QueueInput) (*Queue, error) {
	var after *Queue
	err := d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		before, err := d.queue(ctx, tx, id)
		if err != nil {
			return err
		}
		if in.Channel != nil && *in.Channel != before.Channel {
			return fieldErr("channel", "cannot change from %s to %s: create a new queue", before.Channel, *in.Channel)
		}
		q := *before
		in.apply(&q)
		if err := q.validate(); err != nil {
			return err
		}
		q.UpdatedAt = d.now()
		if _, err := tx.ExecContext(ctx, "UPDATE cc_queues SET "+strings.Join(queueColumns, " = ?, ")+" = ? WHERE id = ?",
			append(queueValues(&q), id)...); err != nil {
			return err
		}
		if err := retarget(ctx, tx, DestQueue, before.Name, q.Name); err != nil {
			return err
		}
		after = &q
		return d.opts.Projector.QueueSaved(ctx, tx, before, &q)
	})
	if store.IsUniqueViolation(err) {
		return nil, &ConflictError{Field: "name", Value: *in.Name}
	}
	if err != nil {
		return nil, err
	}
	d.notify(Change{Entity: "queue", Op: "update", ID: id})
	return after, nil
}

// DeleteQueue removes a queue, its links and its Asterisk rows.
func (d *Directory) DeleteQueue(ctx context.Context, id int64) error {
	err := d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		q, err := d.queue(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := refuseIfRouted(ctx, tx, DestQueue, q.Name, "queue "+q.Name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM cc_queues WHERE id = ?`, id); err != nil {
			return err
		}
		return d.opts.Projector.QueueDeleted(ctx, tx, q)
	})
	if err != nil {
		return err
	}
	d.notify(Change{Entity: "queue", Op: "delete", ID: id})
	return nil
}

// QueueRecordCalls is the automatic recording format of the voice queue
// named name ("" when it records nothing, or there is no such queue), for
// calls.Options.QueueRecording.
func (d *Directory) QueueRecordCalls(ctx context.Context, name string) (string, error) {
	var f string
	err := sqlx.GetContext(ctx, d.db, &f, `SELECT record_calls FROM cc_queues WHERE name = ? AND channel = ?`, name, ChannelVoice)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", err
	case f == "inactive":
		return "", nil
	}
	return f, nil
}
