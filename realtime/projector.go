package realtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"

	"omnicc/asterisk"
	"omnicc/directory"
	"omnicc/store"
)

// Transport names of the sample pjsip.conf (SPEC "Fixed contracts").
const (
	TransportUDP = "transport-udp"
	TransportTCP = "transport-tcp"
	TransportWSS = "transport-wss"
)

// ProjectorOptions configures a Projector.
type ProjectorOptions struct {
	// VoicemailContext is the voicemail context of agents' mailboxes
	// (default "omnicc", as in the sample extensions.conf).
	VoicemailContext string
	// AgentsContext is the dialplan context of the realtime extensions rows
	// (default "omnicc-agents", the sample's switch => Realtime/...).
	AgentsContext string
	// Invalidate is called after a directory change is committed, with the
	// families it may have changed; cmd/omniccd passes Server.Invalidate.
	Invalidate func(tables ...string)
}

// Projector derives Asterisk's realtime rows from the directory. The
// directory calls it inside its own transaction (directory.Projector), so an
// agent, queue or link and the rows derived from it commit or fail together.
//
// It writes only the columns it owns: the pauses app_queue writes to
// queue_members, a voicemail PIN the agent changed, or an option an
// administrator set by hand on a ps_endpoints row survive every re-derivation.
type Projector struct {
	b    builder
	opts ProjectorOptions
}

var _ directory.Projector = (*Projector)(nil)

// NewProjector returns a projector writing SQL for dialect d.
func NewProjector(d store.Dialect, o ProjectorOptions) *Projector {
	if o.VoicemailContext == "" {
		o.VoicemailContext = "omnicc"
	}
	if o.AgentsContext == "" {
		o.AgentsContext = "omnicc-agents"
	}
	return &Projector{b: builder{dialect: d}, opts: o}
}

// derivedFamilies are the tables a directory change can touch.
var derivedFamilies = []string{"ps_endpoints", "ps_aors", "ps_auths", "ps_contacts", "queues", "queue_members", "voicemail", "extensions"}

// Changed is a directory.OnChange listener: after a commit it ends the
// server's cached lookups of every derived family. (Invalidating inside the
// transaction would not do: a lookup between that and the commit would cache
// the old rows again.)
func (p *Projector) Changed(directory.Change) {
	if p.opts.Invalidate != nil {
		p.opts.Invalidate(derivedFamilies...)
	}
}

// agentView is what the projection needs of an agent.
type agentView struct {
	ID             int64  `db:"id"`
	Username       string `db:"username"`
	FullName       string `db:"full_name"`
	Typology       string `db:"typology"`
	Extension      string `db:"extension"`
	ExternalNumber string `db:"external_number"`
	Context        string `db:"context"`
	Disabled       bool   `db:"disabled"`
}

func viewOf(a *directory.Agent) agentView {
	return agentView{ID: a.ID, Username: a.Username, FullName: a.FullName, Typology: a.Typology, Extension: a.Extension,
		ExternalNumber: a.ExternalNumber, Context: a.Context, Disabled: a.Disabled}
}

// hasEndpoint: an agent gets PJSIP rows unless it is external (the queue
// reaches it through a Local channel) or disabled (no usable endpoint: a
// disabled agent can neither register nor be called).
func (a agentView) hasEndpoint() bool {
	return !a.Disabled && a.Typology != directory.TypologyExternal && a.Username != ""
}

// member is how app_queue knows the agent (asterisk.MemberOf): its
// interface does not depend on Disabled, so the rows of a disabled agent can
// be found.
func (a agentView) member() asterisk.Member {
	return asterisk.MemberOf(asterisk.Agent{Username: a.Username, External: a.Typology == directory.TypologyExternal,
		ExternalNumber: a.ExternalNumber, Context: a.Context})
}

// dialString is how Asterisk reaches the agent (asterisk.Dial): its
// endpoint, or a Local channel to an external agent's number through the
// agent's own context (and so through the outbound routes). "" when it
// cannot be reached.
func (a agentView) dialString() string {
	if a.Disabled {
		return ""
	}
	return a.member().Interface
}

// interfaceOf is the queue-member interface of SPEC "Fixed contracts",
// asterisk.MemberOf's.
func (a agentView) interfaceOf() string { return a.member().Interface }

