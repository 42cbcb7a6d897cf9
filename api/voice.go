package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"omnicc/auth"
	"omnicc/directory"
	"omnicc/presence"
	"omnicc/store"
)

// VoiceControl is what the voice routes need from Asterisk. *ami.Voice is
// one; cmd/omniccd hands it over, so this package never imports ami. The
// methods' errors may implement AsteriskOutcome (see asteriskFailure). box ""
// lets the implementation find the box that has the channel.
type VoiceControl interface {
	Originate(ctx context.Context, box, channel, dialContext, exten, callerID string, timeout time.Duration, vars []string) (usedBox string, err error)
	OriginateApp(ctx context.Context, box, channel, app, data, callerID string, timeout time.Duration, vars []string) (usedBox string, err error)
	Hangup(ctx context.Context, box, channel string) error
	BlindTransfer(ctx context.Context, box, channel, dialContext, exten string) error
	Atxfer(ctx context.Context, box, channel, dialContext, exten string) error
	CancelAtxfer(ctx context.Context, box, channel string) error
	AttendedTransferComplete(ctx context.Context, box, channel string) error
	Redirect(ctx context.Context, box, channel, extraChannel, dialContext, exten string) error
	MixMonitor(ctx context.Context, box, channel, file, options string) (usedBox, mixMonitorID string, err error)
	StopMixMonitor(ctx context.Context, box, channel, mixMonitorID string) error
	MixMonitorMute(ctx context.Context, box, channel string, mute bool) error
	Getvar(ctx context.Context, box, channel, variable string) (usedBox, value string, err error)
}

// asteriskFailure is an error from VoiceControl that says what went wrong
// on the Asterisk side: outcome "refused" (message is Asterisk's own),
// "unavailable", "timeout" or "invalid".
type asteriskFailure interface {
	error
	AsteriskOutcome() (outcome, message string)
}

// VoiceOptions wire the voice routes. Control, DB and Directory are required.
type VoiceOptions struct {
	Control   VoiceControl
	DB        *store.DB
	Directory *directory.Directory
	// Events, when set, receives a "recording" event whenever a recording
	// starts, pauses, resumes or stops (the agent bar's red record icon).
	Events presence.Publisher
	Logger *slog.Logger
	Now    func() time.Time
	// RecordDir is where recordings go, relative to Asterisk's monitor
	// directory [omnicc], as OMNICC_RECORD_DIR in the sample dialplan.
	RecordDir string
	// ConferenceContext is the dialplan context whose extension N runs
	// ConfBridge(N) [omnicc-conference]; see docs/voice.md.
	ConferenceContext string
	// RingTimeout is how long an originated call rings the agent's (or the
	// supervisor's) phone [30s].
	RingTimeout time.Duration
	// ActionTimeout bounds the AMI work of one request [10s].
	ActionTimeout time.Duration
}

// Voice is the REST side of call control: click-to-call, hang-up, transfers,
// conference, recording and supervisor ChanSpy. Mount adds its routes;
// AutoRecord and ChannelHungUp are for the AMI and AGI sides.
type Voice struct {
	opts VoiceOptions
	log  *slog.Logger
	recs recordingStore
	srv  *Server // set by Mount, for decoding and domain errors
}

