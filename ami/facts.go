package ami

import (
	"strings"
	"time"

	"omnicc/asterisk"
	"omnicc/presence"
)

// This file is where Asterisk's manager vocabulary becomes presence's
// domain facts: event names, field names, app_queue's member status
// numbers, device state names and CoreShowChannels' channel states. Nothing
// of it reaches presence.

// Names names agents in Asterisk for presence (presence.Names), by the one
// rule of package asterisk.
type Names struct{}

// Member is the agent's member interface and state interface.
func (Names) Member(id presence.Identity) (iface, device string) {
	m := asterisk.MemberOf(asterisk.Agent{Username: id.Username, External: id.External,
		ExternalNumber: id.ExternalNumber, Context: id.Context})
	return m.Interface, m.StateInterface
}

// Device is the device a channel belongs to.
func (Names) Device(channel string) string { return asterisk.DeviceOf(channel) }

// memberStatus is app_queue's member Status (enum ast_device_state) as a
// phone state: 0 unknown … 8 on hold.
var memberStatus = [...]presence.DeviceState{
	0: presence.DeviceUnknown,
	1: presence.DeviceIdle,
	2: presence.DeviceInUse,
	3: presence.DeviceBusy,
	4: presence.DeviceInvalid,
	5: presence.DeviceUnavailable,
	6: presence.DeviceRinging,
	7: presence.DeviceRingInUse,
	8: presence.DeviceOnHold,
}

func statusDevice(status int) presence.DeviceState {
	if status >= 0 && status < len(memberStatus) {
		return memberStatus[status]
	}
	return presence.DeviceUnknown
}

// deviceStates are the names DeviceStateChange and DeviceStateList use
// (ast_devstate_str).
var deviceStates = map[string]presence.DeviceState{
	"UNKNOWN":     presence.DeviceUnknown,
	"NOT_INUSE":   presence.DeviceIdle,
	"INUSE":       presence.DeviceInUse,
	"BUSY":        presence.DeviceBusy,
	"INVALID":     presence.DeviceInvalid,
	"UNAVAILABLE": presence.DeviceUnavailable,
	"RINGING":     presence.DeviceRinging,
	"RINGINUSE":   presence.DeviceRingInUse,
	"ONHOLD":      presence.DeviceOnHold,
}

func stateDevice(state string) presence.DeviceState {
	if d, ok := deviceStates[state]; ok {
		return d
	}
	return presence.DeviceUnknown
}

// memberships are app_queue's Membership values.
var memberships = map[string]string{
	"dynamic":  presence.MembershipDynamic,
	"static":   presence.MembershipStatic,
	"realtime": presence.MembershipRealtime,
}

func membership(v string) string {
	if m, ok := memberships[v]; ok {
		return m
	}
	return v
}

// kinds are the events that become facts.
var kinds = map[string]presence.VoiceKind{
	"QueueMemberAdded":     presence.VoiceMemberAdded,
	"QueueMemberRemoved":   presence.VoiceMemberRemoved,
	"QueueMemberPause":     presence.VoiceMemberPaused,
	"QueueMemberPaused":    presence.VoiceMemberPaused, // before Asterisk 12
	"QueueMemberStatus":    presence.VoiceMemberChanged,
	"QueueMemberPenalty":   presence.VoiceMemberChanged,
	"QueueMemberRinginuse": presence.VoiceMemberChanged,
	"AgentCalled":          presence.VoiceRinging,
	"AgentRingNoAnswer":    presence.VoiceRingMissed,
	"AgentConnect":         presence.VoiceAnswered,
	"AgentComplete":        presence.VoiceCallEnded,
	"AgentDump":            presence.VoiceRingRejected,
	"QueueCallerAbandon":   presence.VoiceCallerLeft,
	"DeviceStateChange":    presence.VoiceDevice,
	"Hold":                 presence.VoiceHeld,
	"Unhold":               presence.VoiceResumed,
	"Hangup":               presence.VoiceLegGone,
	"BridgeEnter":          presence.VoiceLegUp,
}

// wire holds the fields of one event (or list item) that facts are made of.
// Each field has its own slot, so the result never depends on the order in
// which Asterisk writes them.
type wire struct {
	queue, iface, stateIface, membership string
	paused                               bool
	pausedReason, reason                 string
	status, penalty, callsTaken, wrapup  int
	inCall                               bool
	uniqueid, channel, linkedid          string
	destChannel, destUniqueid            string
	callerNum, callerName                string
	connNum, connName                    string
	talkTime, holdTime, ringTime         int
	device, state                        string
}