// AgentSaved implements directory.Projector.
func (p *Projector) AgentSaved(ctx context.Context, tx *sqlx.Tx, before, after *directory.Agent) error {
	if before != nil {
		if err := p.retireAgent(ctx, tx, before, after); err != nil {
			return fmt.Errorf("realtime: agent %q: %w", after.Username, err)
		}
	}
	if err := p.syncAgent(ctx, tx, after); err != nil {
		return fmt.Errorf("realtime: agent %q: %w", after.Username, err)
	}
	if before != nil && before.VoicemailPIN != "" && before.VoicemailPIN != after.VoicemailPIN && after.Voicemail && after.Extension != "" {
		if err := p.exec(ctx, tx, "UPDATE voicemail SET password = ? WHERE context = ? AND mailbox = ?",
			after.VoicemailPIN, p.opts.VoicemailContext, after.Extension); err != nil {
			return fmt.Errorf("realtime: agent %q: voicemail PIN: %w", after.Username, err)
		}
	}
	return nil
}

// AgentDeleted implements directory.Projector.
func (p *Projector) AgentDeleted(ctx context.Context, tx *sqlx.Tx, a *directory.Agent) error {
	v := viewOf(a)
	err := p.deleteEndpoint(ctx, tx, a.Username)
	if err == nil {
		err = p.exec(ctx, tx, "DELETE FROM extensions WHERE context = ? AND exten = ?", p.opts.AgentsContext, a.Extension)
	}
	if err == nil && a.Voicemail {
		err = p.exec(ctx, tx, "DELETE FROM voicemail WHERE context = ? AND mailbox = ?", p.opts.VoicemailContext, a.Extension)
	}
	if iface := v.interfaceOf(); err == nil && iface != "" {
		err = p.exec(ctx, tx, "DELETE FROM queue_members WHERE "+p.b.quote("interface")+" = ?", iface)
	}
	if err != nil {
		return fmt.Errorf("realtime: delete agent %q: %w", a.Username, err)
	}
	return nil
}

