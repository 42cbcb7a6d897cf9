// Package calls is calls and recordings as the core sees them: click-to-call,
// hang-up, transfers, conference, supervisor listen/whisper/barge, and the
// recording slots with their automatic-recording rules. It drives the
// telephone system through Control, which the ami adapter implements.
package calls

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"omnicc/directory"
	"omnicc/domain"
	"omnicc/presence"
	"omnicc/store"
)

// Agent is what a Control needs to know of an agent to reach it and to tell
// its channels: the adapter turns it into its own names (for Asterisk,
// PJSIP/<username> or Local/<number>@<context>/n).
type Agent struct {
	ID             int64
	Username       string
	External       bool // no endpoint of its own: reached at ExternalNumber
	ExternalNumber string
	Context        string // the dialplan context its calls are dialled from
}

// Ring is how an originated call rings its first party.
type Ring struct {
	CallerID string
	Timeout  time.Duration
	// Vars are "NAME=value" channel variables the dialplan reads
	// (OMNICC_AGENT_ID, OMNICC_ORIGIN, …).
	Vars []string
}

// SpyCall rings a supervisor's phone and, when answered, connects it to an
// agent's call.
type SpyCall struct {
	Supervisor string // the supervisor's username
	Endpoint   string // the phone to ring (the request's, else the user's desk endpoint)
	Agent      Agent
	Channel    string // one call of the agent; "" for whichever it is on
	Mode       string // SpyListen, SpyWhisper or SpyBarge
	Ring       Ring
}

// Supervisor modes.
const (
	SpyListen  = "listen"  // the supervisor hears both parties
	SpyWhisper = "whisper" // …and the agent hears the supervisor
	SpyBarge   = "barge"   // …and both parties hear the supervisor
)

// Controls, as Control.Ready names them: each needs telephone-system
// modules the adapter knows of.
const (
	ControlCall       = "call"       // click-to-call, hang-up
	ControlTransfer   = "transfer"   // blind and attended transfer
	ControlConference = "conference" // three-way conference
	ControlRecording  = "recording"  // start, pause, resume, stop, automatic
	ControlSpy        = "spy"        // listen, whisper, barge
	ControlHold       = "hold"       // hold and resume with music on hold
)

// Control is what calls needs from the telephone system. *ami.Voice is one.
// box names one system of several ("" lets the implementation find the one
// that has the channel, or pick one for a new call); methods that start
// something the caller must find again return the box that answered.
// Failures wrap ErrRefused (and ErrNoSuchChannel), ErrUnavailable,
// ErrTimeout or ErrNotSent; input the implementation cannot name is a
// *domain.FieldError.
type Control interface {
	// Ready returns nil when box ("" for any) can run control (Control*),
	// else an error wrapping ErrModuleMissing that names what is missing.
	Ready(box, control string) error
	// CheckChannel returns nil when channel can name a call leg, else why
	// not. It guards the wire: a channel such as "/.*/" would make a
	// hang-up end every call.
	CheckChannel(channel string) error
	// OwnsChannel reports whether channel is one of the agent's legs.
	OwnsChannel(a Agent, channel string) bool

	// RingAgent rings the agent's phone and, when answered, sends it to
	// dialContext,exten; it returns the box and what it dialled.
	RingAgent(ctx context.Context, box string, a Agent, dialContext, exten string, r Ring) (usedBox, dialled string, err error)
	// RingNumber dials number through numberContext and, when answered,
	// sends it to dialContext,exten.
	RingNumber(ctx context.Context, box, number, numberContext, dialContext, exten string, r Ring) (usedBox string, err error)
	// Spy rings the supervisor and connects it to the agent's call; it
	// returns the endpoint it rang and what it spies on.
	Spy(ctx context.Context, box string, s SpyCall) (usedBox, endpoint, target string, err error)

	Hangup(ctx context.Context, box, channel string) error
	// BlindTransfer sends the party bridged with channel to
	// dialContext,exten and hangs channel up.
	BlindTransfer(ctx context.Context, box, channel, dialContext, exten string) error
	// AttendedTransfer holds the party bridged with channel and connects
	// channel to dialContext,exten; CompleteTransfer joins the held party to
	// that target, CancelTransfer goes back to the held party.
	AttendedTransfer(ctx context.Context, box, channel, dialContext, exten string) error
	// CompleteTransfer and CancelTransfer answer ErrNoConsultation when
	// they can tell no attended transfer is going on (ami cannot yet: a
	// complete is a hang-up of the transferer).
	CompleteTransfer(ctx context.Context, box, channel string) error
	CancelTransfer(ctx context.Context, box, channel string) error
	// BridgePeer is the channel bridged with channel, "" when none.
	BridgePeer(ctx context.Context, box, channel string) (usedBox, peer string, err error)
	// Redirect moves channel — and extraChannel with it when given, so that
	// neither is left alone in a dissolving bridge — to dialContext,exten.
	Redirect(ctx context.Context, box, channel, extraChannel, dialContext, exten string) error

	// Getvar reads a channel variable of channel (OMNICC_RECORD, which the
	// outbound route's decision leaves on the agent's leg).
	Getvar(ctx context.Context, box, channel, variable string) (usedBox, value string, err error)
	// HoldApart moves the customer and the agent's leg, together, out of
	// their bridge to holdContext (extensions customer and agent), where each
	// waits with music on hold; Rejoin bridges the two again.
	HoldApart(ctx context.Context, box, agentChannel, customerChannel, holdContext string) error
	Rejoin(ctx context.Context, box, agentChannel, customerChannel string) error
	// CallIDs are the leg's own id and the id of the call it belongs to.
	CallIDs(ctx context.Context, box, channel string) (usedBox, uniqueID, linkedID string, err error)
	// StartRecording records channel into file (relative to the system's
	// recordings directory) as the call's recording number slot, and
	// returns the id StopRecording needs to stop this one and no other.
	StartRecording(ctx context.Context, box, channel, file string, slot int) (usedBox, recordingID string, err error)
	StopRecording(ctx context.Context, box, channel, recordingID string) error
	// MuteRecording pauses or resumes every recording of channel.
	MuteRecording(ctx context.Context, box, channel string, mute bool) error
}

