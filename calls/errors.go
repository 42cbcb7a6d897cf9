package calls

import "errors"

// What the telephone system did with a control, as Control implementations
// report it: wrap one of these (or implement Is for them) so that the API
// answers each the same way whatever the adapter.
var (
	// ErrRefused: the telephone system answered that it would not do it; the
	// error's message carries its own words.
	ErrRefused = errors.New("refused by Asterisk")
	// ErrNoSuchChannel: the channel named is not (or no longer) there. It is
	// also an ErrRefused.
	ErrNoSuchChannel = errors.New("no such channel")
	// ErrUnavailable: no connection to the telephone system; nothing was done.
	ErrUnavailable = errors.New("Asterisk unavailable")
	// ErrTimeout: no answer in time; it may or may not have happened.
	ErrTimeout = errors.New("no answer from Asterisk in time")
	// ErrNotSent: the control could not be put on the wire (a bug upstream).
	ErrNotSent = errors.New("control not sent")
	// ErrBadAnswer: the telephone system answered something unusable.
	ErrBadAnswer = errors.New("unusable answer from Asterisk")
	// ErrModuleMissing: the telephone system lacks a module the control
	// needs (the error's message names it); nothing was done.
	ErrModuleMissing = errors.New("Asterisk module missing")
)

// The rules' refusals. Each reaches the caller wrapped in a *Refusal that
// names the field at fault, when there is one.
var (
	// ErrAgentDisabled: a disabled agent makes and takes no calls.
	ErrAgentDisabled = errors.New("agent disabled")
	// ErrNoEndpoint: the agent has nothing to ring (an external agent
	// without a usable number).
	ErrNoEndpoint = errors.New("agent has no phone to ring")
	// ErrNotAgentsChannel: the channel is not one of the agent's legs.
	ErrNotAgentsChannel = errors.New("not the agent's channel")
	// ErrNotBridged: the agent's leg talks to nobody right now.
	ErrNotBridged = errors.New("not in a two-party call")
	// ErrNoConsultation: completing or cancelling an attended transfer
	// that is not going on.
	ErrNoConsultation = errors.New("no attended transfer in progress")
	// ErrNotHeld: resuming a call omniccd did not put on hold.
	ErrNotHeld = errors.New("call not on hold")
	// ErrChanspyNotAllowed: the agent does not allow listen, whisper or barge.
	ErrChanspyNotAllowed = errors.New("chanspy not allowed")
	// ErrRecordingNotAllowed: recording is not enabled for the agent and
	// the caller is not staff.
	ErrRecordingNotAllowed = errors.New("recording not allowed")
	// ErrCallMismatch: the channel is in another call than the one the
	// client named; the call it meant has ended.
	ErrCallMismatch = errors.New("call mismatch")
	// ErrSlotsFull: both recording slots of the call are taken (stopped
	// recordings count).
	ErrSlotsFull = errors.New("this call already has two recordings, the most a call may have (stopped ones count); pause and resume an existing one instead")
	// ErrRecordingStopped: a stopped recording cannot be paused, resumed or
	// stopped again.
	ErrRecordingStopped = errors.New("recording stopped")
	// ErrRecordingStarting: the recording has not started yet.
	ErrRecordingStarting = errors.New("recording starting")
)

// Refusal is a control a rule refused: Err is the rule (one of the errors
// above, for errors.Is), Field the request field at fault ("" when none),
// Message what happened and what to do.
type Refusal struct {
	Err     error
	Field   string
	Message string
}

func (r *Refusal) Error() string { return r.Message }

func (r *Refusal) Unwrap() error { return r.Err }

func refuse(err error, field, msg string) error {
	return &Refusal{Err: err, Field: field, Message: msg}
}