// read copies the fields of m in one pass. Asterisk writes field names in
// one case, so exact matches do.
func (w *wire) read(m Message) {
	*w = wire{}
	for i := 0; i < m.Len(); i++ {
		f := m.Field(i)
		switch f.Key {
		case "Queue":
			w.queue = f.Value
		case "Interface", "Location": // Location: QueueStatus' QueueMember
			w.iface = f.Value
		case "StateInterface":
			w.stateIface = f.Value
		case "Membership":
			w.membership = f.Value
		case "Paused":
			w.paused = f.Value == "1"
		case "PausedReason":
			w.pausedReason = f.Value
		case "Reason":
			w.reason = f.Value
		case "Status":
			w.status = atoi(f.Value)
		case "Penalty":
			w.penalty = atoi(f.Value)
		case "CallsTaken":
			w.callsTaken = atoi(f.Value)
		case "Wrapuptime":
			w.wrapup = atoi(f.Value)
		case "InCall":
			w.inCall = f.Value == "1"
		case "Uniqueid":
			w.uniqueid = f.Value
		case "Linkedid":
			w.linkedid = f.Value
		case "Channel":
			w.channel = f.Value
		case "DestChannel":
			w.destChannel = f.Value
		case "DestUniqueid":
			w.destUniqueid = f.Value
		case "CallerIDNum":
			w.callerNum = f.Value
		case "CallerIDName":
			w.callerName = f.Value
		case "ConnectedLineNum":
			w.connNum = f.Value
		case "ConnectedLineName":
			w.connName = f.Value
		case "TalkTime":
			w.talkTime = atoi(f.Value)
		case "HoldTime":
			w.holdTime = atoi(f.Value)
		case "RingTime":
			w.ringTime = atoi(f.Value)
		case "Device":
			w.device = f.Value
		case "State":
			w.state = f.Value
		}
	}
}

// memberFact fills the membership fields of f.
func (w *wire) memberFact(f *presence.VoiceFact) {
	f.Agent, f.StateDevice, f.Queue = w.iface, w.stateIface, w.queue
	f.Membership, f.Paused = membership(w.membership), w.paused
	// PausedReason since Asterisk 13; Reason before.
	f.Reason = w.pausedReason
	if f.Reason == "" {
		f.Reason = w.reason
	}
	f.Device, f.Status = statusDevice(w.status), w.status
	f.Penalty, f.CallsTaken, f.Wrapuptime, f.InCall = w.penalty, w.callsTaken, w.wrapup, w.inCall
}

// fact turns the event read into w into the fact f of kind. It reports
// false for events that are no fact (app_queue's pseudo-devices).
func (w *wire) fact(kind presence.VoiceKind, f *presence.VoiceFact) bool {
	f.Kind = kind
	switch kind {
	case presence.VoiceMemberAdded, presence.VoiceMemberRemoved, presence.VoiceMemberPaused, presence.VoiceMemberChanged:
		w.memberFact(f)
	case presence.VoiceRinging, presence.VoiceRingMissed, presence.VoiceAnswered, presence.VoiceCallEnded, presence.VoiceRingRejected:
		// Channel is the caller's, DestChannel the agent's leg.
		f.Agent, f.Queue = w.iface, w.queue
		f.CallID, f.Leg, f.LegID = w.uniqueid, w.destChannel, w.destUniqueid
		f.CallerNum, f.CallerName = w.callerNum, w.callerName
		f.TalkTime, f.HoldTime, f.RingTime = w.talkTime, w.holdTime, w.ringTime
		if kind == presence.VoiceCallEnded {
			f.EndedBy = w.reason // caller, agent or transfer
		}
	case presence.VoiceCallerLeft:
		f.Queue, f.CallID = w.queue, w.uniqueid
	case presence.VoiceDevice:
		if strings.HasPrefix(w.device, "Queue:") {
			return false // app_queue's Queue:<q>_pause_<iface> and Queue:<q>_avail
		}
		f.Agent, f.Device = w.device, stateDevice(w.state)
	case presence.VoiceLegUp:
		// The other end is the connected line; the leg that started the
		// call is the one whose uniqueid is the call's linkedid.
		f.Leg, f.LegID, f.CallID = w.channel, w.uniqueid, w.linkedid
		f.Agent = asterisk.DeviceOf(w.channel)
		f.CallerNum, f.CallerName = w.connNum, w.connName
		f.Outbound = w.uniqueid != "" && w.uniqueid == w.linkedid
	case presence.VoiceHeld, presence.VoiceResumed, presence.VoiceLegGone:
		f.Leg, f.LegID = w.channel, w.uniqueid
		f.Agent = asterisk.DeviceOf(w.channel)
	}
	return true
}