// NewVoice checks the options and fills the defaults.
func NewVoice(o VoiceOptions) (*Voice, error) {
	switch {
	case o.Control == nil:
		return nil, errors.New("api: VoiceOptions.Control is required (pass ami.NewVoice(pool, log))")
	case o.DB == nil || o.Directory == nil:
		return nil, errors.New("api: VoiceOptions.DB and Directory are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RecordDir == "" {
		o.RecordDir = "omnicc"
	}
	if o.ConferenceContext == "" {
		o.ConferenceContext = "omnicc-conference"
	}
	if o.RingTimeout <= 0 {
		o.RingTimeout = 30 * time.Second
	}
	if o.ActionTimeout <= 0 {
		o.ActionTimeout = 10 * time.Second
	}
	if !contextRe.MatchString(o.ConferenceContext) {
		return nil, fmt.Errorf("api: conference context %q is not a dialplan context name", o.ConferenceContext)
	}
	return &Voice{opts: o, log: o.Logger, recs: recordingStore{db: o.DB}}, nil
}

// Mount registers the voice routes. Agents act on their own calls only;
// supervisors and admins on any agent's; ChanSpy is for staff.
func (v *Voice) Mount(r *Router) {
	v.srv = r.s
	r.Handle("POST", "/agents/:id/calls", everyone, v.clickToCall)
	r.Handle("POST", "/agents/:id/calls/hangup", everyone, v.hangup)
	r.Handle("POST", "/agents/:id/calls/blind-transfer", everyone, v.blindTransfer)
	r.Handle("POST", "/agents/:id/calls/attended-transfer", everyone, v.attendedTransfer)
	r.Handle("POST", "/agents/:id/calls/attended-transfer/complete", everyone, v.attendedTransferEnd(true))
	r.Handle("POST", "/agents/:id/calls/attended-transfer/cancel", everyone, v.attendedTransferEnd(false))
	r.Handle("POST", "/agents/:id/calls/conference", everyone, v.conference)
	r.Handle("POST", "/agents/:id/recordings", everyone, v.startRecording)
	r.Handle("POST", "/agents/:id/spy", staff, v.spy)
	r.Handle("GET", "/recordings", everyone, v.listRecordings)
	r.Handle("GET", "/recordings/:id", everyone, v.getRecording)
	r.Handle("POST", "/recordings/:id/stop", everyone, v.recordingAction("stop"))
	r.Handle("POST", "/recordings/:id/pause", everyone, v.recordingAction("pause"))
	r.Handle("POST", "/recordings/:id/resume", everyone, v.recordingAction("resume"))
}

// Input checks. Everything that reaches an AMI header is checked here, even
// though the AMI writer also refuses CR/LF: a channel such as "/.*/" would
// make Hangup hang up every channel, and a ',' would add ChanSpy options.
var (
	// Asterisk channel names: PJSIP/alice-00000001, Local/200@ctx-0000000a;1.
	channelRe  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{0,15}/[A-Za-z0-9._@+#*:;=~-]{1,111}$`)
	uniqueIDRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,150}$`)
	numberRe   = regexp.MustCompile(`^\+?[0-9*#]{1,32}$`)
	contextRe  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,79}$`)
	// A supervisor's phone: an endpoint, or a number reached through a
	// dialplan context.
	spyEndpointRe = regexp.MustCompile(`^(PJSIP/[A-Za-z0-9._]{1,64}|Local/\+?[0-9*#]{1,32}@[A-Za-z0-9_-]{1,79})$`)
	// Separators people type in numbers (the agent bar accepts them).
	numberNoise = strings.NewReplacer(" ", "", "-", "", ".", "", "(", "", ")", "", "[", "", "]", "", "{", "", "}", "")
)

// invalid answers 422 naming the field, as the directory's rule errors do.
func invalid(c *gin.Context, field, msg string) {
	writeError(c, http.StatusUnprocessableEntity, "invalid", field+": "+msg, field)
}

func checkChannel(c *gin.Context, field, ch string) bool {
	if !channelRe.MatchString(ch) {
		invalid(c, field, fmt.Sprintf("%q is not an Asterisk channel name such as PJSIP/alice-00000001 (letters, digits and ._@+#*:;=~- only, at most 128 characters)", ch))
		return false
	}
	return true
}

// normalizeNumber strips what people type between digits and checks the rest.
func normalizeNumber(c *gin.Context, field, raw string) (string, bool) {
	n := numberNoise.Replace(raw)
	if !numberRe.MatchString(n) {
		invalid(c, field, fmt.Sprintf("%q is not a number to dial (digits, * and #, an optional leading +, at most 32)", raw))
		return "", false
	}
	return n, true
}

func checkCallerID(c *gin.Context, field, s string) bool {
	if len(s) > 80 || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		invalid(c, field, "must be at most 80 characters with no control characters, e.g. \"Sales\" <+390612345678>")
		return false
	}
	return true
}

func checkBox(c *gin.Context, box string) bool {
	if len(box) > 255 || strings.ContainsFunc(box, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		invalid(c, "box", "must be a host:port from OMNICC_AMI")
		return false
	}
	return true
}

// agentInterface is the agent's dial string: PJSIP/<username>, or the Local
// channel that reaches an external agent's number (SPEC, fixed contracts).
func agentInterface(a *directory.Agent) string {
	if a.Typology == directory.TypologyExternal {
		return "Local/" + a.ExternalNumber + "@" + a.Context
	}
	return "PJSIP/" + a.Username
}

// ownsChannel: Asterisk names an endpoint's channels <interface>-<sequence>
// (a Local channel's halves end in ;1 and ;2 after the sequence).
func ownsChannel(a *directory.Agent, ch string) bool {
	return strings.HasPrefix(ch, agentInterface(a)+"-")
}

// actingAgent loads the agent of the path and checks the caller may act for
// it: the agent itself, or staff.
func (v *Voice) actingAgent(c *gin.Context) (*directory.Agent, auth.Principal, bool) {
	p := principal(c)
	id, ok := pathID(c, "id")
	if !ok {
		return nil, p, false
	}
	if !isStaff(p) && p.UserID != id {
		writeError(c, http.StatusForbidden, "forbidden", "agents may only control their own calls", "")
		return nil, p, false
	}
	a, err := v.opts.Directory.Agent(c.Request.Context(), id)
	if err != nil {
		v.srv.fail(c, err)
		return nil, p, false
	}
	if a.Disabled {
		writeError(c, http.StatusConflict, "agent_disabled", fmt.Sprintf("agent %s is disabled; an admin must enable it first", a.Username), "")
		return nil, p, false
	}
	return a, p, true
}

// agentChannel reads and checks the "channel" of a request acting on the
// agent's own call.
func agentChannel(c *gin.Context, a *directory.Agent, field, ch string) bool {
	if ch == "" {
		invalid(c, field, "is required: the agent's channel in the call, e.g. "+agentInterface(a)+"-00000001")
		return false
	}
	if !checkChannel(c, field, ch) {
		return false
	}
	if !ownsChannel(a, ch) {
		writeError(c, http.StatusForbidden, "not_agents_channel",
			fmt.Sprintf("%s: %q is not a channel of agent %s (its channels start with %s-)", field, ch, a.Username, agentInterface(a)), field)
		return false
	}
	return true
}

func (v *Voice) amiCtx(c *gin.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request.Context(), v.opts.ActionTimeout)
}

// fail answers an error from Asterisk with its message, and anything else as
// the server does.
func (v *Voice) fail(c *gin.Context, err error) {
	var af asteriskFailure
	if errors.As(err, &af) {
		outcome, _ := af.AsteriskOutcome()
		switch outcome {
		case "refused":
			writeError(c, http.StatusBadGateway, "asterisk_error", err.Error(), "")
		case "unavailable":
			writeError(c, http.StatusServiceUnavailable, "asterisk_unavailable", err.Error(), "")
		case "timeout":
			writeError(c, http.StatusGatewayTimeout, "asterisk_timeout", err.Error(), "")
		default:
			v.log.Warn("voice action not sent", "path", c.FullPath(), "err", err)
			writeError(c, http.StatusUnprocessableEntity, "invalid", err.Error(), "")
		}
		return
	}
	if errors.Is(err, errRecordingLimit) {
		writeError(c, http.StatusConflict, "recording_limit", err.Error(), "")
		return
	}
	v.srv.fail(c, err)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// --- click-to-call --------------------------------------------------------

type callRequest struct {
	Number   string `json:"number"`
	CallerID string `json:"caller_id"`
	Box      string `json:"box"`
}

// callerIDFor is what the agent's phone shows and what the dialplan passes on
// as the calling number, unless an outbound route sets its own.
func callerIDFor(a *directory.Agent) string {
	if a.CallerID != "" {
		return a.CallerID
	}
	name := strings.NewReplacer(`"`, "", "<", "", ">", "").Replace(a.FullName)
	return fmt.Sprintf("%q <%s>", name, a.Extension)
}

// clickToCall rings the agent's own phone first; when the agent answers,
// Asterisk dials the number from the agent's context, so outbound routes,
// caller ID rules and automatic recording apply as if the agent had dialled.
func (v *Voice) clickToCall(c *gin.Context) {
	a, _, ok := v.actingAgent(c)
	if !ok {
		return
	}
	var req callRequest
	if !v.srv.decode(c, &req) {
		return
	}
	number, ok := normalizeNumber(c, "number", req.Number)
	if !ok || !checkCallerID(c, "caller_id", req.CallerID) || !checkBox(c, req.Box) {
		return
	}
	if a.Typology == directory.TypologyExternal && !numberRe.MatchString(a.ExternalNumber) {
		writeError(c, http.StatusConflict, "no_endpoint", "external agent "+a.Username+" has no usable external_number to ring", "external_number")
		return
	}
	cid := req.CallerID
	if cid == "" {
		cid = callerIDFor(a)
	}
	id := randomHex(8)
	vars := []string{"OMNICC_AGENT_ID=" + fmt.Sprint(a.ID), "OMNICC_ORIGINATE_ID=" + id, "OMNICC_ORIGIN=click-to-call"}
	ctx, cancel := v.amiCtx(c)
	defer cancel()
	box, err := v.opts.Control.Originate(ctx, req.Box, agentInterface(a), a.Context, number, cid, v.opts.RingTimeout, vars)
	if err != nil {
		v.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"status": "ringing_agent", "originate_id": id, "channel": agentInterface(a),
		"number": number, "context": a.Context, "box": box})
}

// --- hang-up and transfers ------------------------------------------------

type channelRequest struct {
	Channel string `json:"channel"`
	Box     string `json:"box"`
}

type transferRequest struct {
	Channel string `json:"channel"`
	Number  string `json:"number"`
	Box     string `json:"box"`
}

func (v *Voice) hangup(c *gin.Context) {
	a, _, ok := v.actingAgent(c)
	if !ok {
		return
	}
	var req channelRequest
	if !v.srv.decode(c, &req) || !agentChannel(c, a, "channel", req.Channel) || !checkBox(c, req.Box) {
		return
	}
	ctx, cancel := v.amiCtx(c)
	defer cancel()
	if err := v.opts.Control.Hangup(ctx, req.Box, req.Channel); err != nil {
		v.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "hung_up", "channel": req.Channel})
}

