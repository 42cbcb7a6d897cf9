package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"

	"omnicc/store"
)

// agentColumns are written on create and update, in this order (see agentValues).
var agentColumns = []string{
	"full_name", "username", "alias", "typology", "email", "extension", "description",
	"voicemail", "remote_control", "remote_control_port", "push_gateway_url", "external_number",
	"login_in_pause", "disabled", "locked", "mask_sensitive_data",
	"sip_host", "sip_nat", "allowed_codecs", "caller_id", "context", "call_group", "pickup_group",
	"chanspy", "video", "record_calls", "encryption",
	"webrtc_enable_settings", "webrtc_auto_answer", "webrtc_auto_answer_delay", "webrtc_auto_answer_notification",
	"webrtc_ring_in_use", "webrtc_enable_recording", "webrtc_dtmf_tones", "webrtc_dnd_on_pause",
	"webrtc_ignore_break_for_preview", "updated_at",
}

func agentValues(a *Agent) []any {
	w := a.WebRTC
	return []any{
		a.FullName, a.Username, a.Alias, a.Typology, a.Email, a.Extension, a.Description,
		a.Voicemail, a.RemoteControl, a.RemoteControlPort, a.PushGatewayURL, a.ExternalNumber,
		a.LoginInPause, a.Disabled, a.Locked, a.MaskSensitiveData,
		a.Host, a.NAT, a.AllowedCodecs, a.CallerID, a.Context, a.CallGroup, a.PickupGroup,
		a.Chanspy, a.Video, a.RecordCalls, a.Encryption,
		w.EnableSettings, w.AutoAnswer, w.AutoAnswerDelay, w.AutoAnswerNotification,
		w.RingInUse, w.EnableRecording, w.DTMFTones, w.DNDOnPause, w.IgnoreBreakForPreview, a.UpdatedAt,
	}
}

const agentSelect = `SELECT id, full_name, username, alias, typology, email, COALESCE(extension, '') AS extension,
 description, voicemail, remote_control, remote_control_port, push_gateway_url, external_number,
 login_in_pause, disabled, locked, last_password_reset, mask_sensitive_data,
 sip_host, sip_nat, allowed_codecs, caller_id, context, call_group, pickup_group,
 chanspy, video, record_calls, encryption, sip_secret, voicemail_pin,
 webrtc_enable_settings, webrtc_auto_answer, webrtc_auto_answer_delay, webrtc_auto_answer_notification,
 webrtc_ring_in_use, webrtc_enable_recording, webrtc_dtmf_tones, webrtc_dnd_on_pause,
 webrtc_ignore_break_for_preview, created_at, updated_at FROM users`

// agentRow flattens the WebRTC settings so sqlx can scan them.
type agentRow struct {
	Agent
	WebRTCSettings
}

func (r *agentRow) agent() Agent {
	a := r.Agent
	a.WebRTC = r.WebRTCSettings
	return a
}

