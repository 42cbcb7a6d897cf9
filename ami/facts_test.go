package ami_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"omnicc/ami"
	"omnicc/ami/amitest"
	"omnicc/presence"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// factRecorder is the AgentStates a translation test hands the tracker: it
// keeps every fact and snapshot.
type factRecorder struct {
	facts []presence.VoiceFact
	snaps []*presence.Snapshot
}

func (r *factRecorder) ApplyVoice(f *presence.VoiceFact)                     { r.facts = append(r.facts, *f) }
func (r *factRecorder) Mark() uint64                                         { return 0 }
func (r *factRecorder) Resync(s *presence.Snapshot)                          { r.snaps = append(r.snaps, s) }
func (*factRecorder) ReconcilePlan(*presence.Snapshot) []presence.Correction { return nil }

func newFactTracker(t *testing.T) (*ami.Tracker, *factRecorder) {
	t.Helper()
	pool, err := ami.NewPool(nil, ami.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &factRecorder{}
	return ami.NewTracker(pool, rec, ami.TrackerOptions{Buffer: 1}), rec
}

// apply feeds one event and returns the fact it became (nil: none).
func apply(t *testing.T, kv ...string) *presence.VoiceFact {
	t.Helper()
	tr, rec := newFactTracker(t)
	tr.Apply("b1", time.Time{}, ami.NewMessage(kv...))
	switch len(rec.facts) {
	case 0:
		return nil
	case 1:
		return &rec.facts[0]
	}
	t.Fatalf("one event became %d facts", len(rec.facts))
	return nil
}

// Every app_queue member Status is the right phone state, and the code is
// passed on as it came.
func TestMemberStatusIsADeviceState(t *testing.T) {
	tests := []struct {
		status string
		want   presence.DeviceState
		code   int
	}{
		{"0", presence.DeviceUnknown, 0},
		{"1", presence.DeviceIdle, 1},
		{"2", presence.DeviceInUse, 2},
		{"3", presence.DeviceBusy, 3},
		{"4", presence.DeviceInvalid, 4},
		{"5", presence.DeviceUnavailable, 5},
		{"6", presence.DeviceRinging, 6},
		{"7", presence.DeviceRingInUse, 7},
		{"8", presence.DeviceOnHold, 8},
		{"9", presence.DeviceUnknown, 9},
		{"", presence.DeviceUnknown, 0},
	}
	for _, tt := range tests {
		for _, event := range []string{"QueueMemberStatus", "QueueMemberAdded", "QueueMemberPause"} {
			f := apply(t, "Event", event, "Queue", "sales", "Interface", "PJSIP/alice", "StateInterface", "PJSIP/alice",
				"Membership", "dynamic", "Status", tt.status)
			if f == nil || f.Device != tt.want || f.Status != tt.code || f.Agent != "PJSIP/alice" || f.StateDevice != "PJSIP/alice" {
				t.Errorf("%s Status %q: %+v, want device %s code %d", event, tt.status, f, tt.want, tt.code)
			}
		}
	}
}

// Every device state name of DeviceStateChange is the right phone state;
// app_queue's pseudo-devices are no fact.
func TestDeviceStateNames(t *testing.T) {
	tests := []struct {
		state string
		want  presence.DeviceState
	}{
		{"UNKNOWN", presence.DeviceUnknown},
		{"NOT_INUSE", presence.DeviceIdle},
		{"INUSE", presence.DeviceInUse},
		{"BUSY", presence.DeviceBusy},
		{"INVALID", presence.DeviceInvalid},
		{"UNAVAILABLE", presence.DeviceUnavailable},
		{"RINGING", presence.DeviceRinging},
		{"RINGINUSE", presence.DeviceRingInUse},
		{"ONHOLD", presence.DeviceOnHold},
		{"SOMETHING_NEW", presence.DeviceUnknown},
	}
	for _, tt := range tests {
		f := apply(t, "Event", "DeviceStateChange", "Device", "PJSIP/alice", "State", tt.state)
		if f == nil || f.Kind != presence.VoiceDevice || f.Agent != "PJSIP/alice" || f.Device != tt.want {
			t.Errorf("State %q: %+v, want %s", tt.state, f, tt.want)
		}
	}
	for _, d := range []string{"Queue:sales_avail", "Queue:sales_pause_PJSIP/alice"} {
		if f := apply(t, "Event", "DeviceStateChange", "Device", d, "State", "INUSE"); f != nil {
			t.Errorf("%s became %+v", d, f)
		}
	}
}

// Each event becomes its fact; the agent's leg of an Agent* event is
// DestChannel whichever of Channel and DestChannel comes first.
func TestEventsBecomeFacts(t *testing.T) {
	agentCall := func(event string, destFirst bool) []string {
		caller := []string{"Channel", "PJSIP/trunk-00000001", "Uniqueid", "c.1"}
		agent := []string{"DestChannel", "PJSIP/alice-00000002", "DestUniqueid", "a.2"}
		kv := []string{"Event", event, "Queue", "sales", "Interface", "PJSIP/alice", "CallerIDNum", "5551", "CallerIDName", "Ann",
			"TalkTime", "42", "HoldTime", "7", "RingTime", "15000", "Reason", "caller"}
		if destFirst {
			return append(append(kv, agent...), caller...)
		}
		return append(append(kv, caller...), agent...)
	}
	tests := []struct {
		name string
		kv   []string
		want presence.VoiceFact
	}{
		{"added", []string{"Event", "QueueMemberAdded", "Queue", "sales", "Interface", "Local/200@ctx/n", "StateInterface", "Local/200@ctx",
			"Membership", "dynamic", "Paused", "0", "Penalty", "3", "CallsTaken", "2", "Wrapuptime", "5", "InCall", "1", "Status", "1"},
			presence.VoiceFact{Kind: presence.VoiceMemberAdded, Agent: "Local/200@ctx/n", StateDevice: "Local/200@ctx", Queue: "sales",
				Membership: presence.MembershipDynamic, Penalty: 3, CallsTaken: 2, Wrapuptime: 5, InCall: true, Device: presence.DeviceIdle, Status: 1}},
		{"removed static", []string{"Event", "QueueMemberRemoved", "Queue", "sales", "Interface", "PJSIP/alice", "Membership", "static"},
			presence.VoiceFact{Kind: presence.VoiceMemberRemoved, Agent: "PJSIP/alice", Queue: "sales", Membership: presence.MembershipStatic, Device: presence.DeviceUnknown}},
		{"paused", []string{"Event", "QueueMemberPause", "Queue", "sales", "Interface", "PJSIP/alice", "Membership", "realtime",
			"Paused", "1", "PausedReason", "lunch break", "Status", "1"},
			presence.VoiceFact{Kind: presence.VoiceMemberPaused, Agent: "PJSIP/alice", Queue: "sales", Membership: presence.MembershipRealtime,
				Paused: true, Reason: "lunch break", Device: presence.DeviceIdle, Status: 1}},
		{"paused before Asterisk 13", []string{"Event", "QueueMemberPaused", "Queue", "sales", "Interface", "PJSIP/alice", "Paused", "1", "Reason", "coffee"},
			presence.VoiceFact{Kind: presence.VoiceMemberPaused, Agent: "PJSIP/alice", Queue: "sales", Paused: true, Reason: "coffee", Device: presence.DeviceUnknown}},
		{"penalty", []string{"Event", "QueueMemberPenalty", "Queue", "sales", "Interface", "PJSIP/alice", "Penalty", "4", "Status", "2"},
			presence.VoiceFact{Kind: presence.VoiceMemberChanged, Agent: "PJSIP/alice", Queue: "sales", Penalty: 4, Device: presence.DeviceInUse, Status: 2}},
		{"ringinuse", []string{"Event", "QueueMemberRinginuse", "Queue", "sales", "Interface", "PJSIP/alice", "Status", "8"},
			presence.VoiceFact{Kind: presence.VoiceMemberChanged, Agent: "PJSIP/alice", Queue: "sales", Device: presence.DeviceOnHold, Status: 8}},
		{"called", agentCall("AgentCalled", false), callFact(presence.VoiceRinging)},
		{"called, DestChannel first", agentCall("AgentCalled", true), callFact(presence.VoiceRinging)},
		{"no answer", agentCall("AgentRingNoAnswer", false), callFact(presence.VoiceRingMissed)},
		{"connect", agentCall("AgentConnect", true), callFact(presence.VoiceAnswered)},
		{"complete", agentCall("AgentComplete", false), func() presence.VoiceFact {
			f := callFact(presence.VoiceCallEnded)
			f.EndedBy = "caller"
			return f
		}()},
		{"dump", agentCall("AgentDump", false), callFact(presence.VoiceRingRejected)},
		{"abandon", []string{"Event", "QueueCallerAbandon", "Queue", "sales", "Uniqueid", "c.1", "Channel", "PJSIP/trunk-00000001"},
			presence.VoiceFact{Kind: presence.VoiceCallerLeft, Queue: "sales", CallID: "c.1"}},
		{"hold", []string{"Event", "Hold", "Channel", "PJSIP/alice-00000002", "Uniqueid", "a.2"},
			presence.VoiceFact{Kind: presence.VoiceHeld, Agent: "PJSIP/alice", Leg: "PJSIP/alice-00000002", LegID: "a.2"}},
		{"unhold of a Local leg", []string{"Event", "Unhold", "Channel", "Local/200@ctx-00000001;1", "Uniqueid", "a.3"},
			presence.VoiceFact{Kind: presence.VoiceResumed, Agent: "Local/200@ctx", Leg: "Local/200@ctx-00000001;1", LegID: "a.3"}},
		{"hangup", []string{"Event", "Hangup", "Channel", "PJSIP/alice-00000002", "Uniqueid", "a.2", "Cause", "16"},
			presence.VoiceFact{Kind: presence.VoiceLegGone, Agent: "PJSIP/alice", Leg: "PJSIP/alice-00000002", LegID: "a.2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := apply(t, tt.kv...)
			tt.want.Box = "b1"
			if f == nil || *f != tt.want {
				t.Fatalf("got  %+v\nwant %+v", f, tt.want)
			}
		})
	}
	// BridgeEnter is a fact since issue 17 (an agent's direct call starts
	// there): see TestBridgeEnterIsLegUp.
	for _, ignored := range []string{"Newchannel", "VarSet", "QueueCallerJoin"} {
		if f := apply(t, "Event", ignored, "Channel", "PJSIP/alice-00000002", "Queue", "sales"); f != nil {
			t.Errorf("%s became %+v", ignored, f)
		}
	}
}

var kindNames = map[presence.VoiceKind]string{
	presence.VoiceMemberAdded: "MemberAdded", presence.VoiceMemberRemoved: "MemberRemoved",
	presence.VoiceMemberPaused: "MemberPaused", presence.VoiceMemberChanged: "MemberChanged",
	presence.VoiceRinging: "Ringing", presence.VoiceRingMissed: "RingMissed", presence.VoiceAnswered: "Answered",
	presence.VoiceCallEnded: "CallEnded", presence.VoiceRingRejected: "RingRejected", presence.VoiceCallerLeft: "CallerLeft",
	presence.VoiceDevice: "Device", presence.VoiceHeld: "Held", presence.VoiceResumed: "Resumed", presence.VoiceLegGone: "LegGone", presence.VoiceLegUp: "LegUp",
}

func callFact(kind presence.VoiceKind) presence.VoiceFact {
	f := presence.VoiceFact{Kind: kind, Agent: "PJSIP/alice", Queue: "sales", CallID: "c.1", Leg: "PJSIP/alice-00000002", LegID: "a.2",
		CallerNum: "5551", CallerName: "Ann", TalkTime: 42, HoldTime: 7, RingTime: 15000}
	return f
}

// The facts the captured queue traffic of a real Asterisk 22 becomes, as a
// golden file (go test ./ami -run TestCaptureFacts -update rewrites it).
func TestCaptureFacts(t *testing.T) {
	msgs, err := amitest.LoadCapture(t, amitest.QueueEvents).Messages(amitest.FromAsterisk)
	if err != nil {
		t.Fatal(err)
	}
	tr, rec := newFactTracker(t)
	for _, m := range msgs {
		if m.IsEvent() {
			tr.Apply("b1", time.Time{}, m)
		}
	}
	var b strings.Builder
	for _, f := range rec.facts {
		kind := kindNames[f.Kind]
		f.Kind, f.At = 0, time.Time{}
		fmt.Fprintf(&b, "%s %+v\n", kind, f)
	}
	golden := filepath.Join("testdata", "facts-queue-events.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if b.String() != string(want) {
		t.Fatalf("facts differ from %s (run with -update after checking the change):\n%s", golden, b.String())
	}
}

// An agent's leg entering a bridge is VoiceLegUp: the other end is the
// connected line, and the leg whose uniqueid is the linkedid started the
// call (outbound).
func TestBridgeEnterIsLegUp(t *testing.T) {
	f := apply(t, "Event", "BridgeEnter", "Channel", "PJSIP/alice-00000002", "Uniqueid", "1.2", "Linkedid", "1.2",
		"ConnectedLineNum", "555", "ConnectedLineName", "Bo")
	want := presence.VoiceFact{Kind: presence.VoiceLegUp, Box: "b1", Agent: "PJSIP/alice", Leg: "PJSIP/alice-00000002",
		LegID: "1.2", CallID: "1.2", CallerNum: "555", CallerName: "Bo", Outbound: true}
	if f == nil || *f != want {
		t.Fatalf("got  %+v\nwant %+v", f, want)
	}
	if f := apply(t, "Event", "BridgeEnter", "Channel", "PJSIP/alice-00000003", "Uniqueid", "1.3", "Linkedid", "1.1"); f == nil || f.Outbound {
		t.Fatalf("a called leg: %+v", f)
	}
}