func (v *Voice) transferInput(c *gin.Context) (*directory.Agent, transferRequest, string, bool) {
	var req transferRequest
	a, _, ok := v.actingAgent(c)
	if !ok || !v.srv.decode(c, &req) || !agentChannel(c, a, "channel", req.Channel) || !checkBox(c, req.Box) {
		return nil, req, "", false
	}
	number, ok := normalizeNumber(c, "number", req.Number)
	return a, req, number, ok
}

// blindTransfer sends the party the agent talks to (the other side of the
// agent's channel) to the number, dialled from the agent's context.
func (v *Voice) blindTransfer(c *gin.Context) {
	a, req, number, ok := v.transferInput(c)
	if !ok {
		return
	}
	ctx, cancel := v.amiCtx(c)
	defer cancel()
	if err := v.opts.Control.BlindTransfer(ctx, req.Box, req.Channel, a.Context, number); err != nil {
		v.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "transferred", "channel": req.Channel, "number": number})
}

// attendedTransfer holds the other party and connects the agent to the
// number; complete or cancel ends it.
func (v *Voice) attendedTransfer(c *gin.Context) {
	a, req, number, ok := v.transferInput(c)
	if !ok {
		return
	}
	ctx, cancel := v.amiCtx(c)
	defer cancel()
	if err := v.opts.Control.Atxfer(ctx, req.Box, req.Channel, a.Context, number); err != nil {
		v.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "consulting", "channel": req.Channel, "number": number})
}

