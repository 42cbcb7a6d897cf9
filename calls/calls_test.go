package calls_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"omnicc/calls"
	"omnicc/directory"
	"omnicc/domain"
	"omnicc/store"
	"omnicc/storetest"
)

const ann, bea, dan, cy = 1, 2, 3, 4

// newService is calls over db with agents ann (webrtc, chanspy, may record),
// bea (record_calls wav49, recording otherwise off), dan (disabled) and cy
// (no recording at all).
func newService(t *testing.T, db *store.DB) (*calls.Service, *fakeControl) {
	t.Helper()
	ctl := newFakeControl()
	agents := fakeAgents{
		ann: {ID: ann, Username: "ann", FullName: "Ann Lee", Extension: "1001", Typology: directory.TypologyWebRTC, Context: "from-sip",
			Chanspy: true, RecordCalls: "inactive", WebRTC: directory.WebRTCSettings{EnableRecording: true}},
		bea: {ID: bea, Username: "bea", Extension: "1002", Typology: directory.TypologyPhonebar, Context: "sales", RecordCalls: "wav49"},
		dan: {ID: dan, Username: "dan", Extension: "1003", Typology: directory.TypologyWebRTC, Context: "from-sip", Disabled: true},
		cy:  {ID: cy, Username: "cy", Extension: "1004", Typology: directory.TypologyWebRTC, Context: "from-sip", RecordCalls: "inactive"},
	}
	svc, err := calls.New(calls.Options{Control: ctl, DB: db, Agents: agents,
		Now: func() time.Time { return time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return svc, ctl
}

// errInput stands for a *domain.FieldError in refusedAs.
var errInput = errors.New("a *domain.FieldError")

// refusedAs checks err is the rule want (errInput: bad input), with the
// field at fault.
func refusedAs(t *testing.T, err, want error, field string) {
	t.Helper()
	var input *domain.FieldError
	if want == errInput && !errors.As(err, &input) || want != errInput && !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
	var r *calls.Refusal
	var fe *domain.FieldError
	switch {
	case errors.As(err, &r):
		if r.Field != field {
			t.Fatalf("%v: field %q, want %q", err, r.Field, field)
		}
	case errors.As(err, &fe):
		if fe.Field != field {
			t.Fatalf("%v: field %q, want %q", err, fe.Field, field)
		}
	case field != "":
		t.Fatalf("%v names no field, want %q", err, field)
	}
}

// Input the rules refuse never reaches the telephone system, and each
// refusal is a typed error naming its field.
func TestRefusalsReachNoControl(t *testing.T) {
	svc, ctl := newService(t, storetest.SQLite(t))
	ctx := t.Context()
	leg := func(ch string) calls.Leg { return calls.Leg{Channel: ch} }
	tests := []struct {
		name  string
		run   func() error
		want  error
		field string
	}{
		{"no such agent", func() error { return svc.Hangup(ctx, 99, leg("PJSIP/x-00000001")) }, domain.ErrNotFound, ""},
		{"disabled agent", func() error { return svc.Hangup(ctx, dan, leg("PJSIP/dan-00000001")) }, calls.ErrAgentDisabled, ""},
		{"no channel", func() error { return svc.Hangup(ctx, ann, leg("")) }, errInput, "channel"},
		{"a channel the control cannot name", func() error { return svc.Hangup(ctx, ann, leg("/.*/")) }, errInput, "channel"},
		{"another agent's channel", func() error { return svc.Hangup(ctx, ann, leg("PJSIP/bea-00000001")) }, calls.ErrNotAgentsChannel, "channel"},
		{"a box with spaces", func() error {
			return svc.Hangup(ctx, ann, calls.Leg{Channel: "PJSIP/ann-00000001", Box: "a b"})
		}, errInput, "box"},
		{"letters are no number", func() error {
			_, err := svc.BlindTransfer(ctx, ann, calls.Transfer{Leg: leg("PJSIP/ann-00000001"), Number: "sales"})
			return err
		}, errInput, "number"},
		{"caller id with a line break", func() error {
			_, err := svc.Call(ctx, ann, calls.CallRequest{Number: "1002", CallerID: "x\nVariable: A=1"})
			return err
		}, errInput, "caller_id"},
		{"conference when the agent talks to nobody", func() error {
			_, err := svc.Conference(ctx, ann, calls.ConferenceRequest{Leg: leg("PJSIP/ann-00000009"), Number: "1002"})
			return err
		}, calls.ErrNotBridged, "channel"},
		{"conference with both a number and a second call", func() error {
			_, err := svc.Conference(ctx, ann, calls.ConferenceRequest{Leg: leg("PJSIP/ann-00000001"), ConsultChannel: "PJSIP/ann-00000002", Number: "1"})
			return err
		}, errInput, "number"},
		{"conference of a call with itself", func() error {
			_, err := svc.Conference(ctx, ann, calls.ConferenceRequest{Leg: leg("PJSIP/ann-00000001"), ConsultChannel: "PJSIP/ann-00000001"})
			return err
		}, errInput, "consult_channel"},
		{"spying on an agent who does not allow it", func() error {
			_, err := svc.Spy(ctx, bea, calls.SpyRequest{Mode: calls.SpyListen}, calls.Actor{Username: "sue", Staff: true})
			return err
		}, calls.ErrChanspyNotAllowed, ""},
		{"spy mode", func() error {
			_, err := svc.Spy(ctx, ann, calls.SpyRequest{Mode: "record"}, calls.Actor{Username: "sue", Staff: true})
			return err
		}, errInput, "mode"},
		{"an agent recording without recording enabled", func() error {
			_, err := svc.StartRecording(ctx, cy, calls.RecordRequest{Leg: leg("PJSIP/cy-00000001")}, calls.Actor{UserID: cy})
			return err
		}, calls.ErrRecordingNotAllowed, ""},
		{"recording format", func() error {
			_, err := svc.StartRecording(ctx, ann, calls.RecordRequest{Leg: leg("PJSIP/ann-00000001"), Format: "mp3"}, calls.Actor{UserID: ann})
			return err
		}, errInput, "format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(ctl.done())
			err := tt.run()
			refusedAs(t, err, tt.want, tt.field)
			if got := ctl.done()[before:]; len(got) != 0 {
				t.Fatalf("a refused control reached the telephone system: %v", got)
			}
		})
	}
}

// The flows send what they should, in order, with the agent's context.
func TestFlows(t *testing.T) {
	svc, ctl := newService(t, storetest.SQLite(t))
	ctx := t.Context()
	ctl.peers["PJSIP/ann-00000001"] = "PJSIP/trunk-00000002"
	ctl.peers["PJSIP/ann-00000003"] = "PJSIP/bea-00000004"

	placed, err := svc.Call(ctx, ann, calls.CallRequest{Number: "+39 (06) 1234-5678"})
	if err != nil || placed.Number != "+390612345678" || placed.Channel != "PJSIP/ann" || placed.Context != "from-sip" || len(placed.OriginateID) != 16 {
		t.Fatalf("call: %+v %v", placed, err)
	}
	if n, err := svc.BlindTransfer(ctx, bea, calls.Transfer{Leg: calls.Leg{Channel: "PJSIP/bea-00000001"}, Number: "1-00-3"}); err != nil || n != "1003" {
		t.Fatalf("blind transfer: %q %v", n, err)
	}
	if _, err := svc.AttendedTransfer(ctx, ann, calls.Transfer{Leg: calls.Leg{Channel: "PJSIP/ann-00000001"}, Number: "1002"}); err != nil {
		t.Fatal(err)
	}
	if err := svc.CancelTransfer(ctx, ann, calls.Leg{Channel: "PJSIP/ann-00000001"}); err != nil {
		t.Fatal(err)
	}
	if err := svc.CompleteTransfer(ctx, ann, calls.Leg{Channel: "PJSIP/ann-00000001"}); err != nil {
		t.Fatal(err)
	}
	conf, err := svc.Conference(ctx, ann, calls.ConferenceRequest{Leg: calls.Leg{Channel: "PJSIP/ann-00000001"}, ConsultChannel: "PJSIP/ann-00000003"})
	if err != nil || conf.CustomerChannel != "PJSIP/trunk-00000002" || conf.ThirdChannel != "PJSIP/bea-00000004" || conf.Context != "omnicc-conference" || len(conf.Room) != 10 {
		t.Fatalf("conference: %+v %v", conf, err)
	}
	if _, err := svc.Conference(ctx, ann, calls.ConferenceRequest{Leg: calls.Leg{Channel: "PJSIP/ann-00000001"}, Number: "555"}); err != nil {
		t.Fatal(err)
	}
	spy, err := svc.Spy(ctx, ann, calls.SpyRequest{Mode: calls.SpyWhisper}, calls.Actor{Username: "sue", Staff: true, DeskEndpoint: "PJSIP/sue_desk"})
	if err != nil || spy.Endpoint != "PJSIP/sue_desk" || spy.Target != "PJSIP/ann-" {
		t.Fatalf("spy: %+v %v", spy, err)
	}
	want := []string{
		`RingAgent ann from-sip +390612345678 "Ann Lee" <1001>`,
		"BlindTransfer PJSIP/bea-00000001 sales 1003",
		"AttendedTransfer PJSIP/ann-00000001 from-sip 1002",
		"CancelTransfer PJSIP/ann-00000001",
		"CompleteTransfer PJSIP/ann-00000001",
		// Agent and customer move together; then the consultation's peer;
		// then the agent's second leg goes.
		"Redirect PJSIP/ann-00000001 PJSIP/trunk-00000002 omnicc-conference",
		"Redirect PJSIP/bea-00000004  omnicc-conference",
		"Hangup PJSIP/ann-00000003",
		"Redirect PJSIP/ann-00000001 PJSIP/trunk-00000002 omnicc-conference",
		"RingNumber 555 from-sip omnicc-conference",
		"Spy ann whisper  PJSIP/sue_desk",
	}
	if got := ctl.done(); !slices.Equal(got, want) {
		t.Fatalf("controls\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// Two recordings per call, stopped ones included; a start the telephone
// system refuses frees its slot; a stop after the call ended still stops.
func TestRecordingSlots(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc, ctl := newService(t, db)
		ctx := t.Context()
		by := calls.Actor{UserID: ann, Username: "ann"}
		start := func(ch string) (*calls.Recording, error) {
			return svc.StartRecording(ctx, ann, calls.RecordRequest{Leg: calls.Leg{Channel: ch}}, by)
		}
		ctl.setFail("StartRecording", errors.Join(calls.ErrRefused, errors.New("Could not start monitoring channel")))
		if _, err := start("PJSIP/ann-00000001"); !errors.Is(err, calls.ErrRefused) {
			t.Fatalf("refused start: %v", err)
		}
		ctl.setFail("StartRecording", nil)
		first, err := start("PJSIP/ann-00000001")
		if err != nil || first.Slot != 1 || first.File != "omnicc/2026/03/04/1700000000.1-1.wav" || first.State != calls.RecordingRecording {
			t.Fatalf("first: %+v %v (the refused start must have freed slot 1)", first, err)
		}
		if r, err := svc.PauseRecording(ctx, first.ID); err != nil || r.State != calls.RecordingPaused {
			t.Fatalf("pause: %+v %v", r, err)
		}
		if r, err := svc.PauseRecording(ctx, first.ID); err != nil || r.State != calls.RecordingPaused {
			t.Fatalf("pause again: %+v %v", r, err)
		}
		ctl.setFail("StopRecording", errors.Join(calls.ErrRefused, calls.ErrNoSuchChannel))
		if r, err := svc.StopRecording(ctx, first.ID, by); err != nil || r.State != calls.RecordingStopped || r.StoppedByName != "ann" {
			t.Fatalf("stop after the call ended: %+v %v", r, err)
		}
		if _, err := svc.ResumeRecording(ctx, first.ID); !errors.Is(err, calls.ErrRecordingStopped) {
			t.Fatalf("resume after stop: %v", err)
		}
		second, err := start("PJSIP/ann-00000002") // another leg of the same call
		if err != nil || second.Slot != 2 {
			t.Fatalf("second: %+v %v", second, err)
		}
		if _, err := start("PJSIP/ann-00000001"); !errors.Is(err, calls.ErrSlotsFull) {
			t.Fatalf("third: %v, want ErrSlotsFull", err)
		}
		ctl.setFail("StopRecording", errors.Join(calls.ErrRefused, errors.New("boom")))
		if _, err := svc.StopRecording(ctx, second.ID, by); !errors.Is(err, calls.ErrRefused) {
			t.Fatalf("a refused stop: %v", err)
		}
		if r, _ := svc.Recording(ctx, second.ID); r.State != calls.RecordingRecording {
			t.Fatalf("a refused stop changed the row: %+v", r)
		}
		_, err = svc.StartRecording(ctx, ann, calls.RecordRequest{Leg: calls.Leg{Channel: "PJSIP/ann-00000001"}, UniqueID: "1600000000.9"}, by)
		refusedAs(t, err, calls.ErrCallMismatch, "uniqueid")
		if got := strings.Join(ctl.done(), "\n"); strings.Count(got, "StartRecording") != 2 {
			t.Fatalf("controls %s", got)
		}
	})
}

// Automatic recording: the route's, else the queue's, else the agent's
// record_calls; once per call; hang-up stops it.
func TestAutoRecord(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc, _ := newService(t, db)
		ctx := t.Context()
		tests := []struct {
			call         calls.AnsweredCall
			source, file string // "" for no recording
		}{
			{calls.AnsweredCall{Channel: "PJSIP/bea-00000001", UniqueID: "1.1", AgentID: bea}, "agent", "omnicc/2026/03/04/1.1-1.WAV"},
			{calls.AnsweredCall{Channel: "PJSIP/bea-00000001", UniqueID: "1.1", AgentID: bea}, "", ""}, // once per call
			{calls.AnsweredCall{Channel: "PJSIP/bea-00000002", UniqueID: "2.2", LinkedID: "2.1", AgentID: bea, QueueFormat: "gsm"}, "queue", "omnicc/2026/03/04/2.1-1.gsm"},
			{calls.AnsweredCall{Channel: "PJSIP/ann-00000003", UniqueID: "3.1", AgentID: ann, QueueFormat: "gsm", RouteFormat: "yes"}, "route", "omnicc/2026/03/04/3.1-1.wav"},
			{calls.AnsweredCall{Channel: "PJSIP/ann-00000004", UniqueID: "4.1", AgentID: ann}, "", ""}, // ann's record_calls is inactive
			{calls.AnsweredCall{Channel: "PJSIP/trunk-00000005", UniqueID: "5.1", QueueFormat: "inactive"}, "", ""},
		}
		for i, tt := range tests {
			r, err := svc.AutoRecord(ctx, tt.call)
			switch {
			case err != nil:
				t.Fatalf("%d: %v", i, err)
			case tt.source == "" && r != nil:
				t.Fatalf("%d: recorded %+v, want nothing", i, r)
			case tt.source != "" && (r == nil || r.Source != tt.source || r.File != tt.file || r.StartedByName != "auto:"+tt.source):
				t.Fatalf("%d: %+v, want source %s file %s", i, r, tt.source, tt.file)
			}
		}
		if _, err := svc.AutoRecord(ctx, calls.AnsweredCall{Channel: "PJSIP/x-1\r\nAction: Hangup", UniqueID: "1.1"}); err == nil {
			t.Fatal("a channel the control cannot name was accepted")
		}
		if err := svc.ChannelHungUp(ctx, "1.1"); err != nil {
			t.Fatal(err)
		}
		items, total, err := svc.Recordings(ctx, calls.RecordingFilter{UniqueID: "1.1", Page: 1, PerPage: 10})
		if err != nil || total != 1 || items[0].State != calls.RecordingStopped || items[0].StoppedByName != "hangup" {
			t.Fatalf("after hang-up: %+v %d %v", items, total, err)
		}
	})
}

// Staff may record any agent's call, even one whose recording is off; the
// recording names who started it.
func TestStaffMayAlwaysRecord(t *testing.T) {
	svc, _ := newService(t, storetest.SQLite(t))
	r, err := svc.StartRecording(t.Context(), cy, calls.RecordRequest{Leg: calls.Leg{Channel: "PJSIP/cy-00000001"}, Format: "gsm"},
		calls.Actor{UserID: 50, Username: "sue", Staff: true})
	if err != nil || r.StartedByName != "sue" || r.StartedBy == nil || *r.StartedBy != 50 || r.AgentID == nil || *r.AgentID != cy || r.Format != "gsm" {
		t.Fatalf("%+v %v", r, err)
	}
}

// Issue 17 item 7: without an endpoint in the request the supervisor's desk
// endpoint rings; with neither, the request is refused naming endpoint
// instead of dialling PJSIP/<username>, which is no phone.
func TestSpyRingsTheDeskEndpoint(t *testing.T) {
	svc, ctl := newService(t, storetest.SQLite(t))
	sue := calls.Actor{UserID: 50, Username: "sue", Staff: true, DeskEndpoint: "PJSIP/sue_desk"}
	sp, err := svc.Spy(t.Context(), ann, calls.SpyRequest{Mode: calls.SpyListen}, sue)
	if err != nil || sp.Endpoint != "PJSIP/sue_desk" {
		t.Fatalf("%+v %v", sp, err)
	}
	sue.DeskEndpoint = ""
	before := len(ctl.done())
	_, err = svc.Spy(t.Context(), ann, calls.SpyRequest{Mode: calls.SpyListen}, sue)
	refusedAs(t, err, errInput, "endpoint")
	if len(ctl.done()) != before {
		t.Fatalf("a spy with no phone to ring reached the control: %v", ctl.done())
	}
}
