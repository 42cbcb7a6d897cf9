package ami

import (
	"slices"
	"testing"
	"time"

	"omnicc/presence"
)

// CoreShowChannels' channel states become rings and calls: up in a bridge a
// call (a queue call when bridged with a caller in Queue()), ringing a ring,
// anything else nothing.
func TestLiveCalls(t *testing.T) {
	ch := func(kv ...string) channel {
		return channelFrom(NewMessage(append([]string{"Event", "CoreShowChannel"}, kv...)...))
	}
	chans := []channel{
		ch("Channel", "PJSIP/trunk-00000001", "Uniqueid", "c.1", "ChannelState", "6", "BridgeId", "br1",
			"Application", "Queue", "ApplicationData", "sales,t,,,300", "CallerIDNum", "5551", "CallerIDName", "Ann"),
		ch("Channel", "PJSIP/alice-00000002", "Uniqueid", "a.2", "ChannelState", "6", "BridgeId", "br1",
			"Application", "AppQueue", "ConnectedLineNum", "5551", "Duration", "00:01:05"),
		ch("Channel", "PJSIP/bob-00000003", "Uniqueid", "b.3", "ChannelState", "5", "ConnectedLineNum", "200"),
		ch("Channel", "PJSIP/carol-00000004", "Uniqueid", "c.4", "ChannelState", "4"),
		ch("Channel", "PJSIP/dave-00000005", "Uniqueid", "d.5", "ChannelState", "6"), // up, in no bridge
		ch("Channel", "PJSIP/erin-00000006", "Uniqueid", "e.6", "ChannelState", "0"), // down
		ch("Channel", "Local/200@ctx-00000007;1", "Uniqueid", "l.7", "ChannelState", "6", "BridgeId", "br2", "ConnectedLineNum", "300"),
		ch("Channel", "PJSIP/frank-00000008", "Uniqueid", "f.8", "ChannelState", "6", "BridgeId", "br2"),
	}
	want := []presence.LiveCall{
		{Agent: "PJSIP/trunk", Leg: "PJSIP/trunk-00000001", LegID: "c.1", CallID: "c.1"},
		{Agent: "PJSIP/alice", Leg: "PJSIP/alice-00000002", LegID: "a.2", CallID: "c.1", Queue: "sales",
			CallerNum: "5551", CallerName: "Ann", Duration: 65 * time.Second},
		{Agent: "PJSIP/bob", Leg: "PJSIP/bob-00000003", LegID: "b.3", CallID: "b.3", CallerNum: "200", Ringing: true},
		{Agent: "PJSIP/carol", Leg: "PJSIP/carol-00000004", LegID: "c.4", CallID: "c.4", Ringing: true},
		{Agent: "Local/200@ctx", Leg: "Local/200@ctx-00000007;1", LegID: "l.7", CallID: "l.7", CallerNum: "300"},
		{Agent: "PJSIP/frank", Leg: "PJSIP/frank-00000008", LegID: "f.8", CallID: "f.8"},
	}
	if got := liveCalls(chans); !slices.Equal(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestDeviceReadings(t *testing.T) {
	for _, tt := range []struct {
		device, state string
		want          presence.DeviceReading
		ok            bool
	}{
		{"PJSIP/alice", "ONHOLD", presence.DeviceReading{Device: "PJSIP/alice", State: presence.DeviceOnHold}, true},
		{"Local/200@ctx", "INVALID", presence.DeviceReading{Device: "Local/200@ctx", State: presence.DeviceInvalid}, true},
		{"Queue:sales_avail", "INUSE", presence.DeviceReading{}, false},
		{"", "INUSE", presence.DeviceReading{}, false},
	} {
		got, ok := deviceReading(NewMessage("Event", "DeviceStateChange", "Device", tt.device, "State", tt.state))
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s %s: %+v %t", tt.device, tt.state, got, ok)
		}
	}
}
