package ami_test

import (
	"context"
	"sync"
	"testing"

	"omnicc/ami"
	"omnicc/ami/amitest"
	"omnicc/calls"
	"omnicc/directory"
	"omnicc/storetest"
)

// lateCalls lets the test build calls.Service after the rig (it needs the
// rig's pool) while the tracker is given its CallEvents up front.
type lateCalls struct {
	mu  sync.Mutex
	svc *calls.Service
}

func (l *lateCalls) get() *calls.Service {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.svc
}

func (l *lateCalls) ChannelHungUp(ctx context.Context, uniqueID string) error {
	return l.get().ChannelHungUp(ctx, uniqueID)
}

func (l *lateCalls) ChannelsUp(ctx context.Context, box string, live []string) error {
	return l.get().ChannelsUp(ctx, box, live)
}

// callRig is the tracker rig with calls.Service over the same pool and
// database: what cmd/omniccd wires.
type callRig struct {
	*trackRig
	calls *calls.Service
	alice *directory.Agent
}

// getvars answers Getvar of CHANNEL(uniqueid)/CHANNEL(linkedid) from ids
// (channel → uniqueid), the linkedid being the uniqueid.
func getvars(ids map[string]string) amitest.Handler {
	var mu sync.Mutex
	return func(a ami.Message) []ami.Message {
		mu.Lock()
		defer mu.Unlock()
		id, ok := ids[a.Get("Channel")]
		if !ok {
			return []ami.Message{amitest.Error("No such channel")}
		}
		return []ami.Message{amitest.Success("Variable", a.Get("Variable"), "Value", id)}
	}
}

func newCallRig(t *testing.T, opts func(*calls.Options), queues ...string) *callRig {
	t.Helper()
	late := &lateCalls{}
	r := newTrackRigWith(t, storetest.SQLite(t), func(o *ami.TrackerOptions) { o.Calls = late }, queues...)
	mixID := 0
	var mu sync.Mutex
	r.srv.Handle("MixMonitor", func(ami.Message) []ami.Message {
		mu.Lock()
		defer mu.Unlock()
		mixID++
		return []ami.Message{amitest.Success("Message", "Success", "MixMonitorID", "0x" + string(rune('0'+mixID)))}
	})
	o := calls.Options{Control: ami.NewVoice(r.pool, nil), DB: r.db, Agents: r.dir}
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
	cr := &callRig{trackRig: r, calls: svc}
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
	r := newCallRig(t, nil)
	r.srv.Handle("Getvar", getvars(map[string]string{"PJSIP/alice-00000001": "1795277390.12", "PJSIP/alice-00000002": "1795277390.20"}))
	r.start()
	r.waitResynced(1)
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
	r.waitFor("recording of the ended call stopped", func() bool { return r.recordingState(gone.ID) == calls.RecordingStopped })
	if st := r.recordingState(up.ID); st != calls.RecordingRecording {
		t.Fatalf("recording of the live call: %s, want recording", st)
	}
}
