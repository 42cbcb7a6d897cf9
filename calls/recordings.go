package calls

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"omnicc/domain"
	"omnicc/presence"
)

// RecordingStates lists the states a recording can be in, for filters.
var RecordingStates = []string{RecordingStarting, RecordingRecording, RecordingPaused, RecordingStopped}

// RecordRequest starts a manual recording of one of the agent's legs.
type RecordRequest struct {
	Leg
	// UniqueID, when set, is the call the client means: refused with
	// ErrCallMismatch when the channel is in another one by now.
	UniqueID string
	Format   string // wav, wav49 or gsm; "" for the agent's record_calls or wav
}

// recordingFormat maps a record_calls value (or OMNICC_RECORD's 1/yes) to a
// format, "" for none.
func recordingFormat(v string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "no", "inactive":
		return "", true
	case "1", "yes", "wav":
		return "wav", true
	case "wav49":
		return "wav49", true
	case "gsm":
		return "gsm", true
	}
	return "", false
}

// recordingFile is the path a recording is written to, under RecordDir.
// wav49 is written as .WAV, the extension Asterisk itself turns .wav49 into,
// so the stored name is the real one.
func (s *Service) recordingFile(at time.Time, callID string, slot int, format string) string {
	ext := format
	if format == "wav49" {
		ext = "WAV"
	}
	return fmt.Sprintf("%s/%s/%s-%d.%s", s.opts.RecordDir, at.UTC().Format("2006/01/02"), callID, slot, ext)
}

// startRecording records r (already validated) on its channel: reserve the
// slot, start recording, keep its id — or free the slot when the telephone
// system says no.
func (s *Service) startRecording(ctx context.Context, r *Recording, firstOnly bool) error {
	if err := s.ctl.Ready(r.Box, ControlRecording); err != nil {
		return err
	}
	if err := s.recs.reserve(ctx, r, firstOnly, func(slot int) string {
		return s.recordingFile(r.StartedAt, r.CallID, slot, r.Format)
	}); err != nil {
		return err
	}
	box, recID, err := s.ctl.StartRecording(ctx, r.Box, r.Channel, r.File, r.Slot)
	if err != nil {
		if rerr := s.recs.release(context.WithoutCancel(ctx), r.ID); rerr != nil {
			s.log.Error("recording slot not released after the recording failed to start; it stays in state starting", "id", r.ID, "err", rerr)
		}
		return err
	}
	// The telephone system is recording now: the row must say so even if
	// the caller has gone away meanwhile.
	if err := s.recs.started(context.WithoutCancel(ctx), r.ID, box, recID); err != nil {
		return err
	}
	r.Box, r.MixMonitorID, r.State = box, recID, RecordingRecording
	s.publish(r)
	return nil
}

func (s *Service) publish(r *Recording) {
	if s.opts.Events == nil {
		return
	}
	var agent int64
	if r.AgentID != nil {
		agent = *r.AgentID
	}
	s.opts.Events.Publish(presence.Event{Type: "recording", AgentID: agent, Payload: r})
}