// CreateAgent validates in and stores a new agent (and its Asterisk rows,
// through the projector) in one transaction.
func (d *Directory) CreateAgent(ctx context.Context, in AgentInput) (*Agent, error) {
	a := newAgentDefaults()
	in.apply(&a)
	if in.AllowedCodecs == nil {
		a.AllowedCodecs = DefaultCodecs(a.Typology)
	}
	// Without a password the agent cannot log in until it accepts an
	// invitation (POST /agents/{id}/invitation), which sets one: an empty hash
	// matches no password.
	if in.Password != nil {
		if err := CheckPasswordPolicy("password", *in.Password, d.opts.SecuritySuite); err != nil {
			return nil, err
		}
	}
	autoExt := in.Extension == nil || *in.Extension == ""
	if autoExt {
		a.Extension = "00" // placeholder so validation of the rest can run first
	}
	if err := a.validate(); err != nil {
		return nil, err
	}
	hash := ""
	now := d.now()
	a.CreatedAt, a.UpdatedAt = now, now
	if in.Password != nil {
		var err error
		if hash, err = HashPassword(*in.Password, d.opts.BcryptCost); err != nil {
			return nil, err
		}
		a.LastPasswordReset = &now
	}
	a.SIPSecret = sipSecretFor(a.Typology, "")
	a.VoicemailPIN = RandomPIN(6)
	var err error

	// Agents created at once must not pick the same free extension: this
	// process allocates one at a time, and the unique index settles races
	// with another omniccd on the same database (the loser picks again).
	if autoExt {
		d.extMu.Lock()
		defer d.extMu.Unlock()
	}
	for attempt := 0; ; attempt++ {
		if autoExt {
			ext, err := d.freeExtension(ctx)
			if err != nil {
				return nil, err
			}
			a.Extension = ext
			if a.FullName == ext {
				return nil, fieldErr("full_name", "must not be the same as the extension %q", ext)
			}
		}
		err = d.db.InTx(ctx, func(tx *sqlx.Tx) error {
			cols := append(slices.Clone(agentColumns), "role", "password_hash", "sip_secret", "voicemail_pin", "last_password_reset", "created_at")
			vals := append(agentValues(&a), RoleAgent, hash, a.SIPSecret, a.VoicemailPIN, a.LastPasswordReset, a.CreatedAt)
			q := "INSERT INTO users (" + strings.Join(cols, ", ") + ") VALUES (" + placeholders(len(cols)) + ")"
			res, err := tx.ExecContext(ctx, q, vals...)
			if err != nil {
				return err
			}
			if a.ID, err = res.LastInsertId(); err != nil {
				return err
			}
			if err := saveChannels(ctx, tx, d.db, a.ID, a.Channels); err != nil {
				return err
			}
			return d.opts.Projector.AgentSaved(ctx, tx, nil, &a)
		})
		if err == nil {
			break
		}
		if store.IsUniqueViolation(err) {
			field := uniqueField(err, "username", "extension")
			if field == "extension" && autoExt && attempt < 10 {
				continue
			}
			val := a.Username
			if field == "extension" {
				val = a.Extension
			}
			return nil, &ConflictError{Field: field, Value: val}
		}
		return nil, err
	}
	d.notify(Change{Entity: "agent", Op: "create", ID: a.ID})
	return &a, nil
}