// Agents is where calls reads agents: *directory.Directory.
type Agents interface {
	Agent(ctx context.Context, id int64) (*directory.Agent, error)
}

// Options wire a Service. Control, DB and Agents are required.
type Options struct {
	Control Control
	DB      *store.DB
	Agents  Agents
	// Events, when set, receives a "recording" event whenever a recording
	// starts, pauses, resumes or stops (the agent bar's red record icon).
	Events presence.Publisher
	// AgentOf finds the agent a channel belongs to (presence's
	// AgentIDByChannel); without it no call is recorded automatically.
	AgentOf func(channel string) (agentID int64, ok bool)
	// CallQueue is the queue of the agent's call on channel as presence
	// knows it ("" for none): a leg entering a bridge may be reported before
	// AgentConnect, and must not be taken for a call without a queue.
	CallQueue func(ctx context.Context, agentID int64, channel string) string
	// Held, when set, is told when omniccd holds or resumes an agent's leg,
	// so that the agent's state says on_hold (presence learns of a phone's
	// own hold from Asterisk's Hold events).
	Held func(agentID int64, channel string, held bool)
	// QueueRecording is the automatic recording format of a queue ("" for
	// none); nil when queues have no such setting.
	QueueRecording func(ctx context.Context, queue string) (string, error)
	Logger         *slog.Logger
	Now            func() time.Time
	// RecordDir is where recordings go, relative to Asterisk's monitor
	// directory [omnicc], as OMNICC_RECORD_DIR in the sample dialplan.
	RecordDir string
	// ConferenceContext is the dialplan context whose extension N runs
	// ConfBridge(N) [omnicc-conference]; see docs/voice.md.
	ConferenceContext string
	// HoldContext is the dialplan context whose extensions customer and
	// agent play music on hold outside any bridge [omnicc-hold]; see
	// docs/voice.md.
	HoldContext string
	// RingTimeout is how long an originated call rings the agent's (or the
	// supervisor's) phone [30s].
	RingTimeout time.Duration
	// ActionTimeout bounds the telephone-system work of one control [10s].
	ActionTimeout time.Duration
}

// Service runs the call controls and keeps the recordings.
type Service struct {
	opts Options
	ctl  Control
	log  *slog.Logger
	recs recordingStore
	// holds are the agents' legs omniccd put on hold (hold.go).
	holds holds
}

