package ami

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Voice drives calls for agents and supervisors over a Pool: click-to-call,
// hang-up, transfers, conference, recording and ChanSpy. Each method builds
// exactly one manager action, so what reaches Asterisk can be read here.
//
// Its methods take only plain values and return *VoiceError, so the REST API
// can declare the interface it needs without importing this package
// (adapters never import each other; cmd/omniccd hands Voice to the API).
//
// Box selection: box "" means "wherever it works". Originate goes to the
// first connected box. An action on an existing channel is tried on every
// connected box in OMNICC_AMI order until one does not answer "no such
// channel" — a channel lives on exactly one box, and with one box (the common
// case) this is a single action. Methods that start something the caller
// must find again later (MixMonitor, Getvar) return the box that answered.
type Voice struct {
	pool *Pool
	log  *slog.Logger
}

// NewVoice returns call controls over pool; log may be nil.
func NewVoice(pool *Pool, log *slog.Logger) *Voice {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Voice{pool: pool, log: log}
}

// VoiceError is a control that did not happen, classified for the API:
// AsteriskOutcome says whether Asterisk refused it (with its Message), could
// not be reached, or did not answer in time. Unwrap gives the client's error
// (an *ActionError, ErrNotConnected, ErrTimeout…) for errors.Is/As.
type VoiceError struct {
	Action  string // e.g. "Hangup"
	Box     string // the box that answered, "" when none did
	Outcome string // OutcomeRefused, OutcomeUnavailable, OutcomeTimeout or OutcomeInvalid
	Message string // Asterisk's Message when refused
	Err     error
}

// Outcomes of a VoiceError.
const (
	OutcomeRefused     = "refused"     // Asterisk answered Response: Error
	OutcomeUnavailable = "unavailable" // no box connected, or the connection dropped
	OutcomeTimeout     = "timeout"     // no answer in time: it may or may not have run
	OutcomeInvalid     = "invalid"     // the action could not be put on the wire (a bug upstream)
)