// StartRecording records one of the agent's legs in the first free slot of
// its call. Agents need recording enabled (webrtc enable_recording, or
// record_calls other than inactive); staff may always record.
func (s *Service) StartRecording(ctx context.Context, agentID int64, req RecordRequest, by Actor) (*Recording, error) {
	a, err := s.leg(ctx, agentID, req.Leg)
	if err != nil {
		return nil, err
	}
	if req.UniqueID != "" && !ValidCallID(req.UniqueID) {
		return nil, domain.FieldErrorf("uniqueid", "%q is not an Asterisk uniqueid such as 1795277390.12", req.UniqueID)
	}
	if !by.Staff && !a.WebRTC.EnableRecording && a.RecordCalls == "inactive" {
		return nil, refuse(ErrRecordingNotAllowed, "",
			"recording is not enabled for agent "+a.Username+"; an admin can turn on webrtc.enable_recording")
	}
	format, ok := recordingFormat(req.Format)
	if !ok || (req.Format != "" && format == "") {
		return nil, domain.FieldErrorf("format", "%q must be wav, wav49 or gsm", req.Format)
	}
	if format == "" {
		if format, _ = recordingFormat(a.RecordCalls); format == "" {
			format = "wav"
		}
	}
	ctx, cancel := s.controlCtx(ctx)
	defer cancel()
	// The call's identity comes from the telephone system: a client could
	// otherwise name a new call id for every recording and escape the limit.
	box, uniqueID, linkedID, err := s.ctl.CallIDs(ctx, req.Box, req.Channel)
	if err != nil {
		return nil, err
	}
	if !ValidCallID(uniqueID) || !ValidCallID(linkedID) {
		return nil, fmt.Errorf("Asterisk gave unusable ids for %s (uniqueid %q, linkedid %q): %w", req.Channel, uniqueID, linkedID, ErrBadAnswer)
	}
	if req.UniqueID != "" && req.UniqueID != uniqueID {
		return nil, refuse(ErrCallMismatch, "uniqueid",
			fmt.Sprintf("%s is now call %s, not %s: the call you meant has ended", req.Channel, uniqueID, req.UniqueID))
	}
	agent := a.ID
	r := &Recording{CallID: linkedID, Box: box, Channel: req.Channel, UniqueID: uniqueID, LinkedID: linkedID,
		AgentID: &agent, Format: format, Source: RecordingManual, StartedAt: s.now(),
		StartedBy: nullID(by.UserID), StartedByName: by.Username}
	if err := s.startRecording(ctx, r, false); err != nil {
		return nil, err
	}
	return r, nil
}

// Recording is the recording with that id.
func (s *Service) Recording(ctx context.Context, id int64) (*Recording, error) {
	return s.recs.get(ctx, id)
}

// Recordings is one page of the recordings f selects, newest first, and how
// many it selects in all.
func (s *Service) Recordings(ctx context.Context, f RecordingFilter) ([]Recording, int, error) {
	return s.recs.list(ctx, f)
}

// recordingControl checks that recording id can be acted on: a stopped or
// starting one cannot; done reports the action has nothing to do.
func (s *Service) recordingControl(ctx context.Context, id int64, already string) (r *Recording, done bool, err error) {
	if r, err = s.recs.get(ctx, id); err != nil {
		return nil, false, err
	}
	switch r.State {
	case RecordingStopped:
		return nil, false, refuse(ErrRecordingStopped, "", fmt.Sprintf("recording %d is already stopped; start a new one (at most two per call)", r.ID))
	case RecordingStarting:
		return nil, false, refuse(ErrRecordingStarting, "", fmt.Sprintf("recording %d has not started yet; try again in a moment", r.ID))
	}
	return r, r.State == already, nil
}

// StopRecording stops recording id. A recording whose channel has gone (the
// call ended, and the recording with it) is marked stopped too.
func (s *Service) StopRecording(ctx context.Context, id int64, by Actor) (*Recording, error) {
	r, _, err := s.recordingControl(ctx, id, "")
	if err != nil {
		return nil, err
	}
	cctx, cancel := s.controlCtx(ctx)
	defer cancel()
	err = s.ctl.StopRecording(cctx, r.Box, r.Channel, r.MixMonitorID)
	if err != nil && !errors.Is(err, ErrNoSuchChannel) {
		return nil, err
	}
	// Done in Asterisk: record it even if the client left.
	if err := s.recs.stop(context.WithoutCancel(ctx), r.ID, s.now(), by.UserID, by.Username); err != nil {
		return nil, err
	}
	return s.changed(ctx, r.ID)
}

// PauseRecording pauses recording id — and, as the telephone system has no
// per-recording pause, every other running recording of its channel.
func (s *Service) PauseRecording(ctx context.Context, id int64) (*Recording, error) {
	return s.mute(ctx, id, true)
}

// ResumeRecording resumes what PauseRecording paused.
func (s *Service) ResumeRecording(ctx context.Context, id int64) (*Recording, error) {
	return s.mute(ctx, id, false)
}

