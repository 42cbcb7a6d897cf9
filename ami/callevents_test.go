package ami_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"omnicc/ami"
	"omnicc/ami/amitest"
	"omnicc/calls"
	"omnicc/directory"
	"omnicc/presence"
	"omnicc/storetest"
)

// lateCalls lets the test build calls.Service after the rig (it needs the
// rig's pool) while the tracker is given its CallEvents up front.
type lateCalls struct {
	mu  sync.Mutex
	svc *calls.Service
	// ups counts the ChannelsUp notices handled: they run on the tracker's
	// own goroutine, after the resync that sends them.
	ups atomic.Int32
}

func (l *lateCalls) get() *calls.Service {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.svc
}

func (l *lateCalls) ChannelHungUp(ctx context.Context, uniqueID string) error {
	return l.get().ChannelHungUp(ctx, uniqueID)
}

func (l *lateCalls) ChannelsUp(ctx context.Context, box string, at time.Time, live []string) error {
	defer l.ups.Add(1)
	return l.get().ChannelsUp(ctx, box, at, live)
}

func (l *lateCalls) AgentAnswered(ctx context.Context, c calls.AnsweredLeg) error {
	return l.get().AgentAnswered(ctx, c)
}

// callRig is the tracker rig with calls.Service over the same pool and
// database: what cmd/omniccd wires.
type callRig struct {
	*trackRig
	calls *calls.Service
	alice *directory.Agent
	late  *lateCalls
}

// getvars answers Getvar of CHANNEL(uniqueid)/CHANNEL(linkedid) from ids
// (channel → "uniqueid" or "uniqueid linkedid"; the linkedid is the
// uniqueid when not given).
func getvars(ids map[string]string) amitest.Handler {
	var mu sync.Mutex
	return func(a ami.Message) []ami.Message {
		mu.Lock()
		defer mu.Unlock()
		v, ok := ids[a.Get("Channel")]
		if !ok {
			return []ami.Message{amitest.Error("No such channel")}
		}
		unique, linked, two := strings.Cut(v, " ")
		if !two {
			linked = unique
		}
		switch a.Get("Variable") {
		case "CHANNEL(uniqueid)":
			v = unique
		case "CHANNEL(linkedid)":
			v = linked
		default:
			v = ""
		}
		return []ami.Message{amitest.Success("Variable", a.Get("Variable"), "Value", v)}
	}
}

func newCallRig(t *testing.T, opts func(*calls.Options), queues ...string) *callRig {
	t.Helper()
	late := &lateCalls{}
	r := newTrackRigWith(t, storetest.SQLite(t), func(o *ami.TrackerOptions, _ *ami.Pool) { o.Calls = late }, queues...)
	mixID := 0
	var mu sync.Mutex
	r.srv.Handle("MixMonitor", func(ami.Message) []ami.Message {
		mu.Lock()
		defer mu.Unlock()
		mixID++
		return []ami.Message{amitest.Success("Message", "Success", "MixMonitorID", "0x"+string(rune('0'+mixID)))}
	})
	o := calls.Options{Control: ami.NewVoice(r.pool, nil), DB: r.db, Agents: r.dir, AgentOf: r.svc.AgentIDByChannel,
		CallQueue: presenceCallQueue(r.svc)}
	if opts != nil {
		opts(&o)
	}
	svc, err := calls.New(o)
	if err != nil {
		t.Fatal(err)
	}
	late.mu.Lock()
	late.svc = svc
	late.mu.Unlock()
	cr := &callRig{trackRig: r, calls: svc, late: late}
	cr.alice = r.agent("alice", directory.TypologyWebRTC, nil)
	return cr
}