func (e *VoiceError) Error() string {
	switch e.Outcome {
	case OutcomeRefused:
		return fmt.Sprintf("Asterisk %s refused %s: %s", e.Box, e.Action, e.Message)
	case OutcomeUnavailable:
		return fmt.Sprintf("%s not sent: no Asterisk manager connection (%v); omniccd keeps reconnecting, check OMNICC_AMI and Asterisk", e.Action, e.Err)
	case OutcomeTimeout:
		return fmt.Sprintf("Asterisk did not answer %s in time; it may or may not have happened (%v)", e.Action, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Action, e.Err)
}

func (e *VoiceError) Unwrap() error { return e.Err }

// AsteriskOutcome reports the class of failure and, when refused, Asterisk's
// own words; the API matches it through an interface of its own.
func (e *VoiceError) AsteriskOutcome() (outcome, message string) { return e.Outcome, e.Message }

func classify(action, box string, err error) *VoiceError {
	ve := &VoiceError{Action: action, Box: box, Err: err}
	var ae *ActionError
	switch {
	case errors.As(err, &ae):
		ve.Outcome, ve.Message, ve.Box = OutcomeRefused, ae.Message, ae.Box
		if ve.Message == "" {
			ve.Message = "no reason given"
		}
	case errors.Is(err, ErrTimeout):
		ve.Outcome = OutcomeTimeout
	case errors.Is(err, ErrInvalidAction):
		ve.Outcome = OutcomeInvalid
	default:
		// ErrNotConnected, a dropped connection, or the caller's context
		// ending: in every case Asterisk did not (knowingly) run it.
		ve.Outcome = OutcomeUnavailable
	}
	return ve
}

// targets lists the clients to try: the named box, or every connected one.
func (v *Voice) targets(action, box string) ([]*Client, error) {
	if box != "" {
		c := v.pool.Client(box)
		if c == nil {
			return nil, &VoiceError{Action: action, Outcome: OutcomeInvalid,
				Err: fmt.Errorf("box %q is not in OMNICC_AMI; use one of its host:port entries or leave box empty", box)}
		}
		return []*Client{c}, nil
	}
	var up []*Client
	for _, c := range v.pool.Clients() {
		if c.Connected() {
			up = append(up, c)
		}
	}
	if len(up) == 0 {
		return nil, &VoiceError{Action: action, Outcome: OutcomeUnavailable, Err: ErrNotConnected}
	}
	return up, nil
}

// missingChannel recognises Asterisk's ways of saying the channel is not on
// this box: "No such channel" (Hangup, Getvar, MixMonitor, CancelAtxfer),
// "Channel specified does not exist" (BlindTransfer, Atxfer) and "Channel
// does not exist: X" (Redirect).
func missingChannel(err error) bool {
	var ae *ActionError
	if !errors.As(err, &ae) {
		return false
	}
	m := strings.ToLower(ae.Message)
	return strings.Contains(m, "no such channel") || strings.Contains(m, "does not exist")
}

// do sends action to box (or finds the box). onChannel says the action names
// an existing channel, so "no such channel" from one box means "try the next".
func (v *Voice) do(ctx context.Context, box string, action Message, onChannel bool) (string, Response, error) {
	name := action.Get("Action")
	clients, err := v.targets(name, box)
	if err != nil {
		return "", Response{}, err
	}
	var last error
	for i, c := range clients {
		resp, err := c.Action(ctx, action)
		if err == nil {
			v.log.Debug("AMI voice action done", "action", name, "box", c.Box(), "channel", action.Get("Channel"))
			return c.Box(), resp, nil
		}
		last = err
		if onChannel && missingChannel(err) && i+1 < len(clients) {
			continue
		}
		break
	}
	return "", Response{}, classify(name, "", last)
}

// Originate rings channel and, once it answers, sends it into the dialplan at
// dialContext,exten,1 — click-to-call. Async, so the HTTP request does not
// wait for the agent to pick up; the outcome arrives as an OriginateResponse
// event. timeout is how long channel rings (sent in milliseconds); vars are
// "NAME=value" channel variables, one Variable header each.
func (v *Voice) Originate(ctx context.Context, box, channel, dialContext, exten, callerID string, timeout time.Duration, vars []string) (string, error) {
	kv := []string{"Channel", channel, "Context", dialContext, "Exten", exten, "Priority", "1"}
	return v.originate(ctx, box, kv, callerID, timeout, vars)
}

// OriginateApp rings channel and, once it answers, runs app(data) on it —
// how a supervisor's phone is connected to ChanSpy.
func (v *Voice) OriginateApp(ctx context.Context, box, channel, app, data, callerID string, timeout time.Duration, vars []string) (string, error) {
	kv := []string{"Channel", channel, "Application", app, "Data", data}
	return v.originate(ctx, box, kv, callerID, timeout, vars)
}

func (v *Voice) originate(ctx context.Context, box string, kv []string, callerID string, timeout time.Duration, vars []string) (string, error) {
	kv = append(kv, "Timeout", strconv.FormatInt(timeout.Milliseconds(), 10))
	if callerID != "" {
		kv = append(kv, "CallerID", callerID)
	}
	kv = append(kv, "Async", "true")
	for _, vr := range vars {
		kv = append(kv, "Variable", vr)
	}
	b, _, err := v.do(ctx, box, NewAction("Originate", kv...), false)
	return b, err
}

// Hangup hangs channel up with cause 16 (normal clearing). The caller must
// have checked channel is a plain name: Asterisk reads "/regex/" as every
// matching channel.
func (v *Voice) Hangup(ctx context.Context, box, channel string) error {
	_, _, err := v.do(ctx, box, NewAction("Hangup", "Channel", channel, "Cause", "16"), true)
	return err
}

// BlindTransfer sends the party bridged with channel (the transferer) to
// dialContext,exten and hangs the transferer up. Chosen over Redirect because
// it needs only the agent's own channel — the API never has to trust a
// client's claim about who the agent talks to — and it goes through the
// bridging core's transfer logic, so Asterisk raises its BlindTransfer event
// and applies the features.conf rules like a phone-initiated transfer.
func (v *Voice) BlindTransfer(ctx context.Context, box, channel, dialContext, exten string) error {
	_, _, err := v.do(ctx, box, NewAction("BlindTransfer",
		"Channel", channel, "Exten", exten, "Context", dialContext), true)
	return err
}

// Atxfer starts an attended transfer from the transferer's channel: the
// other party is held while the transferer talks to dialContext,exten.
// CancelAtxfer goes back to the held party; hanging the transferer up
// completes the transfer (see AttendedTransferComplete).
func (v *Voice) Atxfer(ctx context.Context, box, channel, dialContext, exten string) error {
	_, _, err := v.do(ctx, box, NewAction("Atxfer",
		"Channel", channel, "Exten", exten, "Context", dialContext), true)
	return err
}

// CancelAtxfer aborts the attended transfer channel started: the target is
// hung up and the transferer is back with the held party. It exists since
// Asterisk 13.18/15.1 (we support 18–22) and works by the atxferabort
// feature, so features.conf must keep one (the default is *1); when none is
// set Asterisk refuses and the API shows its message.
func (v *Voice) CancelAtxfer(ctx context.Context, box, channel string) error {
	_, _, err := v.do(ctx, box, NewAction("CancelAtxfer", "Channel", channel), true)
	return err
}

// AttendedTransferComplete completes the attended transfer channel started.
// Since Asterisk 12 the bridging core completes an attended transfer when
// the transferer hangs up (a ringing target is handled as features.conf's
// atxferdropcall says), which is what a phone does; pressing the
// atxfercomplete DTMF cannot be done over the AMI (PlayDTMF plays digits to
// the phone, not from it). So completing is a Hangup of the transferer.
func (v *Voice) AttendedTransferComplete(ctx context.Context, box, channel string) error {
	_, _, err := v.do(ctx, box, NewAction("Hangup", "Channel", channel, "Cause", "16"), true)
	return err
}

// Redirect moves channel — and extraChannel too when given, in the same
// action so that neither is left alone in a bridge that dissolves — to
// dialContext,exten,1. The three-way conference uses it to move the agent
// and the customer into a ConfBridge room.
func (v *Voice) Redirect(ctx context.Context, box, channel, extraChannel, dialContext, exten string) error {
	kv := []string{"Channel", channel, "Exten", exten, "Context", dialContext, "Priority", "1"}
	if extraChannel != "" {
		kv = append(kv, "ExtraChannel", extraChannel, "ExtraExten", exten, "ExtraContext", dialContext, "ExtraPriority", "1")
	}
	_, _, err := v.do(ctx, box, NewAction("Redirect", kv...), true)
	return err
}

// MixMonitor starts recording channel into file (relative to Asterisk's
// monitor directory; the extension picks the format) and returns the box and
// the MixMonitorID that StopMixMonitor needs to stop this recording and no
// other. The ID comes from the i() option: Asterisk stores it in the named
// channel variable and copies it into the response.
func (v *Voice) MixMonitor(ctx context.Context, box, channel, file, options string) (usedBox, mixMonitorID string, err error) {
	b, resp, err := v.do(ctx, box, NewAction("MixMonitor", "Channel", channel, "File", file, "Options", options), true)
	if err != nil {
		return "", "", err
	}
	return b, resp.Get("MixMonitorID"), nil
}

// StopMixMonitor stops the recording mixMonitorID on channel; an empty id
// stops the channel's first recording, so always pass one when there may be
// two.
func (v *Voice) StopMixMonitor(ctx context.Context, box, channel, mixMonitorID string) error {
	kv := []string{"Channel", channel}
	if mixMonitorID != "" {
		kv = append(kv, "MixMonitorID", mixMonitorID)
	}
	_, _, err := v.do(ctx, box, NewAction("StopMixMonitor", kv...), true)
	return err
}

// MixMonitorMute mutes (pauses) or unmutes (resumes) recording on channel,
// both directions. Asterisk 18–22 have no per-recording mute: it applies to
// every MixMonitor on the channel, and the API records it that way.
func (v *Voice) MixMonitorMute(ctx context.Context, box, channel string, mute bool) error {
	state := "0"
	if mute {
		state = "1"
	}
	_, _, err := v.do(ctx, box, NewAction("MixMonitorMute",
		"Channel", channel, "Direction", "both", "State", state), true)
	return err
}

// Getvar reads a variable or function of channel, e.g. CHANNEL(linkedid),
// and returns the box that has the channel.
func (v *Voice) Getvar(ctx context.Context, box, channel, variable string) (usedBox, value string, err error) {
	b, resp, err := v.do(ctx, box, NewAction("Getvar", "Channel", channel, "Variable", variable), true)
	if err != nil {
		return "", "", err
	}
	return b, resp.Get("Value"), nil
}