// attendedTransferEnd completes (the transferer's channel hangs up and the
// bridging core joins the held party to the target) or cancels (CancelAtxfer:
// back to the held party) the attended transfer of the agent's channel.
func (v *Voice) attendedTransferEnd(complete bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		a, _, ok := v.actingAgent(c)
		if !ok {
			return
		}
		var req channelRequest
		if !v.srv.decode(c, &req) || !agentChannel(c, a, "channel", req.Channel) || !checkBox(c, req.Box) {
			return
		}
		ctx, cancel := v.amiCtx(c)
		defer cancel()
		var err error
		status := "transfer_completed"
		if complete {
			err = v.opts.Control.AttendedTransferComplete(ctx, req.Box, req.Channel)
		} else {
			status = "transfer_cancelled"
			err = v.opts.Control.CancelAtxfer(ctx, req.Box, req.Channel)
		}
		if err != nil {
			v.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": status, "channel": req.Channel})
	}
}

// --- three-way conference -------------------------------------------------

type conferenceRequest struct {
	// Channel is the agent's leg of the call with the customer.
	Channel string `json:"channel"`
	// ConsultChannel is the agent's leg of a second call (the seeds' "place
	// the new call and speak with the second recipient"); or Number dials
	// the third party straight into the room.
	ConsultChannel string `json:"consult_channel"`
	Number         string `json:"number"`
	Box            string `json:"box"`
}

// conference merges the agent, the customer and a third party in a ConfBridge
// room. The customer is whoever is bridged to the agent's channel
// (BRIDGEPEER, read from Asterisk rather than trusted from the client); the
// agent's leg and the customer are moved together by one Redirect so neither
// is left alone in a dissolving bridge. The third party is the peer of the
// agent's consultation leg (moved, then that leg hung up so the agent is in
// the room once) or a number originated into the room. The agent leaving the
// room (hang-up) lets the other two go on talking.
func (v *Voice) conference(c *gin.Context) {
	a, _, ok := v.actingAgent(c)
	if !ok {
		return
	}
	var req conferenceRequest
	if !v.srv.decode(c, &req) || !agentChannel(c, a, "channel", req.Channel) || !checkBox(c, req.Box) {
		return
	}
	var number string
	switch {
	case req.ConsultChannel != "" && req.Number != "":
		invalid(c, "number", "give consult_channel (the agent's second call) or number (a third party to dial), not both")
		return
	case req.ConsultChannel != "":
		if !agentChannel(c, a, "consult_channel", req.ConsultChannel) {
			return
		}
		if req.ConsultChannel == req.Channel {
			invalid(c, "consult_channel", "must be the agent's other call, not channel")
			return
		}
	default:
		if number, ok = normalizeNumber(c, "number", req.Number); !ok {
			return
		}
	}
	ctx, cancel := v.amiCtx(c)
	defer cancel()
	peer, box, ok := v.bridgePeer(c, ctx, req.Box, req.Channel, "channel")
	if !ok {
		return
	}
	var third string
	if req.ConsultChannel != "" {
		if third, _, ok = v.bridgePeer(c, ctx, box, req.ConsultChannel, "consult_channel"); !ok {
			return
		}
	}
	room := conferenceRoom()
	conf := v.opts.ConferenceContext
	if err := v.opts.Control.Redirect(ctx, box, req.Channel, peer, conf, room); err != nil {
		v.fail(c, err)
		return
	}
	if third != "" {
		if err := v.opts.Control.Redirect(ctx, box, third, "", conf, room); err != nil {
			v.fail(c, err)
			return
		}
		// Left alone in its bridge, the consultation leg would keep the
		// agent's phone busy with silence.
		if err := v.opts.Control.Hangup(ctx, box, req.ConsultChannel); err != nil {
			v.log.Warn("conference: consultation leg not hung up", "channel", req.ConsultChannel, "err", err)
		}
	} else {
		vars := []string{"OMNICC_AGENT_ID=" + fmt.Sprint(a.ID), "OMNICC_ORIGIN=conference", "OMNICC_CONFERENCE=" + room}
		dial := "Local/" + number + "@" + a.Context
		if _, err := v.opts.Control.Originate(ctx, box, dial, conf, room, callerIDFor(a), v.opts.RingTimeout, vars); err != nil {
			v.fail(c, err)
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "conference", "room": room, "context": conf, "customer_channel": peer,
		"third_channel": third, "number": number})
}