// freeExtension is the lowest number of the configured range no user has.
func (d *Directory) freeExtension(ctx context.Context) (string, error) {
	var used []string
	if err := d.db.SelectContext(ctx, &used, `SELECT extension FROM users WHERE extension IS NOT NULL`); err != nil {
		return "", err
	}
	taken := make(map[int]bool, len(used))
	for _, e := range used {
		if n, err := strconv.Atoi(e); err == nil && len(e) == len(strconv.Itoa(n)) {
			taken[n] = true
		}
	}
	for n := d.opts.ExtensionLow; n <= d.opts.ExtensionHigh; n++ {
		if !taken[n] {
			return strconv.Itoa(n), nil
		}
	}
	return "", fieldErr("extension", "every extension of OMNICC_EXTENSION_RANGE %d-%d is taken: give one explicitly or widen the range",
		d.opts.ExtensionLow, d.opts.ExtensionHigh)
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func saveChannels(ctx context.Context, tx *sqlx.Tx, db *store.DB, userID int64, chs map[string]ChannelSettings) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM agent_channels WHERE user_id = ?`, userID); err != nil {
		return err
	}
	for _, ch := range slices.Sorted(maps.Keys(chs)) {
		c := chs[ch]
		if _, err := tx.ExecContext(ctx, `INSERT INTO agent_channels (user_id, channel, capacity, auto_answer, auto_answer_delay, advanced_search)
			VALUES (?, ?, ?, ?, ?, ?)`, userID, ch, c.Capacity, c.AutoAnswer, c.AutoAnswerDelay, c.AdvancedSearch); err != nil {
			return err
		}
	}
	return nil
}

// Agent returns one agent.
func (d *Directory) Agent(ctx context.Context, id int64) (*Agent, error) {
	return d.agent(ctx, d.db, id)
}

func (d *Directory) agent(ctx context.Context, q sqlx.QueryerContext, id int64) (*Agent, error) {
	var r agentRow
	if err := sqlx.GetContext(ctx, q, &r, agentSelect+` WHERE id = ? AND role = ?`, id, RoleAgent); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("agent %d: %w", id, ErrNotFound)
		}
		return nil, err
	}
	a := r.agent()
	if err := loadChannels(ctx, q, []*Agent{&a}); err != nil {
		return nil, err
	}
	return &a, nil
}

// AgentByUsername finds an agent by its login (and Asterisk endpoint) name.
func (d *Directory) AgentByUsername(ctx context.Context, username string) (*Agent, error) {
	var id int64
	if err := d.db.GetContext(ctx, &id, `SELECT id FROM users WHERE username = ? AND role = ?`, username, RoleAgent); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("agent %q: %w", username, ErrNotFound)
		}
		return nil, err
	}
	return d.Agent(ctx, id)
}

// AgentByExtension finds an agent by its internal extension.
func (d *Directory) AgentByExtension(ctx context.Context, ext string) (*Agent, error) {
	id, err := d.AgentIDByExtension(ctx, ext)
	if err != nil {
		return nil, err
	}
	return d.Agent(ctx, id)
}

func loadChannels(ctx context.Context, q sqlx.QueryerContext, agents []*Agent) error {
	if len(agents) == 0 {
		return nil
	}
	byID := make(map[int64]*Agent, len(agents))
	args := make([]any, 0, len(agents))
	for _, a := range agents {
		a.Channels = map[string]ChannelSettings{}
		byID[a.ID] = a
		args = append(args, a.ID)
	}
	rows, err := q.QueryxContext(ctx, `SELECT user_id, channel, capacity, auto_answer, auto_answer_delay, advanced_search
		FROM agent_channels WHERE user_id IN (`+placeholders(len(args))+`)`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			uid int64
			ch  string
			c   ChannelSettings
		)
		if err := rows.Scan(&uid, &ch, &c.Capacity, &c.AutoAnswer, &c.AutoAnswerDelay, &c.AdvancedSearch); err != nil {
			return err
		}
		byID[uid].Channels[ch] = c
	}
	return rows.Err()
}

// AgentFilter selects agents for a list.
type AgentFilter struct {
	// Q matches full name, username, alias, email or extension.
	Q        string
	Typology string
	Disabled *bool
	Locked   *bool
	IDs      []int64
	// QueueID, Queue (a queue's name) and TeamID keep the members of one
	// queue or team; Extension is an exact extension.
	QueueID   int64
	Queue     string
	TeamID    int64
	Extension string
	// Sort is a column, "-" first for descending (default "id").
	Sort    string
	Page    int
	PerPage int
}

var agentSorts = map[string]string{
	"id": "id", "full_name": "full_name", "username": "username", "extension": "extension",
	"typology": "typology", "email": "email", "created_at": "created_at", "updated_at": "updated_at",
}

// MaxPerPage bounds list pages.
const MaxPerPage = 500

// ListAgents returns a page of agents and the total matching the filter.
func (d *Directory) ListAgents(ctx context.Context, f AgentFilter) ([]*Agent, int, error) {
	where := []string{"role = ?"}
	args := []any{RoleAgent}
	if f.Q != "" {
		like := "%" + escapeLike(f.Q) + "%"
		where = append(where, `(full_name LIKE ? ESCAPE '!' OR username LIKE ? ESCAPE '!' OR alias LIKE ? ESCAPE '!'
			OR email LIKE ? ESCAPE '!' OR extension LIKE ? ESCAPE '!')`)
		args = append(args, like, like, like, like, like)
	}
	if f.Typology != "" {
		if !slices.Contains(typologies, f.Typology) {
			return nil, 0, fieldErr("typology", "%q must be one of %s", f.Typology, strings.Join(typologies, ", "))
		}
		where = append(where, "typology = ?")
		args = append(args, f.Typology)
	}
	if f.Disabled != nil {
		where = append(where, "disabled = ?")
		args = append(args, *f.Disabled)
	}
	if f.Locked != nil {
		where = append(where, "locked = ?")
		args = append(args, *f.Locked)
	}
	if f.QueueID != 0 {
		where = append(where, "id IN (SELECT user_id FROM agent_queues WHERE queue_id = ?)")
		args = append(args, f.QueueID)
	}
	if f.Queue != "" {
		where = append(where, "id IN (SELECT aq.user_id FROM agent_queues aq JOIN cc_queues q ON q.id = aq.queue_id WHERE q.name = ?)")
		args = append(args, f.Queue)
	}
	if f.TeamID != 0 {
		where = append(where, "id IN (SELECT user_id FROM agent_teams WHERE team_id = ?)")
		args = append(args, f.TeamID)
	}
	if f.Extension != "" {
		where = append(where, "extension = ?")
		args = append(args, f.Extension)
	}
	if len(f.IDs) > 0 {
		where = append(where, "id IN ("+placeholders(len(f.IDs))+")")
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	var rows []agentRow
	total, err := d.selectPage(ctx, &rows, pageQuery{table: "users", selectSQL: agentSelect,
		where: " WHERE " + strings.Join(where, " AND "), args: args, sort: f.Sort, sorts: agentSorts, page: f.Page, perPage: f.PerPage})
	if err != nil {
		return nil, 0, err
	}
	out := make([]*Agent, len(rows))
	for i := range rows {
		a := rows[i].agent()
		out[i] = &a
	}
	return out, total, loadChannels(ctx, d.db, out)
}

// escapeLike makes the user's % and _ literal; '!' is the escape character
// on both engines (backslash means different things to each).
func escapeLike(s string) string {
	r := strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")
	return r.Replace(s)
}

func orderBy(sort string, allowed map[string]string) (string, error) {
	if sort == "" {
		return " ORDER BY id", nil
	}
	dir := " ASC"
	if strings.HasPrefix(sort, "-") {
		dir, sort = " DESC", sort[1:]
	}
	col, ok := allowed[sort]
	if !ok {
		return "", fieldErr("sort", "%q is not sortable; use one of %s (prefix - for descending)", sort,
			strings.Join(slices.Sorted(maps.Keys(allowed)), ", "))
	}
	return " ORDER BY " + col + dir + ", id" + dir, nil
}

// pageQuery is one page of a list: the rows of table matching where (a
// " WHERE ..." clause with its args), in a whitelisted sort order.
type pageQuery struct {
	table, selectSQL, where string
	args                    []any
	sort                    string
	sorts                   map[string]string
	page, perPage           int
}

// selectPage counts the rows q matches and selects its page into dest.
func (d *Directory) selectPage(ctx context.Context, dest any, q pageQuery) (total int, err error) {
	order, err := orderBy(q.sort, q.sorts)
	if err != nil {
		return 0, err
	}
	page, per, err := pageBounds(q.page, q.perPage)
	if err != nil {
		return 0, err
	}
	if err := d.db.GetContext(ctx, &total, "SELECT COUNT(*) FROM "+q.table+q.where, q.args...); err != nil {
		return 0, err
	}
	err = d.db.SelectContext(ctx, dest, q.selectSQL+q.where+order+" LIMIT ? OFFSET ?", slices.Concat(q.args, []any{per, (page - 1) * per})...)
	return total, err
}

func pageBounds(page, per int) (int, int, error) {
	if page == 0 {
		page = 1
	}
	if per == 0 {
		per = 50
	}
	if page < 1 {
		return 0, 0, fieldErr("page", "%d must be 1 or more", page)
	}
	if per < 1 || per > MaxPerPage {
		return 0, 0, fieldErr("per_page", "%d must be between 1 and %d", per, MaxPerPage)
	}
	return page, per, nil
}

// UpdateAgent applies a partial update. A password in the input is checked
// against the policy and rehashed; unlocking clears the failed-login count.
func (d *Directory) UpdateAgent(ctx context.Context, id int64, in AgentInput) (*Agent, error) {
	var after *Agent
	err := d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		before, err := d.agent(ctx, tx, id)
		if err != nil {
			return err
		}
		a := *before
		a.Channels = maps.Clone(before.Channels)
		a.AllowedCodecs = slices.Clone(before.AllowedCodecs)
		in.apply(&a)
		// Changing typology without naming codecs moves to that typology's
		// defaults rather than keeping a list the new typology may refuse.
		if in.Typology != nil && in.AllowedCodecs == nil && *in.Typology != before.Typology {
			a.AllowedCodecs = DefaultCodecs(a.Typology)
		}
		if err := a.validate(); err != nil {
			return err
		}
		a.UpdatedAt = d.now()
		// An external agent has no endpoint, so no SIP secret; one that gets
		// an endpoint gets a new secret. Agents from before voicemail PINs
		// get a random one at their first change.
		a.SIPSecret = sipSecretFor(a.Typology, a.SIPSecret)
		if a.VoicemailPIN == "" {
			a.VoicemailPIN = RandomPIN(6)
		}
		q := "UPDATE users SET " + strings.Join(agentColumns, " = ?, ") + " = ?, sip_secret = ?, voicemail_pin = ? WHERE id = ?"
		if _, err := tx.ExecContext(ctx, q, append(agentValues(&a), a.SIPSecret, a.VoicemailPIN, id)...); err != nil {
			return err
		}
		if in.Password != nil {
			if err := CheckPasswordPolicy("password", *in.Password, d.opts.SecuritySuite); err != nil {
				return err
			}
			hash, err := HashPassword(*in.Password, d.opts.BcryptCost)
			if err != nil {
				return err
			}
			a.LastPasswordReset = &a.UpdatedAt
			if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, last_password_reset = ? WHERE id = ?`,
				hash, a.UpdatedAt, id); err != nil {
				return err
			}
		}
		if before.Locked && !a.Locked {
			if _, err := tx.ExecContext(ctx, `UPDATE users SET failed_logins = 0 WHERE id = ?`, id); err != nil {
				return err
			}
		}
		if in.Channels != nil {
			if err := saveChannels(ctx, tx, d.db, id, a.Channels); err != nil {
				return err
			}
		}
		if err := retarget(ctx, tx, DestAgent, before.Extension, a.Extension); err != nil {
			return err
		}
		// The agent's mailbox moves with its extension (the projector moves
		// the voicemail row), and routes to it follow.
		if err := retarget(ctx, tx, DestVoicemail, before.Extension, a.Extension); err != nil {
			return err
		}
		if before.Voicemail && !a.Voicemail {
			if err := refuseIfRouted(ctx, tx, DestVoicemail, before.Extension, "the mailbox of agent "+a.Username); err != nil {
				return err
			}
		}
		after = &a
		return d.opts.Projector.AgentSaved(ctx, tx, before, &a)
	})
	if err != nil {
		if store.IsUniqueViolation(err) {
			field := uniqueField(err, "username", "extension")
			val := ""
			if in.Username != nil && field == "username" {
				val = *in.Username
			} else if in.Extension != nil {
				val = *in.Extension
			}
			return nil, &ConflictError{Field: field, Value: val}
		}
		return nil, err
	}
	d.notify(Change{Entity: "agent", Op: "update", ID: id})
	return after, nil
}

