package ami

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"omnicc/asterisk"
	"omnicc/calls"
	"omnicc/domain"
)

// Voice is calls.Control over a Pool: it turns the core's call controls
// (click-to-call, hang-up, transfers, conference, recording, ChanSpy) into
// manager actions, and the core's agents into Asterisk's names through
// package asterisk. Each method builds exactly one manager action (CallIDs
// two), so what reaches Asterisk can be read here.
//
// Failures are *VoiceError, which errors.Is matches against the outcomes
// calls declares (calls.ErrRefused, ErrNoSuchChannel, ErrUnavailable,
// ErrTimeout, ErrNotSent).
//
// Box selection: box "" means "wherever it works". Originate goes to the
// first connected box. An action on an existing channel is tried on every
// connected box in OMNICC_AMI order until one does not answer "no such
// channel" — a channel lives on exactly one box, and with one box (the common
// case) this is a single action. Methods that start something the caller
// must find again later (StartRecording, Getvar) return the box that
// answered.
type Voice struct {
	pool *Pool
	log  *slog.Logger

	modMu sync.Mutex
	// missing is, per box, the modules ModuleCheck found not loaded.
	missing map[string]map[string]bool

	consultMu sync.Mutex
	// consults are the attended transfers going on, by transferer channel
	// (consult.go).
	consults map[string]*consultation
}

// NewVoice returns call controls over pool; log may be nil.
func NewVoice(pool *Pool, log *slog.Logger) *Voice {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Voice{pool: pool, log: log, missing: map[string]map[string]bool{}, consults: map[string]*consultation{}}
}

// VoiceError is a control that did not happen, classified for the core:
// Outcome says whether Asterisk refused it (with its Message), could not be
// reached, or did not answer in time, and Is matches it against calls'
// outcomes. Unwrap gives the client's error (an *ActionError,
// ErrNotConnected, ErrTimeout…) for errors.Is/As.
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
		if errors.Is(e.Err, ErrNotConfigured) {
			return fmt.Sprintf("%s not sent: no Asterisk is configured; set OMNICC_AMI to the boxes' manager accounts", e.Action)
		}
		return fmt.Sprintf("%s not sent: no Asterisk manager connection (%v); omniccd keeps reconnecting, check OMNICC_AMI and Asterisk", e.Action, e.Err)
	case OutcomeTimeout:
		return fmt.Sprintf("Asterisk did not answer %s in time; it may or may not have happened (%v)", e.Action, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Action, e.Err)
}

func (e *VoiceError) Unwrap() error { return e.Err }

// Is matches the outcome against the core's: a refusal is calls.ErrRefused,
// and also calls.ErrNoSuchChannel when Asterisk said the channel is not there.
func (e *VoiceError) Is(target error) bool {
	switch e.Outcome {
	case OutcomeRefused:
		return target == calls.ErrRefused || target == calls.ErrNoSuchChannel && missingChannel(e.Err)
	case OutcomeUnavailable:
		return target == calls.ErrUnavailable
	case OutcomeTimeout:
		return target == calls.ErrTimeout
	case OutcomeInvalid:
		return target == calls.ErrNotSent
	}
	return false
}