func (r *callRig) recordingState(id int64) string {
	r.t.Helper()
	rec, err := r.calls.Recording(r.t.Context(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return rec.State
}

var staff = calls.Actor{UserID: 9, Username: "sue", Staff: true}

// Issue 17 item 4: a recording whose channel hangs up is marked stopped by
// the tracker's Hangup, not left "recording" forever.
func TestTrackerClosesRecordingAtHangup(t *testing.T) {
	r := newCallRig(t, nil)
	r.srv.Handle("Getvar", getvars(map[string]string{"PJSIP/alice-00000001": "1795277390.12"}))
	r.start()
	r.waitResynced(1)
	rec, err := r.calls.StartRecording(t.Context(), r.alice.ID, calls.RecordRequest{Leg: calls.Leg{Channel: "PJSIP/alice-00000001"}}, staff)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != calls.RecordingRecording {
		t.Fatalf("state %s", rec.State)
	}
	r.srv.Push(ami.NewMessage("Event", "Hangup", "Channel", "PJSIP/alice-00000001", "Uniqueid", "1795277390.12",
		"Linkedid", "1795277390.12", "Cause", "16", "Cause-txt", "Normal Clearing"))
	r.waitFor("recording stopped at hang-up", func() bool { return r.recordingState(rec.ID) == calls.RecordingStopped })
}

// …and a call that ended while the link was down is closed by the resync
// after the reconnect, while a recording whose channel is still up runs on.
func TestTrackerClosesRecordingsOfCallsEndedWhileDisconnected(t *testing.T) {
	// The recordings started a minute ago: a recording started about when
	// the channels are listed is left to the next look.
	r := newCallRig(t, func(o *calls.Options) { o.Now = func() time.Time { return time.Now().Add(-time.Minute) } })
	r.srv.Handle("Getvar", getvars(map[string]string{"PJSIP/alice-00000001": "1795277390.12", "PJSIP/alice-00000002": "1795277390.20"}))
	r.start()
	r.waitResynced(1)
	// The first connect's notice (no channels) must be handled before the
	// recordings start: handled after, it would stop both, since they
	// look a minute old.
	r.waitFor("the first channel list handled", func() bool { return r.late.ups.Load() >= 1 })
	gone, err := r.calls.StartRecording(t.Context(), r.alice.ID, calls.RecordRequest{Leg: calls.Leg{Channel: "PJSIP/alice-00000001"}}, staff)
	if err != nil {
		t.Fatal(err)
	}
	up, err := r.calls.StartRecording(t.Context(), r.alice.ID, calls.RecordRequest{Leg: calls.Leg{Channel: "PJSIP/alice-00000002"}}, staff)
	if err != nil {
		t.Fatal(err)
	}
	r.queues.SetChannels(ami.NewMessage("Event", "CoreShowChannel", "ActionID", "", "Channel", "PJSIP/alice-00000002",
		"Uniqueid", "1795277390.20", "Linkedid", "1795277390.20", "ChannelState", "6", "BridgeId", "b1", "Duration", "00:00:10"))
	r.srv.Drop()
	r.waitResynced(2)
	r.waitFor("the second channel list handled", func() bool { return r.late.ups.Load() >= 2 })
	r.waitFor("recording of the ended call stopped", func() bool { return r.recordingState(gone.ID) == calls.RecordingStopped })
	if st := r.recordingState(up.ID); st != calls.RecordingRecording {
		t.Fatalf("recording of the live call: %s, want recording", st)
	}
}

// recordings lists every recording of call linkedid.
func (r *callRig) recordings(linkedid string) []calls.Recording {
	r.t.Helper()
	items, _, err := r.calls.Recordings(r.t.Context(), calls.RecordingFilter{CallID: linkedid, Page: 1, PerPage: 10})
	if err != nil {
		r.t.Fatal(err)
	}
	return items
}

// Issue 17 item 5: an agent with record_calls answering a queue call whose
// queue records too gets one recording (the reasons do not add up), listed
// with its file, counted in the two-per-call limit and closed at hang-up.
func TestTrackerRecordsAnsweredQueueCallOnce(t *testing.T) {
	r := newCallRig(t, func(o *calls.Options) {
		o.QueueRecording = func(_ context.Context, q string) (string, error) {
			if q == "sales" {
				return "gsm", nil
			}
			return "", nil
		}
	}, "sales")
	wav := "wav"
	bob := r.agent("bob", directory.TypologyWebRTC, func(in *directory.AgentInput) { in.RecordCalls = &wav })
	r.queue("sales", bob)
	r.srv.Handle("Getvar", getvars(map[string]string{"PJSIP/bob-00000007": "1795277400.8 1795277400.7"}))
	r.start()
	r.waitResynced(1)
	// AgentConnect: Channel is the caller, DestChannel the agent's leg.
	connect := ami.NewMessage("Event", "AgentConnect", "Channel", "PJSIP/carrier-00000006", "Uniqueid", "1795277400.7",
		"Linkedid", "1795277400.7", "DestChannel", "PJSIP/bob-00000007", "DestUniqueid", "1795277400.8",
		"DestLinkedid", "1795277400.7", "Queue", "sales", "Interface", "PJSIP/bob", "MemberName", "bob",
		"HoldTime", "3", "RingTime", "2")
	bridged := ami.NewMessage("Event", "BridgeEnter", "BridgeUniqueid", "b-1", "Channel", "PJSIP/bob-00000007",
		"Uniqueid", "1795277400.8", "Linkedid", "1795277400.7")
	// The ring first (presence learns the leg is a queue call's), then the
	// bridge and AgentConnect in either order: Asterisk publishes them on
	// different topics.
	r.srv.Push(ami.NewMessage("Event", "AgentCalled", "Channel", "PJSIP/carrier-00000006", "Uniqueid", "1795277400.7",
		"Linkedid", "1795277400.7", "DestChannel", "PJSIP/bob-00000007", "DestUniqueid", "1795277400.8",
		"Queue", "sales", "Interface", "PJSIP/bob", "MemberName", "bob"))
	r.srv.Push(bridged, connect, bridged)
	r.waitFor("the queue call recorded", func() bool {
		recs := r.recordings("1795277400.7")
		return len(recs) == 1 && recs[0].State == calls.RecordingRecording
	})
	// Give the remaining notices time to be applied: they share one queue,
	// so a later one proves the earlier are done.
	r.srv.Push(ami.NewMessage("Event", "Hangup", "Channel", "PJSIP/other-00000001", "Uniqueid", "1795277400.99"))
	rec := r.recordings("1795277400.7")
	if len(rec) != 1 || rec[0].Source != calls.RecordingQueue || rec[0].Format != "gsm" || rec[0].File == "" || rec[0].Channel != "PJSIP/bob-00000007" {
		t.Fatalf("recordings of the call: %+v", rec)
	}
	if n := len(r.srv.Actions("MixMonitor")); n != 1 {
		t.Fatalf("%d MixMonitor actions, want 1", n)
	}
	// The automatic recording holds slot 1: one manual recording more, no third.
	if _, err := r.calls.StartRecording(t.Context(), bob.ID, calls.RecordRequest{Leg: calls.Leg{Channel: "PJSIP/bob-00000007"}}, staff); err != nil {
		t.Fatal(err)
	}
	if _, err := r.calls.StartRecording(t.Context(), bob.ID, calls.RecordRequest{Leg: calls.Leg{Channel: "PJSIP/bob-00000007"}}, staff); err == nil {
		t.Fatal("a third recording of the call was started")
	}
	r.srv.Push(ami.NewMessage("Event", "Hangup", "Channel", "PJSIP/bob-00000007", "Uniqueid", "1795277400.8", "Linkedid", "1795277400.7"))
	r.waitFor("both recordings closed at hang-up", func() bool {
		for _, x := range r.recordings("1795277400.7") {
			if x.State != calls.RecordingStopped {
				return false
			}
		}
		return true
	})
}

// An outbound call of an agent (click-to-call or the phone dialling out)
// whose route records: the route's wish, read from the agent's leg
// (OMNICC_RECORD), is recorded by omniccd when the leg enters the bridge.
func TestTrackerRecordsOutboundRouteCall(t *testing.T) {
	r := newCallRig(t, nil)
	r.srv.Handle("Getvar", func(a ami.Message) []ami.Message {
		if a.Get("Channel") != "PJSIP/alice-00000003" {
			return []ami.Message{amitest.Error("No such channel")}
		}
		v := "1795277500.3"
		if a.Get("Variable") == "OMNICC_RECORD" {
			v = "wav49"
		}
		return []ami.Message{amitest.Success("Variable", a.Get("Variable"), "Value", v)}
	})
	r.start()
	r.waitResynced(1)
	r.srv.Push(ami.NewMessage("Event", "BridgeEnter", "BridgeUniqueid", "b-2", "Channel", "PJSIP/alice-00000003",
		"Uniqueid", "1795277500.3", "Linkedid", "1795277500.3"),
		// The customer's leg is no agent's: nothing for it.
		ami.NewMessage("Event", "BridgeEnter", "BridgeUniqueid", "b-2", "Channel", "PJSIP/carrier-00000004",
			"Uniqueid", "1795277500.4", "Linkedid", "1795277500.3"))
	r.waitFor("the outbound call recorded", func() bool {
		recs := r.recordings("1795277500.3")
		return len(recs) == 1 && recs[0].State == calls.RecordingRecording
	})
	rec := r.recordings("1795277500.3")[0]
	if rec.Source != calls.RecordingRoute || rec.Format != "wav49" || !strings.HasSuffix(rec.File, ".WAV") {
		t.Fatalf("%+v", rec)
	}
	if got := sent(t, r.srv, "MixMonitor"); got[1].Value != "PJSIP/alice-00000003" {
		t.Fatalf("MixMonitor %v", got)
	}
}

// presenceCallQueue is what cmd/omniccd wires as calls.Options.CallQueue.
func presenceCallQueue(svc *presence.Service) func(ctx context.Context, agentID int64, channel string) string {
	return func(ctx context.Context, agentID int64, channel string) string {
		st, err := svc.State(ctx, agentID)
		if err != nil || st.Call == nil || st.Call.Channel != channel {
			return ""
		}
		return st.Call.Queue
	}
}

// The consultation ends with Asterisk's events, so that a later complete
// cannot hang the customer up: the transfer done from the phone
// (AttendedTransfer), the transferer back in its first bridge (the target
// did not answer), or its hang-up.
func TestTrackerEndsConsultationsFromEvents(t *testing.T) {
	var voice *ami.Voice
	r := newTrackRigWith(t, storetest.SQLite(t), func(o *ami.TrackerOptions, pool *ami.Pool) {
		voice = ami.NewVoice(pool, nil)
		o.Voice = voice
	})
	r.srv.Handle("Atxfer", amitest.Reply(amitest.Success("Message", "Atxfer successfully queued")))
	r.srv.Handle("Hangup", amitest.Reply(amitest.Success("Message", "Channel Hungup")))
	r.srv.Handle("CancelAtxfer", amitest.Reply(amitest.Success("Message", "CancelAtxfer successfully queued")))
	r.start()
	r.waitResynced(1)
	ctx := t.Context()
	const ch = "PJSIP/alice-00000001"
	ended := func(what string) {
		t.Helper()
		r.waitFor(what, func() bool { return !voice.Consulting(ch) })
		if err := voice.CompleteTransfer(ctx, "", ch); !errors.Is(err, calls.ErrNoConsultation) {
			t.Fatalf("complete after %s: %v", what, err)
		}
	}
	start := func() {
		t.Helper()
		if err := voice.AttendedTransfer(ctx, "", ch, "from-sip", "1002"); err != nil || !voice.Consulting(ch) {
			t.Fatalf("attended transfer: %v, consulting %v", err, voice.Consulting(ch))
		}
	}
	// Done from the phone (the agent pressed atxfercomplete).
	start()
	r.srv.Push(ami.NewMessage("Event", "AttendedTransfer", "Result", "Success", "OrigTransfererChannel", ch,
		"SecondTransfererChannel", "Local/1002@from-sip-00000002;1"))
	ended("consultation ended by AttendedTransfer")
	// The target never answered: Asterisk puts the agent back in the bridge
	// it left.
	start()
	r.srv.Push(ami.NewMessage("Event", "BridgeLeave", "BridgeUniqueid", "b-orig", "Channel", ch),
		ami.NewMessage("Event", "BridgeEnter", "BridgeUniqueid", "b-consult", "Channel", ch))
	r.srv.Push(ami.NewMessage("Event", "BridgeLeave", "BridgeUniqueid", "b-consult", "Channel", ch),
		ami.NewMessage("Event", "BridgeEnter", "BridgeUniqueid", "b-orig", "Channel", ch))
	ended("consultation ended by the return to the first bridge")
	// The agent hung up.
	start()
	r.srv.Push(ami.NewMessage("Event", "Hangup", "Channel", ch, "Uniqueid", "1795277390.5"))
	ended("consultation ended by the hang-up")
	if n := len(r.srv.Actions("Hangup")); n != 0 {
		t.Fatalf("%d Hangups sent: a complete with no consultation reached Asterisk", n)
	}
	// A consultation going on is completed by hanging the agent's leg up.
	start()
	if err := voice.CompleteTransfer(ctx, "", ch); err != nil {
		t.Fatal(err)
	}
	if n := len(r.srv.Actions("Hangup")); n != 1 {
		t.Fatalf("%d Hangups, want 1", n)
	}
}

// Issue 17 item 6: a click-to-call (any non-queue call) is in the agent's
// state with its channel, uniqueid, peer, direction and since, so a client
// can hang it up, transfer or record it; the hang-up takes it away.
func TestTrackerMakesEveryCallAddressable(t *testing.T) {
	r := newTrackRig(t, storetest.SQLite(t))
	alice := r.agent("alice", directory.TypologyWebRTC, nil)
	r.start()
	r.waitResynced(1)
	// The originated leg to alice's phone starts the call: its uniqueid is
	// the linkedid.
	r.srv.Push(ami.NewMessage("Event", "BridgeEnter", "BridgeUniqueid", "b-9", "Channel", "PJSIP/alice-0000000a",
		"Uniqueid", "1795277700.10", "Linkedid", "1795277700.10", "CallerIDNum", "1001",
		"ConnectedLineNum", "+390612345678", "ConnectedLineName", "Rossi"))
	st := r.waitState(alice.ID, "on the click-to-call", func(s presence.AgentState) bool { return len(s.Calls) == 1 })
	c := st.Calls[0]
	if c.Channel != "PJSIP/alice-0000000a" || c.LegID != "1795277700.10" || c.UniqueID != "1795277700.10" || c.Peer != "+390612345678" ||
		c.Direction != "outbound" || c.State != "up" || c.Queue != "" || c.Since.IsZero() {
		t.Fatalf("state %s, calls %+v", st.State, st.Calls)
	}
	// The phone's own hold is still tracked, now on the direct call too.
	r.srv.Push(ami.NewMessage("Event", "Hold", "Channel", "PJSIP/alice-0000000a", "Uniqueid", "1795277700.10", "Linkedid", "1795277700.10"))
	r.waitState(alice.ID, "the call on hold", func(s presence.AgentState) bool { return len(s.Calls) == 1 && s.Calls[0].State == "on_hold" })
	r.srv.Push(ami.NewMessage("Event", "Unhold", "Channel", "PJSIP/alice-0000000a", "Uniqueid", "1795277700.10", "Linkedid", "1795277700.10"))
	r.waitState(alice.ID, "the call resumed", func(s presence.AgentState) bool { return len(s.Calls) == 1 && s.Calls[0].State == "up" })
	r.srv.Push(ami.NewMessage("Event", "Hangup", "Channel", "PJSIP/alice-0000000a", "Uniqueid", "1795277700.10", "Linkedid", "1795277700.10"))
	r.waitState(alice.ID, "off the call", func(s presence.AgentState) bool { return len(s.Calls) == 0 && s.Call == nil })
}