// New checks the options and fills the defaults.
func New(o Options) (*Service, error) {
	switch {
	case o.Control == nil:
		return nil, errors.New("calls: Options.Control is required (pass ami.NewVoice(pool, log))")
	case o.DB == nil || o.Agents == nil:
		return nil, errors.New("calls: Options.DB and Agents are required")
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
	if o.HoldContext == "" {
		o.HoldContext = "omnicc-hold"
	}
	if o.RingTimeout <= 0 {
		o.RingTimeout = 30 * time.Second
	}
	if o.ActionTimeout <= 0 {
		o.ActionTimeout = 10 * time.Second
	}
	if !contextRe.MatchString(o.ConferenceContext) {
		return nil, fmt.Errorf("calls: conference context %q is not a dialplan context name", o.ConferenceContext)
	}
	if !contextRe.MatchString(o.HoldContext) {
		return nil, fmt.Errorf("calls: hold context %q is not a dialplan context name", o.HoldContext)
	}
	return &Service{opts: o, ctl: o.Control, log: o.Logger, recs: recordingStore{db: o.DB}}, nil
}

// Actor is who asks for a control: the agent itself or staff (supervisors
// and admins). The API has checked that an agent acts on its own calls.
type Actor struct {
	UserID   int64
	Username string
	Staff    bool
	// DeskEndpoint is the user's own phone (the users' desk_endpoint
	// setting), rung for listen, whisper and barge when the request names
	// none; "" when the user has none.
	DeskEndpoint string
}

// Input rules. Channels are the Control's to check (their names are the
// telephone system's); numbers, caller ids and call ids are checked here.
var (
	callIDRe  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,150}$`)
	numberRe  = regexp.MustCompile(`^\+?[0-9*#]{1,32}$`)
	contextRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,79}$`)
	// Separators people type in numbers (the agent bar accepts them).
	numberNoise = strings.NewReplacer(" ", "", "-", "", ".", "", "(", "", ")", "", "[", "", "]", "", "{", "", "}", "")
)

// ValidCallID reports whether s can be a call's or a leg's id (an Asterisk
// uniqueid or linkedid such as 1795277390.12).
func ValidCallID(s string) bool { return callIDRe.MatchString(s) }

// NormalizeNumber strips what people type between digits and checks the
// rest; field names the input in the error.
func NormalizeNumber(field, raw string) (string, error) {
	n := numberNoise.Replace(raw)
	if !numberRe.MatchString(n) {
		return "", domain.FieldErrorf(field, "%q is not a number to dial (digits, * and #, an optional leading +, at most 32)", raw)
	}
	return n, nil
}

func checkCallerID(field, s string) error {
	if len(s) > 80 || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return domain.FieldErrorf(field, "must be at most 80 characters with no control characters, e.g. \"Sales\" <+390612345678>")
	}
	return nil
}

func checkBox(box string) error {
	if len(box) > 255 || strings.ContainsFunc(box, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return domain.FieldErrorf("box", "must be a host:port from OMNICC_AMI")
	}
	return nil
}

func agentOf(a *directory.Agent) Agent {
	return Agent{ID: a.ID, Username: a.Username, External: a.Typology == directory.TypologyExternal,
		ExternalNumber: a.ExternalNumber, Context: a.Context}
}

// actingAgent loads the agent a control acts for; a disabled agent is
// refused.
func (s *Service) actingAgent(ctx context.Context, id int64) (*directory.Agent, error) {
	a, err := s.opts.Agents.Agent(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.Disabled {
		return nil, refuse(ErrAgentDisabled, "", fmt.Sprintf("agent %s is disabled; an admin must enable it first", a.Username))
	}
	return a, nil
}

// agentChannel checks a channel a request names as one of the agent's legs.
func (s *Service) agentChannel(a *directory.Agent, field, ch string) error {
	if ch == "" {
		return domain.FieldErrorf(field, "is required: the agent's channel in the call (calls[].channel of its state)")
	}
	if err := s.ctl.CheckChannel(ch); err != nil {
		return &domain.FieldError{Field: field, Message: err.Error()}
	}
	if !s.ctl.OwnsChannel(agentOf(a), ch) {
		return refuse(ErrNotAgentsChannel, field, fmt.Sprintf("%s: %q is not a channel of agent %s", field, ch, a.Username))
	}
	return nil
}

// leg loads the agent and checks the channel and box of a control on one of
// its calls.
func (s *Service) leg(ctx context.Context, agentID int64, l Leg) (*directory.Agent, error) {
	a, err := s.actingAgent(ctx, agentID)
	if err != nil {
		return nil, err
	}
	if err := s.agentChannel(a, "channel", l.Channel); err != nil {
		return nil, err
	}
	return a, checkBox(l.Box)
}

func (s *Service) controlCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.ActionTimeout)
}

func (s *Service) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// callerIDFor is what the agent's phone shows and what the dialplan passes on
// as the calling number, unless an outbound route sets its own.
func callerIDFor(a *directory.Agent) string {
	if a.CallerID != "" {
		return a.CallerID
	}
	name := strings.NewReplacer(`"`, "", "<", "", ">", "").Replace(a.FullName)
	return fmt.Sprintf("%q <%s>", name, a.Extension)
}
