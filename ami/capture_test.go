package ami_test

import (
	"bytes"
	"strings"
	"testing"

	"omnicc/ami"
	"omnicc/ami/amitest"
)

// TestCapturesParse parses every message of both captures from real Asterisk
// 22 traffic and checks the shapes a state tracker depends on.
func TestCapturesParse(t *testing.T) {
	tests := []struct {
		capture         string
		fromAsterisk    int // messages Asterisk sent, banners excluded
		fromApp         int // actions the client sent
		banners         int
		events, replies int
	}{
		{capture: amitest.QueueEvents, fromAsterisk: 382, fromApp: 15, banners: 1, events: 367, replies: 15},
		{capture: amitest.Actions, fromAsterisk: 50, fromApp: 20, banners: 2, events: 31, replies: 19},
	}
	for _, tt := range tests {
		t.Run(tt.capture, func(t *testing.T) {
			tr := amitest.LoadCapture(t, tt.capture)
			msgs, err := tr.Messages(amitest.FromAsterisk)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != tt.fromAsterisk {
				t.Errorf("messages from Asterisk: got %d, want %d", len(msgs), tt.fromAsterisk)
			}
			events, replies := 0, 0
			for _, m := range msgs {
				switch {
				case m.IsEvent():
					events++
				case m.IsResponse():
					replies++
				default:
					t.Errorf("neither event nor response: %v", m)
				}
				for _, f := range m.Fields() {
					if f.Key == "" {
						t.Errorf("field without a key in %v", m)
					}
				}
			}
			if events != tt.events || replies != tt.replies {
				t.Errorf("events/responses: got %d/%d, want %d/%d", events, replies, tt.events, tt.replies)
			}
			actions, err := tr.Messages(amitest.FromApp)
			if err != nil {
				t.Fatal(err)
			}
			if len(actions) != tt.fromApp {
				t.Errorf("actions: got %d, want %d", len(actions), tt.fromApp)
			}

			// Encoding what was parsed gives back Asterisk's exact bytes:
			// nothing was lost, reordered or trimmed.
			var re []byte
			for _, m := range msgs {
				if re, err = ami.AppendMessage(re, m); err != nil {
					t.Fatal(err)
				}
			}
			wire := tr.Bytes(amitest.FromAsterisk)
			banners := bytes.Count(wire, []byte(amitest.Banner))
			if banners != tt.banners {
				t.Errorf("banners: got %d, want %d", banners, tt.banners)
			}
			wire = bytes.ReplaceAll(wire, []byte(amitest.Banner), nil)
			if !bytes.Equal(re, wire) {
				t.Errorf("re-encoded stream differs from the capture (%d vs %d bytes)", len(re), len(wire))
			}

			// The stream as one connection delivers it: banner, then
			// messages with no blank line in between.
			r := ami.NewReader(bytes.NewReader(tr.Bytes(amitest.FromAsterisk)), ami.Limits{})
			if b, err := r.ReadBanner(); err != nil || b != strings.TrimSpace(amitest.Banner) {
				t.Fatalf("ReadBanner = %q, %v", b, err)
			}
		})
	}
}

func findEvent(t *testing.T, msgs []ami.Message, event string, match func(ami.Message) bool) ami.Message {
	t.Helper()
	for _, m := range msgs {
		if m.Event() == event && (match == nil || match(m)) {
			return m
		}
	}
	t.Fatalf("no %s event in the capture", event)
	return ami.Message{}
}

func TestCaptureKnownMessages(t *testing.T) {
	events, err := amitest.LoadCapture(t, amitest.QueueEvents).Messages(amitest.FromAsterisk)
	if err != nil {
		t.Fatal(err)
	}
	actions, err := amitest.LoadCapture(t, amitest.Actions).Messages(amitest.FromAsterisk)
	if err != nil {
		t.Fatal(err)
	}

	pause := findEvent(t, events, "QueueMemberPause", func(m ami.Message) bool { return m.Get("Paused") == "1" })
	wantPause := []ami.Field{
		{Key: "Event", Value: "QueueMemberPause"}, {Key: "Privilege", Value: "agent,all"},
		{Key: "Queue", Value: "sales"}, {Key: "MemberName", Value: "Agent 200"},
		{Key: "Interface", Value: "Local/200@agents-test/n"}, {Key: "StateInterface", Value: "Custom:agent200"},
		{Key: "Membership", Value: "dynamic"}, {Key: "Penalty", Value: "0"}, {Key: "CallsTaken", Value: "0"},
		{Key: "LastCall", Value: "0"}, {Key: "LastPause", Value: "1795277387"}, {Key: "LoginTime", Value: "1795277386"},
		{Key: "InCall", Value: "0"}, {Key: "Status", Value: "1"}, {Key: "Paused", Value: "1"},
		{Key: "PausedReason", Value: "lunch break"}, {Key: "Ringinuse", Value: "0"}, {Key: "Wrapuptime", Value: "0"},
	}
	if got := pause.Fields(); len(got) != len(wantPause) {
		t.Errorf("QueueMemberPause: got %v", pause)
	} else {
		for i := range got {
			if got[i] != wantPause[i] {
				t.Errorf("QueueMemberPause field %d: got %v, want %v", i, got[i], wantPause[i])
			}
		}
	}

	bad := findEvent(t, events, "RequestBadFormat", nil)
	if got := bad.Get("RequestType"); got != "Action: NoSuchAction" {
		t.Errorf("value with a colon: got %q", got)
	}
	if got := findEvent(t, events, "AgentComplete", nil).Get("Reason"); got != "agent" {
		t.Errorf("AgentComplete Reason: got %q", got)
	}
	// OriginateResponse is an event although it has a Response field: it
	// must not be taken for the reply to an action.
	if or := findEvent(t, events, "OriginateResponse", nil); or.IsResponse() || or.Get("Response") == "" {
		t.Errorf("OriginateResponse: IsResponse=%v, Response=%q", or.IsResponse(), or.Get("Response"))
	}

	// QueueParams and QueueMember list items carry ActionID as their last
	// field; QueueMember says Name/Location, not MemberName/Interface.
	for _, ev := range []string{"QueueParams", "QueueMember"} {
		m := findEvent(t, actions, ev, nil)
		keys := m.Keys()
		if keys[len(keys)-1] != "ActionID" || m.ActionID() == "" {
			t.Errorf("%s: ActionID is not the last field: %v", ev, keys)
		}
	}
	member := findEvent(t, actions, "QueueMember", nil)
	if member.Get("Name") != "Agent 200" || member.Get("Location") != "Local/200@agents-test/n" {
		t.Errorf("QueueMember: %v", member)
	}

	var command ami.Message
	for _, m := range actions {
		if m.Get("Message") == "Command output follows" {
			command = m
		}
	}
	if out := command.All("Output"); len(out) != 1 || !strings.HasPrefix(out[0], "Asterisk 22.10.1 built by root @ vm") {
		t.Errorf("Command output: %q", out)
	}
}