// bridgePeer reads who is bridged to ch, answering 409 when nobody is.
func (v *Voice) bridgePeer(c *gin.Context, ctx context.Context, box, ch, field string) (peer, usedBox string, ok bool) {
	usedBox, peer, err := v.opts.Control.Getvar(ctx, box, ch, "BRIDGEPEER")
	if err != nil {
		v.fail(c, err)
		return "", "", false
	}
	if !channelRe.MatchString(peer) {
		writeError(c, http.StatusConflict, "not_bridged",
			fmt.Sprintf("%s: %s is not in a two-party call right now (Asterisk reports BRIDGEPEER %q)", field, ch, peer), field)
		return "", "", false
	}
	return peer, usedBox, true
}

// conferenceRoom is a fresh ConfBridge room number (digits only, so that the
// conference context can match it with _X.).
func conferenceRoom() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(9_000_000_000))
	return fmt.Sprint(1_000_000_000 + n.Int64())
}

// --- supervisor ChanSpy ----------------------------------------------------

type spyRequest struct {
	Mode     string `json:"mode"`
	Endpoint string `json:"endpoint"`
	Channel  string `json:"channel"`
	Box      string `json:"box"`
}

// ChanSpy options: q quiet (no channel name announced to the supervisor), E
// exit when the spied-on channel hangs up, w whisper (the agent hears the
// supervisor), B barge (both parties hear the supervisor).
var spyOptions = map[string]string{"listen": "qE", "whisper": "qEw", "barge": "qEB"}

// spy rings the supervisor's phone and, when answered, connects it to the
// agent's call with ChanSpy — only if the agent allows chanspy.
func (v *Voice) spy(c *gin.Context) {
	p := principal(c)
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	var req spyRequest
	if !v.srv.decode(c, &req) || !checkBox(c, req.Box) {
		return
	}
	opts, ok := spyOptions[req.Mode]
	if !ok {
		invalid(c, "mode", fmt.Sprintf("%q must be listen, whisper or barge", req.Mode))
		return
	}
	a, err := v.opts.Directory.Agent(c.Request.Context(), id)
	if err != nil {
		v.srv.fail(c, err)
		return
	}
	if !a.Chanspy {
		writeError(c, http.StatusForbidden, "chanspy_not_allowed",
			fmt.Sprintf("agent %s does not allow chanspy (listen, whisper, barge); an admin can set \"chanspy\": true on the agent", a.Username), "")
		return
	}
	endpoint := req.Endpoint
	if endpoint == "" {
		endpoint = "PJSIP/" + p.Username
	}
	if !spyEndpointRe.MatchString(endpoint) {
		invalid(c, "endpoint", fmt.Sprintf("%q is not the supervisor's phone: give PJSIP/<endpoint> or Local/<number>@<context>", endpoint))
		return
	}
	target := agentInterface(a) + "-"
	if req.Channel != "" {
		if !agentChannel(c, a, "channel", req.Channel) {
			return
		}
		target = req.Channel
	}
	label := strings.ToUpper(req.Mode[:1]) + req.Mode[1:]
	cid := fmt.Sprintf("%q <%s>", label+" "+a.Username, a.Extension)
	vars := []string{"OMNICC_SPY_AGENT_ID=" + fmt.Sprint(a.ID), "OMNICC_SPY_MODE=" + req.Mode, "OMNICC_ORIGIN=chanspy"}
	ctx, cancel := v.amiCtx(c)
	defer cancel()
	box, err := v.opts.Control.OriginateApp(ctx, req.Box, endpoint, "ChanSpy", target+","+opts, cid, v.opts.RingTimeout, vars)
	if err != nil {
		v.fail(c, err)
		return
	}
	v.log.Info("chanspy started", "supervisor", p.Username, "agent", a.Username, "mode", req.Mode, "endpoint", endpoint)
	c.JSON(http.StatusAccepted, gin.H{"status": "ringing_supervisor", "mode": req.Mode, "endpoint": endpoint, "target": target, "box": box})
}

// --- recordings -------------------------------------------------------------

type recordRequest struct {
	Channel  string `json:"channel"`
	UniqueID string `json:"uniqueid"`
	Format   string `json:"format"`
	Box      string `json:"box"`
}

// recordingFormat maps a record_calls value (or OMNICC_RECORD's 1/yes) to a
// format, "" for none.
func recordingFormat(v string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "no", "inactive":
		return "", true
	case "1", "yes", "wav":
		return "wav", true
	case "wav49":
		return "wav49", true
	case "gsm":
		return "gsm", true
	}
	return "", false
}