var _ calls.Control = (*Voice)(nil)

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
				Err: domain.FieldErrorf("box", "%q is not in OMNICC_AMI; use one of its host:port entries or leave box empty", box)}
		}
		return []*Client{c}, nil
	}
	var up []*Client
	for _, c := range v.pool.Clients() {
		if c.Connected() {
			up = append(up, c)
		}
	}
	if !v.pool.Configured() {
		return nil, &VoiceError{Action: action, Outcome: OutcomeUnavailable, Err: ErrNotConfigured}
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

// AttendedTransfer starts an attended transfer (Atxfer) from the
// transferer's channel: the other party is held while the transferer talks to
// dialContext,exten. CancelTransfer goes back to the held party; hanging the
// transferer up completes the transfer (see CompleteTransfer).
func (v *Voice) AttendedTransfer(ctx context.Context, box, channel, dialContext, exten string) error {
	b, _, err := v.do(ctx, box, NewAction("Atxfer",
		"Channel", channel, "Exten", exten, "Context", dialContext), true)
	if err == nil {
		v.startConsultation(b, channel)
	}
	return err
}

// CancelTransfer (CancelAtxfer) aborts the attended transfer channel started: the target is
// hung up and the transferer is back with the held party. It exists since
// Asterisk 13.18/15.1 (we support 18–22) and works by the atxferabort
// feature, so features.conf must keep one (the default is *1); when none is
// set Asterisk refuses and the API shows its message.
func (v *Voice) CancelTransfer(ctx context.Context, box, channel string) error {
	if err := v.consulting(channel); err != nil {
		return err
	}
	_, _, err := v.do(ctx, box, NewAction("CancelAtxfer", "Channel", channel), true)
	if err == nil || missingChannel(err) {
		v.endConsultation(channel)
	}
	return err
}

// CompleteTransfer completes the attended transfer channel started.
// Since Asterisk 12 the bridging core completes an attended transfer when
// the transferer hangs up (a ringing target is handled as features.conf's
// atxferdropcall says), which is what a phone does; pressing the
// atxfercomplete DTMF (*2 in the rendered features.conf) would need
// PlayDTMF's Receive, which not every supported Asterisk has. So completing
// is a Hangup of the transferer — only while a consultation omniccd started
// is going on: otherwise the hang-up would end the customer's call, so it
// answers calls.ErrNoConsultation and sends nothing.
func (v *Voice) CompleteTransfer(ctx context.Context, box, channel string) error {
	if err := v.consulting(channel); err != nil {
		return err
	}
	_, _, err := v.do(ctx, box, NewAction("Hangup", "Channel", channel, "Cause", "16"), true)
	if err == nil || missingChannel(err) {
		v.endConsultation(channel)
	}
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

// HoldApart redirects the customer and the agent's leg in one action (so
// neither is left alone in a dissolving bridge) to holdContext, extensions
// customer and agent, where each waits outside any bridge with music on
// hold (see calls.Service.Hold for why over the AMI).
func (v *Voice) HoldApart(ctx context.Context, box, agentChannel, customerChannel, holdContext string) error {
	_, _, err := v.do(ctx, box, NewAction("Redirect", "Channel", customerChannel, "Exten", "customer", "Context", holdContext, "Priority", "1",
		"ExtraChannel", agentChannel, "ExtraExten", "agent", "ExtraContext", holdContext, "ExtraPriority", "1"), true)
	return err
}

// Rejoin (AMI Bridge) takes both legs out of the hold context's dialplan
// into a new two-party bridge; Tone no, so the customer hears no beep.
func (v *Voice) Rejoin(ctx context.Context, box, agentChannel, customerChannel string) error {
	_, _, err := v.do(ctx, box, NewAction("Bridge", "Channel1", agentChannel, "Channel2", customerChannel, "Tone", "no"), true)
	return err
}

// StartRecording runs MixMonitor on channel into file (relative to
// Asterisk's monitor directory; the extension picks the format) and returns
// the box and the MixMonitorID that StopRecording needs to stop this
// recording and no other. The ID comes from the i() option: Asterisk stores
// it in the channel variable OMNICC_MIXMON_<slot> and copies it into the
// response, so each of two recordings on one channel can be stopped alone.
func (v *Voice) StartRecording(ctx context.Context, box, channel, file string, slot int) (usedBox, mixMonitorID string, err error) {
	b, resp, err := v.do(ctx, box, NewAction("MixMonitor", "Channel", channel, "File", file,
		"Options", fmt.Sprintf("i(OMNICC_MIXMON_%d)", slot)), true)
	if err != nil {
		return "", "", err
	}
	return b, resp.Get("MixMonitorID"), nil
}

// StopRecording (StopMixMonitor) stops the recording mixMonitorID on
// channel; an empty id stops the channel's first recording, so always pass
// one when there may be two.
func (v *Voice) StopRecording(ctx context.Context, box, channel, mixMonitorID string) error {
	kv := []string{"Channel", channel}
	if mixMonitorID != "" {
		kv = append(kv, "MixMonitorID", mixMonitorID)
	}
	_, _, err := v.do(ctx, box, NewAction("StopMixMonitor", kv...), true)
	return err
}

// MuteRecording (MixMonitorMute) mutes (pauses) or unmutes (resumes)
// recording on channel, both directions. Asterisk 18–22 have no
// per-recording mute: it applies to every MixMonitor on the channel, and the
// core records it that way.
func (v *Voice) MuteRecording(ctx context.Context, box, channel string, mute bool) error {
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

// BridgePeer is the channel bridged with channel (BRIDGEPEER), "" when none.
func (v *Voice) BridgePeer(ctx context.Context, box, channel string) (usedBox, peer string, err error) {
	return v.Getvar(ctx, box, channel, "BRIDGEPEER")
}

// CallIDs are channel's uniqueid and its call's linkedid, both read from the
// box that has the channel.
func (v *Voice) CallIDs(ctx context.Context, box, channel string) (usedBox, uniqueID, linkedID string, err error) {
	usedBox, uniqueID, err = v.Getvar(ctx, box, channel, "CHANNEL(uniqueid)")
	if err != nil {
		return "", "", "", err
	}
	_, linkedID, err = v.Getvar(ctx, usedBox, channel, "CHANNEL(linkedid)")
	if err != nil {
		return "", "", "", err
	}
	return usedBox, uniqueID, linkedID, nil
}

// What may reach an AMI header as a channel or a phone. The writer refuses
// CR/LF anyway, but a channel such as "/.*/" would make Hangup hang up every
// channel, and a ',' would add ChanSpy options.
var (
	// Asterisk channel names: PJSIP/alice-00000001, Local/200@ctx-0000000a;1.
	channelRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{0,15}/[A-Za-z0-9._@+#*:;=~-]{1,111}$`)
)

// CheckChannel returns nil when channel is a plain Asterisk channel name.
func (v *Voice) CheckChannel(channel string) error {
	if !channelRe.MatchString(channel) {
		return fmt.Errorf("%q is not an Asterisk channel name such as PJSIP/alice-00000001 (letters, digits and ._@+#*:;=~- only, at most 128 characters)", channel)
	}
	return nil
}

func asteriskAgent(a calls.Agent) asterisk.Agent {
	return asterisk.Agent{Username: a.Username, External: a.External, ExternalNumber: a.ExternalNumber, Context: a.Context}
}

// OwnsChannel reports whether channel is a call leg of the agent: a channel
// of its device with Asterisk's sequence after it, never the bare interface
// (as a ChanSpy prefix "PJSIP/alice" would also match PJSIP/alice2-…).
func (v *Voice) OwnsChannel(a calls.Agent, channel string) bool {
	m := asterisk.MemberOf(asteriskAgent(a))
	return channel != m.Interface && channel != m.StateInterface && asterisk.OwnsChannel(asteriskAgent(a), channel)
}

// RingAgent originates a call to the agent's member interface (the path
// app_queue takes too) and sends it to dialContext,exten once answered.
func (v *Voice) RingAgent(ctx context.Context, box string, a calls.Agent, dialContext, exten string, r calls.Ring) (usedBox, dialled string, err error) {
	dialled = asterisk.Dial(asteriskAgent(a))
	if dialled == "" {
		return "", "", &calls.Refusal{Err: calls.ErrNoEndpoint, Field: "external_number",
			Message: "agent " + a.Username + " has no phone to ring: give it an external_number"}
	}
	usedBox, err = v.Originate(ctx, box, dialled, dialContext, exten, r.CallerID, r.Timeout, r.Vars)
	return usedBox, dialled, err
}

// RingNumber originates a call to number through numberContext, kept in the
// path as a Local channel, and sends it to dialContext,exten once answered.
func (v *Voice) RingNumber(ctx context.Context, box, number, numberContext, dialContext, exten string, r calls.Ring) (string, error) {
	return v.Originate(ctx, box, asterisk.LocalDial(number, numberContext), dialContext, exten, r.CallerID, r.Timeout, r.Vars)
}

// ChanSpy options: q quiet (no channel name announced to the supervisor), E
// exit when the spied-on channel hangs up, w whisper (the agent hears the
// supervisor), B barge (both parties hear the supervisor).
var spyOptions = map[string]string{calls.SpyListen: "qE", calls.SpyWhisper: "qEw", calls.SpyBarge: "qEB"}

// Spy rings the supervisor's endpoint (calls fills in the user's desk
// endpoint; a username is no endpoint) and runs ChanSpy on it: on the agent's channel when one is named, else on
// whichever channel of the agent's device is up (a ChanSpy prefix).
func (v *Voice) Spy(ctx context.Context, box string, s calls.SpyCall) (usedBox, endpoint, target string, err error) {
	opts, ok := spyOptions[s.Mode]
	if !ok {
		return "", "", "", domain.FieldErrorf("mode", "%q must be listen, whisper or barge", s.Mode)
	}
	endpoint = s.Endpoint
	if !asterisk.IsPhone(endpoint) {
		return "", "", "", domain.FieldErrorf("endpoint", "%q is not the supervisor's phone: give PJSIP/<endpoint> or Local/<number>@<context>", endpoint)
	}
	target = s.Channel
	if target == "" {
		dev := asterisk.MemberOf(asteriskAgent(s.Agent)).StateInterface
		if dev == "" {
			return "", "", "", &calls.Refusal{Err: calls.ErrNoEndpoint, Field: "external_number",
				Message: "agent " + s.Agent.Username + " has no phone, so no call to spy on"}
		}
		target = dev + "-"
	} else if err := v.CheckChannel(target); err != nil {
		return "", "", "", &domain.FieldError{Field: "channel", Message: err.Error()}
	}
	usedBox, err = v.OriginateApp(ctx, box, endpoint, "ChanSpy", target+","+opts, s.Ring.CallerID, s.Ring.Timeout, s.Ring.Vars)
	return usedBox, endpoint, target, err
}