func (s *Service) mute(ctx context.Context, id int64, pause bool) (*Recording, error) {
	already := RecordingRecording
	if pause {
		already = RecordingPaused
	}
	r, done, err := s.recordingControl(ctx, id, already)
	if err != nil || done {
		return r, err // already so: idempotent
	}
	cctx, cancel := s.controlCtx(ctx)
	defer cancel()
	if err := s.ctl.MuteRecording(cctx, r.Box, r.Channel, pause); err != nil {
		return nil, err
	}
	if err := s.recs.setPaused(context.WithoutCancel(ctx), r.Box, r.UniqueID, pause); err != nil {
		return nil, err
	}
	return s.changed(ctx, r.ID)
}

// changed reloads a recording after a change and tells the desktops.
func (s *Service) changed(ctx context.Context, id int64) (*Recording, error) {
	r, err := s.recs.get(context.WithoutCancel(ctx), id)
	if err != nil {
		return nil, err
	}
	s.publish(r)
	return r, nil
}

// AnsweredCall is a call an agent has just answered (or that an agent's
// outbound call has reached), as the AMI tracker or the AGI sees it.
type AnsweredCall struct {
	Box      string // the Asterisk box (OMNICC_AMI host:port), "" to find it
	Channel  string // the channel to record, usually the agent's leg
	UniqueID string
	LinkedID string // the call; "" uses UniqueID
	AgentID  int64  // the agent on the call, 0 when none
	// QueueFormat is the automatic recording of the queue the call came
	// through (wav, wav49, gsm; "" or inactive for none).
	QueueFormat string
	// RouteFormat is the outbound route's (OMNICC_RECORD: 1/yes, wav,
	// wav49, gsm; "" for none).
	RouteFormat string
}

// AutoRecord starts the automatic recording a call is due, if any: the
// outbound route's, else the queue's, else the agent's record_calls. It
// returns nil, nil when nothing is due or the call already has a recording in
// slot 1 (so calling it twice for one call, or after a manual recording,
// records once). It waits for the telephone system, so an event reader must
// not call it inline.
func (s *Service) AutoRecord(ctx context.Context, call AnsweredCall) (*Recording, error) {
	if call.LinkedID == "" {
		call.LinkedID = call.UniqueID
	}
	if s.ctl.CheckChannel(call.Channel) != nil || !ValidCallID(call.UniqueID) || !ValidCallID(call.LinkedID) {
		return nil, fmt.Errorf("auto-record: channel %q / uniqueid %q / linkedid %q are not Asterisk names", call.Channel, call.UniqueID, call.LinkedID)
	}
	format, source := "", ""
	routeFmt, ok1 := recordingFormat(call.RouteFormat)
	queueFmt, ok2 := recordingFormat(call.QueueFormat)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("auto-record: format %q/%q must be wav, wav49, gsm or empty", call.RouteFormat, call.QueueFormat)
	}
	var agentID *int64
	switch {
	case routeFmt != "":
		format, source = routeFmt, RecordingRoute
	case queueFmt != "":
		format, source = queueFmt, RecordingQueue
	}
	if call.AgentID != 0 {
		id := call.AgentID
		agentID = &id
		if format == "" {
			a, err := s.opts.Agents.Agent(ctx, call.AgentID)
			if err != nil {
				return nil, fmt.Errorf("auto-record: %w", err)
			}
			if f, _ := recordingFormat(a.RecordCalls); f != "" {
				format, source = f, RecordingAgent
			}
		}
	}
	if format == "" {
		return nil, nil
	}
	r := &Recording{CallID: call.LinkedID, Box: call.Box, Channel: call.Channel, UniqueID: call.UniqueID, LinkedID: call.LinkedID,
		AgentID: agentID, Format: format, Source: source, StartedAt: s.now(), StartedByName: "auto:" + source}
	ctx, cancel := s.controlCtx(ctx)
	defer cancel()
	err := s.startRecording(ctx, r, true)
	if errors.Is(err, ErrSlotsFull) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auto-record %s (%s) on %s: %w", call.UniqueID, source, call.Channel, err)
	}
	s.log.Info("automatic recording started", "source", source, "channel", call.Channel, "file", r.File, "agent_id", call.AgentID)
	return r, nil
}