// memberFrom is one QueueMember item of QueueStatus.
func memberFrom(m Message) presence.Member {
	var w wire
	w.read(m)
	var f presence.VoiceFact
	w.memberFact(&f)
	return presence.Member{
		Queue: f.Queue, Interface: f.Agent, MemberName: memberName(m), StateInterface: f.StateDevice,
		Penalty: f.Penalty, Paused: f.Paused, Reason: f.Reason, Membership: f.Membership,
		Device: f.Device, Status: f.Status, InCall: f.InCall, CallsTaken: f.CallsTaken, Wrapuptime: f.Wrapuptime,
	}
}

// memberName is QueueMember's Name (MemberName in the events).
func memberName(m Message) string {
	if n := m.Get("Name"); n != "" {
		return n
	}
	return m.Get("MemberName")
}

// channel is one CoreShowChannel item.
type channel struct {
	name, uniqueid, bridge string
	state                  int // ChannelState: 4 ring, 5 ringing, 6 up
	app, appData           string
	callerNum, callerName  string
	connNum, connName      string
	duration               time.Duration
}

func channelFrom(m Message) channel {
	c := channel{
		name: m.Get("Channel"), uniqueid: m.Get("Uniqueid"), bridge: m.Get("BridgeId"),
		state: atoi(m.Get("ChannelState")), app: m.Get("Application"), appData: m.Get("ApplicationData"),
		callerNum: m.Get("CallerIDNum"), callerName: m.Get("CallerIDName"),
		connNum: m.Get("ConnectedLineNum"), connName: m.Get("ConnectedLineName"),
	}
	// Duration is HH:MM:SS.
	if h, rest, ok := strings.Cut(m.Get("Duration"), ":"); ok {
		if mm, ss, ok := strings.Cut(rest, ":"); ok {
			c.duration = time.Duration(atoi(h))*time.Hour + time.Duration(atoi(mm))*time.Minute + time.Duration(atoi(ss))*time.Second
		}
	}
	return c
}

// Channel states of CoreShowChannels (enum ast_channel_state).
const (
	channelRing    = 4 // the line rings the other way (a call being placed)
	channelRinging = 5 // the phone rings
	channelUp      = 6
)

// liveCalls turns a box's channels into the legs presence looks at: a
// channel up in a bridge is a call, a ringing one a ring; the others are
// none. A leg bridged with a caller still in Queue() is that caller's queue
// call (the queue is Queue's first argument); any other a direct call.
func liveCalls(chans []channel) []presence.LiveCall {
	byBridge := map[string][]*channel{}
	for i := range chans {
		c := &chans[i]
		if c.bridge != "" {
			byBridge[c.bridge] = append(byBridge[c.bridge], c)
		}
	}
	var out []presence.LiveCall
	for i := range chans {
		c := &chans[i]
		var ringing bool
		switch {
		case c.state == channelUp && c.bridge != "":
		case c.state == channelRinging || c.state == channelRing:
			ringing = true
		default:
			continue
		}
		lc := presence.LiveCall{Agent: asterisk.DeviceOf(c.name), Leg: c.name, LegID: c.uniqueid, CallID: c.uniqueid,
			CallerNum: c.connNum, CallerName: c.connName, Ringing: ringing, Duration: c.duration}
		for _, peer := range byBridge[c.bridge] {
			if peer != c && strings.EqualFold(peer.app, "Queue") {
				lc.Queue, _, _ = strings.Cut(peer.appData, ",")
				lc.CallID, lc.CallerNum, lc.CallerName = peer.uniqueid, peer.callerNum, peer.callerName
			}
		}
		out = append(out, lc)
	}
	return out
}

// deviceReading is one DeviceStateList item; false for app_queue's
// pseudo-devices and items without a device.
func deviceReading(m Message) (presence.DeviceReading, bool) {
	d := m.Get("Device")
	if d == "" || strings.HasPrefix(d, "Queue:") {
		return presence.DeviceReading{}, false
	}
	return presence.DeviceReading{Device: d, State: stateDevice(m.Get("State"))}, true
}