// recordingFile is the path MixMonitor writes, under RecordDir. wav49 is
// written as .WAV, the extension Asterisk itself turns .wav49 into, so the
// stored name is the real one.
func (v *Voice) recordingFile(at time.Time, callID string, slot int, format string) string {
	ext := format
	if format == "wav49" {
		ext = "WAV"
	}
	return fmt.Sprintf("%s/%s/%s-%d.%s", v.opts.RecordDir, at.UTC().Format("2006/01/02"), callID, slot, ext)
}

// startMixMonitor records r (already validated) on its channel: reserve the
// slot, run MixMonitor, keep its ID — or free the slot when Asterisk says no.
func (v *Voice) startMixMonitor(ctx context.Context, r *Recording, firstOnly bool) error {
	if err := v.recs.reserve(ctx, r, firstOnly, func(slot int) string {
		return v.recordingFile(r.StartedAt, r.CallID, slot, r.Format)
	}); err != nil {
		return err
	}
	// i() makes Asterisk return the MixMonitorID, so that each of two
	// recordings on one channel can be stopped alone.
	box, mixID, err := v.opts.Control.MixMonitor(ctx, r.Box, r.Channel, r.File, fmt.Sprintf("i(OMNICC_MIXMON_%d)", r.Slot))
	if err != nil {
		if rerr := v.recs.release(context.WithoutCancel(ctx), r.ID); rerr != nil {
			v.log.Error("recording slot not released after MixMonitor failed; it stays in state starting", "id", r.ID, "err", rerr)
		}
		return err
	}
	// Asterisk is recording now: the row must say so even if the caller
	// has gone away meanwhile.
	if err := v.recs.started(context.WithoutCancel(ctx), r.ID, box, mixID); err != nil {
		return err
	}
	r.Box, r.MixMonitorID, r.State = box, mixID, RecordingRecording
	v.publishRecording(r)
	return nil
}

func (v *Voice) publishRecording(r *Recording) {
	if v.opts.Events == nil {
		return
	}
	var agent int64
	if r.AgentID != nil {
		agent = *r.AgentID
	}
	v.opts.Events.Publish(presence.Event{Type: "recording", AgentID: agent, Payload: r})
}

// startRecording records the agent's channel. Agents need recording enabled
// (webrtc enable_recording, or record_calls other than inactive); staff may
// always record.
func (v *Voice) startRecording(c *gin.Context) {
	a, p, ok := v.actingAgent(c)
	if !ok {
		return
	}
	var req recordRequest
	if !v.srv.decode(c, &req) || !agentChannel(c, a, "channel", req.Channel) || !checkBox(c, req.Box) {
		return
	}
	if req.UniqueID != "" && !uniqueIDRe.MatchString(req.UniqueID) {
		invalid(c, "uniqueid", fmt.Sprintf("%q is not an Asterisk uniqueid such as 1795277390.12", req.UniqueID))
		return
	}
	if !isStaff(p) && !a.WebRTC.EnableRecording && a.RecordCalls == "inactive" {
		writeError(c, http.StatusForbidden, "recording_not_allowed",
			"recording is not enabled for agent "+a.Username+"; an admin can turn on webrtc.enable_recording", "")
		return
	}
	format, ok := recordingFormat(req.Format)
	if !ok || (req.Format != "" && format == "") {
		invalid(c, "format", fmt.Sprintf("%q must be wav, wav49 or gsm", req.Format))
		return
	}
	if format == "" {
		if format, _ = recordingFormat(a.RecordCalls); format == "" {
			format = "wav"
		}
	}
	ctx, cancel := v.amiCtx(c)
	defer cancel()
	// The call's identity comes from Asterisk: a client could otherwise
	// name a new call id for every recording and escape the limit.
	box, uniqueID, err := v.opts.Control.Getvar(ctx, req.Box, req.Channel, "CHANNEL(uniqueid)")
	if err != nil {
		v.fail(c, err)
		return
	}
	_, linkedID, err := v.opts.Control.Getvar(ctx, box, req.Channel, "CHANNEL(linkedid)")
	if err != nil {
		v.fail(c, err)
		return
	}
	if !uniqueIDRe.MatchString(uniqueID) || !uniqueIDRe.MatchString(linkedID) {
		writeError(c, http.StatusBadGateway, "asterisk_error",
			fmt.Sprintf("Asterisk gave unusable ids for %s (uniqueid %q, linkedid %q)", req.Channel, uniqueID, linkedID), "")
		return
	}
	if req.UniqueID != "" && req.UniqueID != uniqueID {
		writeError(c, http.StatusConflict, "call_mismatch",
			fmt.Sprintf("%s is now call %s, not %s: the call you meant has ended", req.Channel, uniqueID, req.UniqueID), "uniqueid")
		return
	}
	agentID := a.ID
	r := &Recording{CallID: linkedID, Box: box, Channel: req.Channel, UniqueID: uniqueID, LinkedID: linkedID,
		AgentID: &agentID, Format: format, Source: RecordingManual, StartedAt: v.now(),
		StartedBy: nullID(p.UserID), StartedByName: p.Username}
	if err := v.startMixMonitor(ctx, r, false); err != nil {
		v.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, r)
}