// ChannelHungUp marks the recordings of a leg that hung up as stopped (a
// recording ends with its channel). The AMI tracker calls it on Hangup.
func (s *Service) ChannelHungUp(ctx context.Context, uniqueID string) error {
	if !ValidCallID(uniqueID) {
		return nil
	}
	ids, err := s.recs.stopChannel(ctx, uniqueID, s.now(), "hangup")
	if err != nil {
		return fmt.Errorf("mark recordings of %s stopped: %w", uniqueID, err)
	}
	for _, id := range ids {
		if r, err := s.recs.get(ctx, id); err == nil {
			s.publish(r)
		}
	}
	return nil
}

// ChannelsUp is told, after a reconnect to box, the uniqueids of every
// channel the box still has: a recording on box whose channel is not among
// them ended while omniccd could not see its Hangup, and is marked stopped
// so GET /recordings does not show it running forever. listedAt is when the
// list was read: recordings started since (the notice waits in a queue) are
// left alone, and so is one still starting.
func (s *Service) ChannelsUp(ctx context.Context, box string, listedAt time.Time, live []string) error {
	running, err := s.recs.runningOn(ctx, box)
	if err != nil {
		return fmt.Errorf("list the recordings running on %s: %w", box, err)
	}
	up := make(map[string]bool, len(live))
	for _, id := range live {
		up[id] = true
	}
	for _, r := range running {
		// One started about when the list was read may be missing from
		// it: its Hangup, or the next reconnect, will tell.
		if up[r.UniqueID] || r.State == RecordingStarting || r.StartedAt.After(listedAt.Add(-time.Second)) {
			continue
		}
		if err := s.ChannelHungUp(ctx, r.UniqueID); err != nil {
			return err
		}
	}
	return nil
}

// AnsweredLeg is an agent's leg that just started talking, as the AMI
// tracker sees it: AgentConnect for a queue call (Queue set), the leg
// entering a bridge for any other.
type AnsweredLeg struct {
	Box      string
	Channel  string // the agent's leg
	UniqueID string // its uniqueid
	LinkedID string // the call
	Queue    string // the queue the call came through, "" for none
}

// routeRecordVar is the channel variable the /outbound FastAGI sets from the
// outbound route's record setting (1/yes, wav, wav49, gsm, or 0).
const routeRecordVar = "OMNICC_RECORD"

// AgentAnswered starts the automatic recording an agent's call is due, once
// per call whatever the number of reasons (agent record_calls, queue,
// outbound route): AutoRecord takes slot 1 only, so the second reason — or
// the same call answered again after a transfer — finds it taken. Legs that
// are no agent's are ignored. The outbound route's wish is read from the
// agent's leg (OMNICC_RECORD), so omniccd, not the dialplan, starts that
// recording and knows its file.
func (s *Service) AgentAnswered(ctx context.Context, leg AnsweredLeg) error {
	if s.opts.AgentOf == nil || s.ctl.CheckChannel(leg.Channel) != nil {
		return nil
	}
	agentID, ok := s.opts.AgentOf(leg.Channel)
	if !ok {
		return nil
	}
	if leg.Queue == "" && s.opts.CallQueue != nil {
		leg.Queue = s.opts.CallQueue(ctx, agentID, leg.Channel)
	}
	call := AnsweredCall{Box: leg.Box, Channel: leg.Channel, UniqueID: leg.UniqueID, LinkedID: leg.LinkedID, AgentID: agentID}
	if leg.Queue != "" && s.opts.QueueRecording != nil {
		f, err := s.opts.QueueRecording(ctx, leg.Queue)
		if err != nil {
			return fmt.Errorf("auto-record: queue %s: %w", leg.Queue, err)
		}
		call.QueueFormat = f
	}
	if leg.Queue == "" {
		cctx, cancel := s.controlCtx(ctx)
		_, v, err := s.ctl.Getvar(cctx, leg.Box, leg.Channel, routeRecordVar)
		cancel()
		switch {
		case errors.Is(err, ErrNoSuchChannel):
			return nil // the call is already over
		case err != nil:
			return fmt.Errorf("auto-record: read %s of %s: %w", routeRecordVar, leg.Channel, err)
		}
		if f, ok := recordingFormat(v); ok {
			call.RouteFormat = f
		}
	}
	_, err := s.AutoRecord(ctx, call)
	return err
}