// DeleteAgents deletes every listed agent or none: an unknown id fails the
// whole call, so a stale selection in a UI never deletes half of it.
func (d *Directory) DeleteAgents(ctx context.Context, ids ...int64) error {
	if len(ids) == 0 {
		return fieldErr("ids", "name at least one agent id")
	}
	err := d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		for _, id := range ids {
			a, err := d.agent(ctx, tx, id)
			if err != nil {
				return err
			}
			if err := refuseIfRouted(ctx, tx, DestAgent, a.Extension, "agent "+a.Username+" (extension "+a.Extension+")"); err != nil {
				return err
			}
			if err := refuseIfRouted(ctx, tx, DestVoicemail, a.Extension, "the mailbox of agent "+a.Username); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id); err != nil {
				return err
			}
			if err := d.opts.Projector.AgentDeleted(ctx, tx, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		d.notify(Change{Entity: "agent", Op: "delete", ID: id})
	}
	return nil
}

// ErrNoEndpoint answers the SIP secret of an agent that has no endpoint.
var ErrNoEndpoint = errors.New("external agents have no SIP endpoint, so no SIP secret: they are reached on their external_number")

// sipSecretFor is the secret an agent of typology keeps: none for external
// agents, the current one or a new one for the others.
func sipSecretFor(typology, current string) string {
	if typology == TypologyExternal {
		return ""
	}
	if current == "" {
		return RandomSecret(24)
	}
	return current
}