func (v *Voice) now() time.Time { return v.opts.Now().UTC().Truncate(time.Microsecond) }

// recordingFor loads a recording the caller may act on.
func (v *Voice) recordingFor(c *gin.Context) (*Recording, auth.Principal, bool) {
	p := principal(c)
	id, ok := pathID(c, "id")
	if !ok {
		return nil, p, false
	}
	r, err := v.recs.get(c.Request.Context(), id)
	if err != nil {
		v.srv.fail(c, err)
		return nil, p, false
	}
	if !isStaff(p) && (r.AgentID == nil || *r.AgentID != p.UserID) {
		writeError(c, http.StatusForbidden, "forbidden", "agents may only see and control their own recordings", "")
		return nil, p, false
	}
	return r, p, true
}

func (v *Voice) getRecording(c *gin.Context) {
	if r, _, ok := v.recordingFor(c); ok {
		c.JSON(http.StatusOK, r)
	}
}

// recordingAction stops, pauses or resumes a recording.
func (v *Voice) recordingAction(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		r, p, ok := v.recordingFor(c)
		if !ok {
			return
		}
		switch {
		case r.State == RecordingStopped:
			writeError(c, http.StatusConflict, "recording_stopped", fmt.Sprintf("recording %d is already stopped; start a new one (at most two per call)", r.ID), "")
			return
		case r.State == RecordingStarting:
			writeError(c, http.StatusConflict, "recording_starting", fmt.Sprintf("recording %d has not started yet; try again in a moment", r.ID), "")
			return
		case action == "pause" && r.State == RecordingPaused, action == "resume" && r.State == RecordingRecording:
			c.JSON(http.StatusOK, r) // already so: idempotent
			return
		}
		ctx, cancel := v.amiCtx(c)
		defer cancel()
		var err error
		switch action {
		case "stop":
			err = v.opts.Control.StopMixMonitor(ctx, r.Box, r.Channel, r.MixMonitorID)
			var af asteriskFailure
			if err != nil && errors.As(err, &af) {
				// The channel is gone: MixMonitor ended with the call,
				// which is what the caller wanted.
				if o, msg := af.AsteriskOutcome(); o == "refused" && strings.Contains(strings.ToLower(msg), "no such channel") {
					err = nil
				}
			}
			if err == nil {
				// Done in Asterisk: record it even if the client left.
				err = v.recs.stop(context.WithoutCancel(ctx), r.ID, v.now(), p.UserID, p.Username)
			}
		case "pause", "resume":
			err = v.opts.Control.MixMonitorMute(ctx, r.Box, r.Channel, action == "pause")
			if err == nil {
				err = v.recs.setPaused(context.WithoutCancel(ctx), r.Box, r.UniqueID, action == "pause")
			}
		}
		if err != nil {
			v.fail(c, err)
			return
		}
		if r, err = v.recs.get(ctx, r.ID); err != nil {
			v.srv.fail(c, err)
			return
		}
		v.publishRecording(r)
		c.JSON(http.StatusOK, r)
	}
}

var recordingStates = []string{RecordingStarting, RecordingRecording, RecordingPaused, RecordingStopped}

// listRecordings: staff see all; an agent sees its own only.
func (v *Voice) listRecordings(c *gin.Context) {
	p := principal(c)
	var f RecordingFilter
	page, ok1 := queryInt(c, "page")
	per, ok2 := queryInt(c, "per_page")
	agentID, ok3 := queryInt(c, "agent_id")
	if !ok1 || !ok2 || !ok3 {
		return
	}
	f.AgentID = int64(agentID)
	if !isStaff(p) {
		if f.AgentID != 0 && f.AgentID != p.UserID {
			writeError(c, http.StatusForbidden, "forbidden", "agents may only list their own recordings", "agent_id")
			return
		}
		f.AgentID = p.UserID
		if p.UserID == 0 {
			writeError(c, http.StatusForbidden, "forbidden", "an agent API key has no recordings; use a staff key", "")
			return
		}
	}
	for _, q := range []struct {
		name string
		dst  *string
	}{{"call_id", &f.CallID}, {"uniqueid", &f.UniqueID}, {"linkedid", &f.LinkedID}} {
		if s := c.Query(q.name); s != "" {
			if !uniqueIDRe.MatchString(s) {
				writeError(c, http.StatusBadRequest, "bad_query", q.name+" "+fmt.Sprintf("%q", s)+" is not an Asterisk id", q.name)
				return
			}
			*q.dst = s
		}
	}
	if s := c.Query("state"); s != "" {
		found := false
		for _, st := range recordingStates {
			found = found || st == s
		}
		if !found {
			writeError(c, http.StatusBadRequest, "bad_query", "state must be one of "+strings.Join(recordingStates, ", "), "state")
			return
		}
		f.State = s
	}
	for _, q := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if s := c.Query(q.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				writeError(c, http.StatusBadRequest, "bad_query", q.name+" must be an RFC 3339 time such as 2026-01-02T15:04:05Z", q.name)
				return
			}
			*q.dst = t
		}
	}
	switch {
	case page == 0:
		page = 1
	case page < 1:
		writeError(c, http.StatusBadRequest, "bad_query", "page must be 1 or more", "page")
		return
	}
	switch {
	case per == 0:
		per = 50
	case per < 1 || per > directory.MaxPerPage:
		writeError(c, http.StatusBadRequest, "bad_query", fmt.Sprintf("per_page must be 1 to %d", directory.MaxPerPage), "per_page")
		return
	}
	f.Page, f.PerPage = page, per
	items, total, err := v.recs.list(c.Request.Context(), f)
	if err != nil {
		v.srv.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list[Recording]{Items: items, Total: total})
}

