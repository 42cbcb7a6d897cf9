package presence

import (
	"slices"
	"time"
)

// Agent states, as SPEC.md fixes them for GET /agents/{id}/state and the
// websocket's agent_state events.
const (
	StateLoggedOut   = "logged_out"
	StateReady       = "ready"
	StatePaused      = "paused"
	StateRinging     = "ringing"
	StateOnCall      = "on_call"
	StateOnHold      = "on_hold"
	StateWrapUp      = "wrap_up"
	StateUnavailable = "unavailable"
)

// EventAgentState is the Event.Type of every state change published.
const EventAgentState = "agent_state"

// ChannelVoice is the channel Asterisk serves; the digital ones are
// directory.DigitalChannels.
const ChannelVoice = "voice"

// AgentState is what GET /api/v1/agents/{id}/state answers and what an
// agent_state websocket event carries. The first six fields are SPEC.md's
// fixed contract; the others say why the agent is in that state.
type AgentState struct {
	AgentID  int64        `json:"agent_id"`
	State    string       `json:"state"`
	Reason   string       `json:"reason"`
	Since    time.Time    `json:"since"`
	Queues   []QueueState `json:"queues"`
	Counters Counters     `json:"counters"`

	Username   string     `json:"username"`
	LoggedIn   bool       `json:"logged_in"`
	LoggedInAt *time.Time `json:"logged_in_at"`
	// PausedChannels are the channels the agent is paused on ("voice",
	// "chat", ...): a partial pause lists only some.
	PausedChannels []string `json:"paused_channels"`
	// PauseTypeID is the pause type of the current pause, when it is one of
	// the configured pause types (a pause made inside Asterisk may not be).
	PauseTypeID *int64 `json:"pause_type_id"`
	// PausedSince is when the current pause began.
	PausedSince *time.Time `json:"paused_since"`
	// Call is the call the agent is ringing for, talking on or holding.
	Call *Call `json:"call"`
	// Calls lists every call the agent is on (SPEC.md: channel, uniqueid,
	// peer, direction, queue, state, since), so that a client can hang up,
	// transfer or record a click-to-call without listing Asterisk's
	// channels. Today it holds Call, when there is one.
	Calls []Call `json:"calls"`
	// WrapUpUntil is the end of the wrap-up time after a queue call.
	WrapUpUntil *time.Time `json:"wrap_up_until"`
	// Device is the last Asterisk device state of the agent's state
	// interface (NOT_INUSE, INUSE, RINGING, ONHOLD, UNAVAILABLE, ...), ""
	// when Asterisk never told.
	Device string `json:"device"`
	// Channels is the agent's load on each digital channel: open
	// interactions against its capacity, and whether it is paused there.
	Channels []ChannelLoad `json:"channels"`
}

// QueueState is the agent in one queue it is assigned to or a member of.
type QueueState struct {
	Queue  string `json:"queue"`
	Paused bool   `json:"paused"`
	Reason string `json:"reason"`
	// State is the agent's state as this queue sees it.
	State string `json:"state"`
	// Member says whether Asterisk has the agent as a member of the queue
	// right now; false for an assigned voice queue that a login has not
	// reached yet (Asterisk down) or that a logged-out agent is not in.
	Member bool `json:"member"`
	// Membership is Asterisk's: dynamic (logged in by omniccd), static or
	// realtime (permanent members).
	Membership string `json:"membership,omitempty"`
	Penalty    int    `json:"penalty"`
	CallsTaken int    `json:"calls_taken"`
	// Status is Asterisk's member status (1 not in use … 8 on hold).
	Status int `json:"status"`
	// Box is the Asterisk box (host:port) the membership lives on.
	Box string `json:"box,omitempty"`
}

// Call is one queue or direct call of an agent.
type Call struct {
	// UniqueID is the caller's channel uniqueid for a queue call (the id
	// AgentCalled/AgentConnect carry), or the agent channel's otherwise.
	UniqueID   string `json:"uniqueid"`
	Queue      string `json:"queue,omitempty"`
	Caller     string `json:"caller"`
	CallerName string `json:"caller_name,omitempty"`
	Channel    string `json:"channel,omitempty"` // the agent's leg
	// LegID is the uniqueid of the agent's leg (what hang-up, transfer and
	// recording act on; UniqueID is the caller's for a queue call).
	LegID string `json:"leg_uniqueid,omitempty"`
	// Peer is the number at the other end; Direction inbound or outbound
	// (the agent's leg started the call).
	Peer      string `json:"peer"`
	Direction string `json:"direction,omitempty"`
	// State is ringing, up or on_hold.
	State string    `json:"state,omitempty"`
	Since time.Time `json:"since"`
	Box   string    `json:"box,omitempty"`

	agentUniqueID string // the agent leg's uniqueid, to match Hold events
}

// Counters are the agent's figures for one day (Options.Location's
// calendar day). Seconds of an ongoing login or pause are included up to
// the moment they are read.
type Counters struct {
	Day          string `json:"day"`
	Answered     int    `json:"answered"`
	Missed       int    `json:"missed"`
	TalkSeconds  int64  `json:"talk_seconds"`
	LoginSeconds int64  `json:"login_seconds"`
	// HoldSeconds is the time the agent's calls spent on hold.
	HoldSeconds int64 `json:"hold_seconds"`
	// PauseSeconds is per pause reason (pause type name).
	PauseSeconds map[string]int64 `json:"pause_seconds"`
	// Digital is the day's work per digital channel (the router's).
	Digital map[string]DigitalCounters `json:"digital"`
}

// Session is an agent's login as the database keeps it: the truth about who
// is logged in and paused on which channels.
type Session struct {
	AgentID    int64     `json:"agent_id" db:"agent_id"`
	LoggedInAt time.Time `json:"logged_in_at" db:"logged_in_at"`
	// Source is who logged the agent in: "api", "agi" or "asterisk" (a
	// member added inside Asterisk while omniccd watched).
	Source         string     `json:"source" db:"source"`
	PausedChannels []string   `json:"paused_channels" db:"-"`
	PauseTypeID    *int64     `json:"pause_type_id" db:"pause_type_id"`
	PauseReason    string     `json:"pause_reason" db:"pause_reason"`
	PausedAt       *time.Time `json:"paused_at" db:"paused_at"`
	UpdatedAt      time.Time  `json:"updated_at" db:"updated_at"`
}

// PausedOn reports whether the session is paused on channel.
func (s *Session) PausedOn(channel string) bool {
	return s != nil && slices.Contains(s.PausedChannels, channel)
}

// Paused reports whether the session is paused on any channel.
func (s *Session) Paused() bool { return s != nil && len(s.PausedChannels) > 0 }

func (s *Session) clone() *Session {
	if s == nil {
		return nil
	}
	c := *s
	c.PausedChannels = slices.Clone(s.PausedChannels)
	if s.PauseTypeID != nil {
		v := *s.PauseTypeID
		c.PauseTypeID = &v
	}
	if s.PausedAt != nil {
		v := *s.PausedAt
		c.PausedAt = &v
	}
	return &c
}