// SIPSecret is the agent's softphone registration secret.
func (d *Directory) SIPSecret(ctx context.Context, id int64) (string, error) {
	a, err := d.Agent(ctx, id)
	if err != nil {
		return "", err
	}
	if a.Typology == TypologyExternal {
		return "", fmt.Errorf("agent %s: %w", a.Username, ErrNoEndpoint)
	}
	return a.SIPSecret, nil
}

// SetVoicemailPIN changes the agent's mailbox PIN; the projector writes it
// to the voicemail row in the same transaction.
func (d *Directory) SetVoicemailPIN(ctx context.Context, id int64, pin string) error {
	if !voicemailPINRe.MatchString(pin) {
		return fieldErr("pin", "must be 4 to 12 digits (what a phone keypad can type)")
	}
	err := d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		before, err := d.agent(ctx, tx, id)
		if err != nil {
			return err
		}
		after := *before
		after.VoicemailPIN = pin
		after.UpdatedAt = d.now()
		if _, err := tx.ExecContext(ctx, `UPDATE users SET voicemail_pin = ?, updated_at = ? WHERE id = ?`, pin, after.UpdatedAt, id); err != nil {
			return err
		}
		return d.opts.Projector.AgentSaved(ctx, tx, before, &after)
	})
	if err != nil {
		return err
	}
	d.notify(Change{Entity: "agent", Op: "update", ID: id})
	return nil
}

var voicemailPINRe = regexp.MustCompile(`^[0-9]{4,12}$`)

// RotateSIPSecret gives the agent a new softphone secret; the projector
// writes it to ps_auths in the same transaction.
func (d *Directory) RotateSIPSecret(ctx context.Context, id int64) (string, error) {
	secret := RandomSecret(24)
	err := d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		before, err := d.agent(ctx, tx, id)
		if err != nil {
			return err
		}
		if before.Typology == TypologyExternal {
			return fmt.Errorf("agent %s: %w", before.Username, ErrNoEndpoint)
		}
		after := *before
		after.SIPSecret = secret
		after.UpdatedAt = d.now()
		if _, err := tx.ExecContext(ctx, `UPDATE users SET sip_secret = ?, updated_at = ? WHERE id = ?`, secret, after.UpdatedAt, id); err != nil {
			return err
		}
		return d.opts.Projector.AgentSaved(ctx, tx, before, &after)
	})
	if err != nil {
		return "", err
	}
	d.notify(Change{Entity: "agent", Op: "update", ID: id})
	return secret, nil
}