// retireAgent removes or moves what was derived from before and is not
// derived from after under the same key.
func (p *Projector) retireAgent(ctx context.Context, tx *sqlx.Tx, before, after *directory.Agent) error {
	bv, av := viewOf(before), viewOf(after)
	if before.Username != after.Username || !av.hasEndpoint() {
		if err := p.deleteEndpoint(ctx, tx, before.Username); err != nil {
			return err
		}
	}
	if before.Extension != after.Extension {
		if err := p.exec(ctx, tx, "DELETE FROM extensions WHERE context = ? AND exten = ?", p.opts.AgentsContext, before.Extension); err != nil {
			return err
		}
		if before.Voicemail && after.Voicemail {
			// Move the mailbox: its PIN (maybe changed by the agent) stays.
			if err := p.exec(ctx, tx, "UPDATE voicemail SET mailbox = ? WHERE context = ? AND mailbox = ?",
				after.Extension, p.opts.VoicemailContext, before.Extension); err != nil {
				return err
			}
		}
	}
	if before.Voicemail && !after.Voicemail {
		if err := p.exec(ctx, tx, "DELETE FROM voicemail WHERE context = ? AND mailbox = ?", p.opts.VoicemailContext, before.Extension); err != nil {
			return err
		}
	}
	if oldIf, newIf := bv.interfaceOf(), av.interfaceOf(); oldIf != "" && oldIf != newIf {
		// Renaming the member keeps its uniqueid and the pause app_queue wrote.
		q := "UPDATE queue_members SET " + p.b.quote("interface") + " = ?, state_interface = ? WHERE " + p.b.quote("interface") + " = ?"
		args := []any{newIf, av.member().StateInterface, oldIf}
		if newIf == "" {
			q, args = "DELETE FROM queue_members WHERE "+p.b.quote("interface")+" = ?", []any{oldIf}
		}
		if err := p.exec(ctx, tx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

func (p *Projector) deleteEndpoint(ctx context.Context, tx *sqlx.Tx, username string) error {
	for _, t := range []string{"ps_endpoints", "ps_aors", "ps_auths"} {
		if err := p.exec(ctx, tx, "DELETE FROM "+t+" WHERE id = ?", username); err != nil {
			return err
		}
	}
	// Its registrations go too: Asterisk reads contacts from the table, so
	// a disabled or deleted agent's phone stops receiving calls at once.
	return p.exec(ctx, tx, "DELETE FROM ps_contacts WHERE endpoint = ?", username)
}

// syncAgent writes every row derived from a, and the queue members of its
// links.
func (p *Projector) syncAgent(ctx context.Context, tx *sqlx.Tx, a *directory.Agent) error {
	v := viewOf(a)
	if v.hasEndpoint() {
		for _, r := range p.endpointRows(a) {
			if err := p.upsert(ctx, tx, r); err != nil {
				return err
			}
		}
	} else if err := p.deleteEndpoint(ctx, tx, a.Username); err != nil {
		return err
	}

	if dial := v.dialString(); dial != "" && a.Extension != "" {
		for _, r := range p.extensionRows(a.Extension, dial) {
			if err := p.upsert(ctx, tx, r); err != nil {
				return err
			}
		}
	} else if err := p.exec(ctx, tx, "DELETE FROM extensions WHERE context = ? AND exten = ?", p.opts.AgentsContext, a.Extension); err != nil {
		return err
	}

	if a.Voicemail && a.Extension != "" {
		if err := p.upsert(ctx, tx, p.voicemailRow(a)); err != nil {
			return err
		}
	} else if err := p.exec(ctx, tx, "DELETE FROM voicemail WHERE context = ? AND mailbox = ?", p.opts.VoicemailContext, a.Extension); err != nil {
		return err
	}

	links, err := agentLinks(ctx, tx, a.ID)
	if err != nil {
		return err
	}
	for _, l := range links {
		if err := p.syncMember(ctx, tx, l, v); err != nil {
			return err
		}
	}
	return nil
}

// row is one realtime row to upsert: key columns, and the owned columns to
// set (nil = NULL). insertOnly columns are written when the row is created
// and never again.
type row struct {
	table      string
	key        []col
	set        []col
	insertOnly []col
}

type col struct {
	name  string
	value any
}

func str(s string) any {
	if s == "" {
		return nil
	}
	return odbcEncode(s)
}

func yesno(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// endpointRows are the ps_endpoints, ps_aors and ps_auths rows of an agent
// with an endpoint. Typology decides the transport and media (SPEC):
// webrtc → transport-wss, webrtc=yes (DTLS-SRTP, ICE, AVPF, rtcp-mux), opus
// first when allowed; phonebar → transport-udp, mobile → transport-tcp (apps woken by
// push keep a TCP connection), with the agent's NAT, codecs, context and
// groups.
func (p *Projector) endpointRows(a *directory.Agent) []row {
	webrtc := a.Typology == directory.TypologyWebRTC
	codecs := slices.Clone([]string(a.AllowedCodecs))
	if webrtc && slices.Contains(codecs, "opus") {
		// Opus first for browsers, unless an admin took it out (an
		// Asterisk without codec_opus: omniccd warns at connect).
		codecs = slices.DeleteFunc(codecs, func(c string) bool { return c == "opus" })
		codecs = append([]string{"opus"}, codecs...)
	}
	if a.Video {
		if webrtc {
			codecs = append(codecs, "vp8", "h264")
		} else {
			codecs = append(codecs, "h264")
		}
	}
	callerID := a.CallerID
	if callerID == "" {
		callerID = `"` + strings.ReplaceAll(a.FullName, `"`, "'") + `" <` + a.Extension + `>`
	}
	var mailboxes string
	if a.Voicemail && a.Extension != "" {
		mailboxes = a.Extension + "@" + p.opts.VoicemailContext
	}

	// chan_sip's nat= values, in PJSIP terms.
	forceRport, rewriteContact, rtpSymmetric := false, false, false
	switch a.NAT {
	case "yes":
		forceRport, rewriteContact, rtpSymmetric = true, true, true
	case "force_rport":
		forceRport, rewriteContact = true, true
	case "comedia":
		rtpSymmetric = true
	case "route":
		rewriteContact, rtpSymmetric = true, true
	}
	transport, mediaEncryption, webrtcOpt, autoCert := TransportUDP, "no", "no", any(nil)
	qualify := 30
	switch {
	case webrtc:
		// Browsers sit behind NAT and talk over their own connection.
		transport, webrtcOpt, autoCert = TransportWSS, "yes", "yes"
		forceRport, rewriteContact, rtpSymmetric = true, true, true
		mediaEncryption = "" // webrtc=yes sets DTLS
		qualify = 0          // a closed tab drops its WebSocket, and Asterisk its contact
	case a.Typology == directory.TypologyMobile:
		transport, qualify = TransportTCP, 0 // an app asleep until a push does not answer OPTIONS
	}
	if !webrtc && a.Encryption {
		mediaEncryption = "sdes"
	}
	var contact any
	if a.Host != "" && a.Host != "dynamic" {
		contact = "sip:" + a.Username + "@" + a.Host
	}
	return []row{
		{table: "ps_endpoints", key: []col{{"id", a.Username}}, set: []col{
			{"transport", transport}, {"aors", a.Username}, {"auth", a.Username}, {"context", str(a.Context)},
			{"disallow", "all"}, {"allow", str(strings.Join(codecs, ","))}, {"direct_media", "no"},
			{"callerid", str(callerID)}, {"call_group", str(a.CallGroup)}, {"pickup_group", str(a.PickupGroup)},
			{"force_rport", yesno(forceRport)}, {"rewrite_contact", yesno(rewriteContact)}, {"rtp_symmetric", yesno(rtpSymmetric)},
			{"webrtc", webrtcOpt}, {"dtls_auto_generate_cert", autoCert}, {"media_encryption", str(mediaEncryption)},
			{"mailboxes", str(mailboxes)},
		}},
		{table: "ps_aors", key: []col{{"id", a.Username}}, set: []col{
			{"max_contacts", 1}, {"remove_existing", "yes"}, {"qualify_frequency", qualify},
			{"contact", contact}, {"mailboxes", str(mailboxes)},
		}},
		{table: "ps_auths", key: []col{{"id", a.Username}}, set: []col{
			{"auth_type", "userpass"}, {"username", a.Username}, {"password", str(a.SIPSecret)},
		}},
	}
}

// extensionRows make dialling the agent's extension reach it (see the sample
// extensions.conf: omnicc-agents and omnicc-dial-agent).
func (p *Projector) extensionRows(ext, dial string) []row {
	return []row{
		{table: "extensions", key: []col{{"context", p.opts.AgentsContext}, {"exten", ext}, {"priority", 1}},
			set: []col{{"app", "Gosub"}, {"appdata", odbcEncode("omnicc-dial-agent,s,1(" + dial + "," + ext + ")")}}},
		{table: "extensions", key: []col{{"context", p.opts.AgentsContext}, {"exten", ext}, {"priority", 2}},
			set: []col{{"app", "Hangup"}, {"appdata", ""}}},
	}
}

// voicemailRow is the agent's mailbox: its extension in the omnicc
// voicemail context. The PIN starts as the agent's random one; the agent may
// change it from VoiceMailMain, so an ordinary save never overwrites it —
// only a PIN set through the API does (see AgentSaved).
func (p *Projector) voicemailRow(a *directory.Agent) row {
	attach := any(nil)
	if a.Email != "" {
		attach = "yes"
	}
	return row{table: "voicemail",
		key:        []col{{"context", p.opts.VoicemailContext}, {"mailbox", a.Extension}},
		set:        []col{{"fullname", str(a.FullName)}, {"email", str(a.Email)}, {"attach", attach}},
		insertOnly: []col{{"password", a.VoicemailPIN}},
	}
}

// QueueSaved implements directory.Projector.
func (p *Projector) QueueSaved(ctx context.Context, tx *sqlx.Tx, before, after *directory.Queue) error {
	voice := after.Channel == directory.ChannelVoice
	if before != nil && before.Channel == directory.ChannelVoice && before.Name != after.Name {
		if err := p.exec(ctx, tx, "DELETE FROM queues WHERE name = ?", before.Name); err != nil {
			return fmt.Errorf("realtime: queue %q: %w", after.Name, err)
		}
		q, args := "UPDATE queue_members SET queue_name = ? WHERE queue_name = ?", []any{after.Name, before.Name}
		if !voice {
			q, args = "DELETE FROM queue_members WHERE queue_name = ?", []any{before.Name}
		}
		if err := p.exec(ctx, tx, q, args...); err != nil {
			return fmt.Errorf("realtime: queue %q: %w", after.Name, err)
		}
	}
	if !voice {
		if err := p.deleteQueue(ctx, tx, after.Name); err != nil {
			return fmt.Errorf("realtime: queue %q: %w", after.Name, err)
		}
		return nil
	}
	r := row{table: "queues", key: []col{{"name", after.Name}}, set: []col{
		{"strategy", after.Strategy}, {"timeout", after.Timeout}, {"retry", after.Retry}, {"wrapuptime", after.WrapUpTime},
		{"maxlen", after.MaxLen}, {"musiconhold", str(after.MusicOnHold)}, {"joinempty", str(after.JoinEmpty)},
		{"leavewhenempty", str(after.LeaveWhenEmpty)}, {"ringinuse", yesno(after.RingInUse)},
		{"announce_frequency", after.AnnounceFrequency}, {"announce_holdtime", str(after.AnnounceHoldtime)},
		// MEMBERINTERFACE, QUEUENAME... on the agent's channel, for the
		// dialplan and for AMI consumers.
		{"setinterfacevar", "yes"}, {"setqueuevar", "yes"},
	}}
	if err := p.upsert(ctx, tx, r); err != nil {
		return fmt.Errorf("realtime: queue %q: %w", after.Name, err)
	}
	members, err := directory.QueueMembersTx(ctx, tx, after.ID)
	if err != nil {
		return fmt.Errorf("realtime: queue %q: members: %w", after.Name, err)
	}
	for _, m := range members {
		if err := p.MembershipChanged(ctx, tx, m.QueueID, m.AgentID); err != nil {
			return err
		}
	}
	return nil
}

// QueueDeleted implements directory.Projector.
func (p *Projector) QueueDeleted(ctx context.Context, tx *sqlx.Tx, q *directory.Queue) error {
	if err := p.deleteQueue(ctx, tx, q.Name); err != nil {
		return fmt.Errorf("realtime: delete queue %q: %w", q.Name, err)
	}
	return nil
}

func (p *Projector) deleteQueue(ctx context.Context, tx *sqlx.Tx, name string) error {
	if err := p.exec(ctx, tx, "DELETE FROM queues WHERE name = ?", name); err != nil {
		return err
	}
	return p.exec(ctx, tx, "DELETE FROM queue_members WHERE queue_name = ?", name)
}

// link is an agent↔queue association as the projection needs it.
type link struct {
	QueueName string `db:"queue_name"`
	Channel   string `db:"channel"`
	Penalty   int    `db:"penalty"`
	Permanent bool   `db:"permanent"`
	Present   bool   `db:"present"` // false: the link was just removed
}

func agentLinks(ctx context.Context, tx *sqlx.Tx, agentID int64) ([]link, error) {
	ls, err := directory.ReadAgentQueueLinks(ctx, tx, agentID)
	if err != nil {
		return nil, err
	}
	out := make([]link, 0, len(ls))
	for _, l := range ls {
		out = append(out, link{QueueName: l.Queue, Channel: l.Channel, Penalty: l.Penalty, Permanent: l.Permanent, Present: true})
	}
	return out, nil
}

// MembershipChanged implements directory.Projector: the queue_members row of
// this agent in this queue exists exactly when the link is permanent, the
// queue is a voice queue and the agent can be reached.
func (p *Projector) MembershipChanged(ctx context.Context, tx *sqlx.Tx, queueID, agentID int64) error {
	ql, present, ok, err := directory.ReadQueueLink(ctx, tx, queueID, agentID)
	if err != nil {
		return fmt.Errorf("realtime: membership %d/%d: %w", queueID, agentID, err)
	}
	if !ok {
		return nil // the queue is gone; QueueDeleted removed its members
	}
	l := link{QueueName: ql.Queue, Channel: ql.Channel, Penalty: ql.Penalty, Permanent: ql.Permanent, Present: present}
	r, err := directory.ReadAgentRef(ctx, tx, agentID)
	if errors.Is(err, directory.ErrNotFound) {
		return nil // the agent is gone; AgentDeleted removed its members
	}
	if err != nil {
		return fmt.Errorf("realtime: membership %d/%d: %w", queueID, agentID, err)
	}
	v := agentView{ID: r.ID, Username: r.Username, FullName: r.FullName, Typology: r.Typology, Extension: r.Extension,
		ExternalNumber: r.ExternalNumber, Context: r.Context, Disabled: r.Disabled}
	return p.syncMember(ctx, tx, l, v)
}

func (p *Projector) syncMember(ctx context.Context, tx *sqlx.Tx, l link, a agentView) error {
	iface := a.interfaceOf()
	if iface == "" {
		return nil
	}
	if !l.Present || !l.Permanent || l.Channel != directory.ChannelVoice || a.dialString() == "" {
		return p.exec(ctx, tx, "DELETE FROM queue_members WHERE queue_name = ? AND "+p.b.quote("interface")+" = ?", l.QueueName, iface)
	}
	return p.upsert(ctx, tx, row{table: "queue_members",
		key: []col{{"queue_name", l.QueueName}, {"interface", iface}},
		set: []col{{"membername", str(a.member().MemberName)}, {"state_interface", a.member().StateInterface}, {"penalty", l.Penalty}},
		// app_queue owns the pause from then on.
		insertOnly: []col{{"paused", 0}},
	})
}

func (p *Projector) exec(ctx context.Context, tx *sqlx.Tx, q string, args ...any) error {
	_, err := tx.ExecContext(ctx, q, args...)
	return err
}

// upsert updates the owned columns of the row with r's key, or inserts it.
// Both engines count matched rows (MySQL through clientFoundRows), so 0
// means the row does not exist.
func (p *Projector) upsert(ctx context.Context, tx *sqlx.Tx, r row) error {
	var sb strings.Builder
	args := make([]any, 0, len(r.set)+len(r.key))
	sb.WriteString("UPDATE " + p.b.quote(r.table) + " SET ")
	for i, c := range r.set {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(p.b.quote(c.name) + " = ?")
		args = append(args, c.value)
	}
	for i, c := range r.key {
		if i == 0 {
			sb.WriteString(" WHERE ")
		} else {
			sb.WriteString(" AND ")
		}
		sb.WriteString(p.b.quote(c.name) + " = ?")
		args = append(args, c.value)
	}
	if len(r.set) > 0 {
		res, err := tx.ExecContext(ctx, sb.String(), args...)
		if err != nil {
			return fmt.Errorf("%s: %w", r.table, err)
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
	} else {
		var n int
		q := "SELECT COUNT(*) FROM " + p.b.quote(r.table) + sb.String()[len("UPDATE "+p.b.quote(r.table)+" SET "):]
		if err := tx.GetContext(ctx, &n, q, args...); err != nil || n > 0 {
			return err
		}
	}
	all := slices.Concat(r.key, r.set, r.insertOnly)
	names := make([]string, len(all))
	vals := make([]any, len(all))
	for i, c := range all {
		names[i], vals[i] = p.b.quote(c.name), c.value
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO "+p.b.quote(r.table)+" ("+strings.Join(names, ", ")+") VALUES (?"+strings.Repeat(", ?", len(all)-1)+")", vals...)
	if err != nil {
		return fmt.Errorf("%s: %w", r.table, err)
	}
	return nil
}

// Resync derives the rows of every agent and queue again, in one
// transaction. omniccd runs it at start so that agents written before the
// projector was wired (or while a projection was skipped) reach Asterisk.
// It only writes: rows of other endpoints and queues an administrator keeps
// in the same tables (trunks, say) are left alone.
func (p *Projector) Resync(ctx context.Context, dir *directory.Directory) (agents, queues int, err error) {
	var all []*directory.Agent
	for page := 1; ; page++ {
		batch, total, err := dir.ListAgents(ctx, directory.AgentFilter{Page: page, PerPage: directory.MaxPerPage})
		if err != nil {
			return 0, 0, fmt.Errorf("realtime: resync: list agents: %w", err)
		}
		all = append(all, batch...)
		if len(batch) == 0 || len(all) >= total {
			break
		}
	}
	var qs []*directory.Queue
	for page := 1; ; page++ {
		batch, total, err := dir.ListQueues(ctx, directory.QueueFilter{Page: page, PerPage: directory.MaxPerPage})
		if err != nil {
			return 0, 0, fmt.Errorf("realtime: resync: list queues: %w", err)
		}
		qs = append(qs, batch...)
		if len(batch) == 0 || len(qs) >= total {
			break
		}
	}
	err = dir.DB().InTx(ctx, func(tx *sqlx.Tx) error {
		for _, q := range qs {
			if err := p.QueueSaved(ctx, tx, nil, q); err != nil {
				return err
			}
		}
		for _, a := range all {
			if err := p.AgentSaved(ctx, tx, nil, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	p.Changed(directory.Change{})
	return len(all), len(qs), nil
}