// --- for the AMI and AGI sides ---------------------------------------------

// AnsweredCall is a call an agent has just answered (or that an agent's
// outbound call has reached), as the AMI tracker or the AGI sees it.
type AnsweredCall struct {
	Box      string // the Asterisk box (OMNICC_AMI host:port), "" to find it
	Channel  string // the channel to record, usually the agent's leg
	UniqueID string
	LinkedID string // the call; "" uses UniqueID
	AgentID  int64  // the agent on the call, 0 when none
	// QueueFormat is the automatic recording of the queue the call came
	// through (wav, wav49, gsm; "" or inactive for none).
	QueueFormat string
	// RouteFormat is the outbound route's (OMNICC_RECORD: 1/yes, wav,
	// wav49, gsm; "" for none).
	RouteFormat string
}

// AutoRecord starts the automatic recording a call is due, if any: the
// outbound route's, else the queue's, else the agent's record_calls. It
// returns nil, nil when nothing is due or the call already has a recording in
// slot 1 (so calling it twice for one call, or after a manual recording,
// records once). The AMI tracker calls it on AgentConnect and on an agent's
// answered outbound call; it must not be called from the event reader itself
// (it waits for Asterisk).
func (v *Voice) AutoRecord(ctx context.Context, call AnsweredCall) (*Recording, error) {
	if call.LinkedID == "" {
		call.LinkedID = call.UniqueID
	}
	if !channelRe.MatchString(call.Channel) || !uniqueIDRe.MatchString(call.UniqueID) || !uniqueIDRe.MatchString(call.LinkedID) {
		return nil, fmt.Errorf("auto-record: channel %q / uniqueid %q / linkedid %q are not Asterisk names", call.Channel, call.UniqueID, call.LinkedID)
	}
	format, source := "", ""
	routeFmt, ok1 := recordingFormat(call.RouteFormat)
	queueFmt, ok2 := recordingFormat(call.QueueFormat)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("auto-record: format %q/%q must be wav, wav49, gsm or empty", call.RouteFormat, call.QueueFormat)
	}
	var agentID *int64
	switch {
	case routeFmt != "":
		format, source = routeFmt, RecordingRoute
	case queueFmt != "":
		format, source = queueFmt, RecordingQueue
	}
	if call.AgentID != 0 {
		id := call.AgentID
		agentID = &id
		if format == "" {
			a, err := v.opts.Directory.Agent(ctx, call.AgentID)
			if err != nil {
				return nil, fmt.Errorf("auto-record: %w", err)
			}
			if f, _ := recordingFormat(a.RecordCalls); f != "" {
				format, source = f, RecordingAgent
			}
		}
	}
	if format == "" {
		return nil, nil
	}
	r := &Recording{CallID: call.LinkedID, Box: call.Box, Channel: call.Channel, UniqueID: call.UniqueID, LinkedID: call.LinkedID,
		AgentID: agentID, Format: format, Source: source, StartedAt: v.now(), StartedByName: "auto:" + source}
	err := v.startMixMonitor(ctx, r, true)
	if errors.Is(err, errRecordingLimit) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auto-record %s (%s) on %s: %w", call.UniqueID, source, call.Channel, err)
	}
	v.log.Info("automatic recording started", "source", source, "channel", call.Channel, "file", r.File, "agent_id", call.AgentID)
	return r, nil
}

// ChannelHungUp marks the recordings of a channel that hung up as stopped
// (MixMonitor ends with its channel). The AMI tracker calls it on Hangup.
func (v *Voice) ChannelHungUp(ctx context.Context, uniqueID string) error {
	if !uniqueIDRe.MatchString(uniqueID) {
		return nil
	}
	ids, err := v.recs.stopChannel(ctx, uniqueID, v.now(), "hangup")
	if err != nil {
		return fmt.Errorf("mark recordings of %s stopped: %w", uniqueID, err)
	}
	for _, id := range ids {
		if r, err := v.recs.get(ctx, id); err == nil {
			v.publishRecording(r)
		}
	}
	return nil
}
