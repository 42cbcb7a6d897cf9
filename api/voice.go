package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"omnicc/auth"
	"omnicc/calls"
	"omnicc/directory"
)

// Voice is the REST side of call control: click-to-call, hang-up, transfers,
// conference, recording and supervisor ChanSpy. Its handlers read the
// request, check who may ask, and leave the rest to calls.Service; errors are
// mapped in errors.go.
type Voice struct {
	calls *calls.Service
	srv   *Server // set by Mount, for decoding and errors
}

// NewVoice serves svc's controls.
func NewVoice(svc *calls.Service) (*Voice, error) {
	if svc == nil {
		return nil, errors.New("api: NewVoice needs a calls.Service (calls.New)")
	}
	return &Voice{calls: svc}, nil
}

// Mount registers the voice routes. Agents act on their own calls only;
// supervisors and admins on any agent's; ChanSpy is for staff.
func (v *Voice) Mount(r *Router) {
	v.srv = r.s
	r.Handle("POST", "/agents/:id/calls", everyone, v.clickToCall)
	r.Handle("POST", "/agents/:id/calls/hangup", everyone, v.onLeg("hung_up", v.calls.Hangup))
	r.Handle("POST", "/agents/:id/calls/hold", everyone, v.hold("on_hold", v.calls.Hold))
	r.Handle("POST", "/agents/:id/calls/unhold", everyone, v.hold("resumed", v.calls.Unhold))
	r.Handle("POST", "/agents/:id/calls/blind-transfer", everyone, v.transfer("transferred", v.calls.BlindTransfer))
	r.Handle("POST", "/agents/:id/calls/attended-transfer", everyone, v.transfer("consulting", v.calls.AttendedTransfer))
	r.Handle("POST", "/agents/:id/calls/attended-transfer/complete", everyone, v.onLeg("transfer_completed", v.calls.CompleteTransfer))
	r.Handle("POST", "/agents/:id/calls/attended-transfer/cancel", everyone, v.onLeg("transfer_cancelled", v.calls.CancelTransfer))
	r.Handle("POST", "/agents/:id/calls/conference", everyone, v.conference)
	r.Handle("POST", "/agents/:id/recordings", everyone, v.startRecording)
	r.Handle("POST", "/agents/:id/spy", staff, v.spy)
	r.Handle("GET", "/recordings", everyone, v.listRecordings)
	r.Handle("GET", "/recordings/:id", everyone, v.getRecording)
	r.Handle("POST", "/recordings/:id/stop", everyone, v.recordingAction(v.stopRecording))
	r.Handle("POST", "/recordings/:id/pause", everyone, v.recordingAction(v.pauseRecording))
	r.Handle("POST", "/recordings/:id/resume", everyone, v.recordingAction(v.resumeRecording))
}

func actor(p auth.Principal) calls.Actor {
	return calls.Actor{UserID: p.UserID, Username: p.Username, Staff: isStaff(p)}
}

// spyActor is actor with the user's desk phone, where listen, whisper and
// barge ring when the request names no endpoint.
func (v *Voice) spyActor(c *gin.Context, p auth.Principal) (calls.Actor, error) {
	a := actor(p)
	if dir := v.srv.dir(); dir != nil && a.Staff {
		u, err := dir.User(c.Request.Context(), p.UserID)
		if err != nil {
			return a, err
		}
		a.DeskEndpoint = u.DeskEndpoint
	}
	return a, nil
}

// forAgent reads the agent id of the path and checks the caller may act for
// it: the agent itself, or staff.
func (v *Voice) forAgent(c *gin.Context) (int64, auth.Principal, bool) {
	p := principal(c)
	id, ok := pathID(c, "id")
	if !ok {
		return 0, p, false
	}
	if !isStaff(p) && p.UserID != id {
		writeError(c, http.StatusForbidden, "forbidden", "agents may only control their own calls", "")
		return 0, p, false
	}
	return id, p, true
}

// --- click-to-call, hang-up and transfers -----------------------------------

type callRequest struct {
	Number   string `json:"number"`
	CallerID string `json:"caller_id"`
	Box      string `json:"box"`
}

// clickToCall rings the agent's own phone; the number is dialled once it
// answers (calls.Service.Call).
func (v *Voice) clickToCall(c *gin.Context) {
	id, _, ok := v.forAgent(c)
	var req callRequest
	if !ok || !v.srv.decode(c, &req) {
		return
	}
	placed, err := v.calls.Call(c.Request.Context(), id, calls.CallRequest{Number: req.Number, CallerID: req.CallerID, Box: req.Box})
	if err != nil {
		v.srv.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"status": "ringing_agent", "originate_id": placed.OriginateID, "channel": placed.Channel,
		"number": placed.Number, "context": placed.Context, "box": placed.Box})
}

type channelRequest struct {
	Channel string `json:"channel"`
	Box     string `json:"box"`
}

// hold serves hold and unhold: the status and the held call.
func (v *Voice) hold(status string, control func(ctx context.Context, agentID int64, l calls.Leg) (*calls.Held, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, _, ok := v.forAgent(c)
		var req channelRequest
		if !ok || !v.srv.decode(c, &req) {
			return
		}
		h, err := control(c.Request.Context(), id, calls.Leg{Channel: req.Channel, Box: req.Box})
		if err != nil {
			v.srv.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": status, "channel": h.Channel, "customer_channel": h.Customer,
			"on_hold": h.OnHold, "since": h.Since})
	}
}

type transferRequest struct {
	Channel string `json:"channel"`
	Number  string `json:"number"`
	Box     string `json:"box"`
}

// onLeg serves a control on one of the agent's legs that answers only its
// status.
func (v *Voice) onLeg(status string, control func(ctx context.Context, agentID int64, l calls.Leg) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, _, ok := v.forAgent(c)
		var req channelRequest
		if !ok || !v.srv.decode(c, &req) {
			return
		}
		if err := control(c.Request.Context(), id, calls.Leg{Channel: req.Channel, Box: req.Box}); err != nil {
			v.srv.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": status, "channel": req.Channel})
	}
}

// transfer serves a blind or attended transfer of the agent's call.
func (v *Voice) transfer(status string, control func(ctx context.Context, agentID int64, t calls.Transfer) (string, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, _, ok := v.forAgent(c)
		var req transferRequest
		if !ok || !v.srv.decode(c, &req) {
			return
		}
		number, err := control(c.Request.Context(), id, calls.Transfer{Leg: calls.Leg{Channel: req.Channel, Box: req.Box}, Number: req.Number})
		if err != nil {
			v.srv.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": status, "channel": req.Channel, "number": number})
	}
}

// --- three-way conference -------------------------------------------------

type conferenceRequest struct {
	// Channel is the agent's leg of the call with the customer.
	Channel string `json:"channel"`
	// ConsultChannel is the agent's leg of a second call; or Number dials
	// the third party straight into the room.
	ConsultChannel string `json:"consult_channel"`
	Number         string `json:"number"`
	Box            string `json:"box"`
}

func (v *Voice) conference(c *gin.Context) {
	id, _, ok := v.forAgent(c)
	var req conferenceRequest
	if !ok || !v.srv.decode(c, &req) {
		return
	}
	conf, err := v.calls.Conference(c.Request.Context(), id, calls.ConferenceRequest{
		Leg: calls.Leg{Channel: req.Channel, Box: req.Box}, ConsultChannel: req.ConsultChannel, Number: req.Number})
	if err != nil {
		v.srv.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "conference", "room": conf.Room, "context": conf.Context,
		"customer_channel": conf.CustomerChannel, "third_channel": conf.ThirdChannel, "number": conf.Number})
}

// --- supervisor ChanSpy ----------------------------------------------------

type spyRequest struct {
	Mode     string `json:"mode"`
	Endpoint string `json:"endpoint"`
	Channel  string `json:"channel"`
	Box      string `json:"box"`
}

func (v *Voice) spy(c *gin.Context) {
	p := principal(c)
	id, ok := pathID(c, "id")
	var req spyRequest
	if !ok || !v.srv.decode(c, &req) {
		return
	}
	by, err := v.spyActor(c, p)
	if err != nil {
		v.srv.fail(c, err)
		return
	}
	spying, err := v.calls.Spy(c.Request.Context(), id,
		calls.SpyRequest{Mode: req.Mode, Endpoint: req.Endpoint, Channel: req.Channel, Box: req.Box}, by)
	if err != nil {
		v.srv.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"status": "ringing_supervisor", "mode": spying.Mode, "endpoint": spying.Endpoint,
		"target": spying.Target, "box": spying.Box})
}

// --- recordings -------------------------------------------------------------

type recordRequest struct {
	Channel  string `json:"channel"`
	UniqueID string `json:"uniqueid"`
	Format   string `json:"format"`
	Box      string `json:"box"`
}

func (v *Voice) startRecording(c *gin.Context) {
	id, p, ok := v.forAgent(c)
	var req recordRequest
	if !ok || !v.srv.decode(c, &req) {
		return
	}
	r, err := v.calls.StartRecording(c.Request.Context(), id, calls.RecordRequest{
		Leg: calls.Leg{Channel: req.Channel, Box: req.Box}, UniqueID: req.UniqueID, Format: req.Format}, actor(p))
	if err != nil {
		v.srv.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, r)
}

// recordingFor loads a recording the caller may act on: staff any, an agent
// its own.
func (v *Voice) recordingFor(c *gin.Context) (*calls.Recording, auth.Principal, bool) {
	p := principal(c)
	id, ok := pathID(c, "id")
	if !ok {
		return nil, p, false
	}
	r, err := v.calls.Recording(c.Request.Context(), id)
	if err != nil {
		v.srv.fail(c, err)
		return nil, p, false
	}
	if !isStaff(p) && (r.AgentID == nil || *r.AgentID != p.UserID) {
		writeError(c, http.StatusForbidden, "forbidden", "agents may only see and control their own recordings", "")
		return nil, p, false
	}
	return r, p, true
}

func (v *Voice) getRecording(c *gin.Context) {
	if r, _, ok := v.recordingFor(c); ok {
		c.JSON(http.StatusOK, r)
	}
}

func (v *Voice) stopRecording(ctx context.Context, id int64, p auth.Principal) (*calls.Recording, error) {
	return v.calls.StopRecording(ctx, id, actor(p))
}

func (v *Voice) pauseRecording(ctx context.Context, id int64, _ auth.Principal) (*calls.Recording, error) {
	return v.calls.PauseRecording(ctx, id)
}

func (v *Voice) resumeRecording(ctx context.Context, id int64, _ auth.Principal) (*calls.Recording, error) {
	return v.calls.ResumeRecording(ctx, id)
}

// recordingAction serves stop, pause or resume of a recording the caller may
// act on.
func (v *Voice) recordingAction(action func(ctx context.Context, id int64, p auth.Principal) (*calls.Recording, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		r, p, ok := v.recordingFor(c)
		if !ok {
			return
		}
		r, err := action(c.Request.Context(), r.ID, p)
		if err != nil {
			v.srv.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, r)
	}
}

// listRecordings: staff see all; an agent sees its own only.
func (v *Voice) listRecordings(c *gin.Context) {
	p := principal(c)
	var f calls.RecordingFilter
	page, ok1 := queryInt(c, "page")
	per, ok2 := queryInt(c, "per_page")
	agentID, ok3 := queryInt(c, "agent_id")
	if !ok1 || !ok2 || !ok3 {
		return
	}
	f.AgentID = int64(agentID)
	if !isStaff(p) {
		if f.AgentID != 0 && f.AgentID != p.UserID {
			writeError(c, http.StatusForbidden, "forbidden", "agents may only list their own recordings", "agent_id")
			return
		}
		f.AgentID = p.UserID
		if p.UserID == 0 {
			writeError(c, http.StatusForbidden, "forbidden", "an agent API key has no recordings; use a staff key", "")
			return
		}
	}
	for _, q := range []struct {
		name string
		dst  *string
	}{{"call_id", &f.CallID}, {"uniqueid", &f.UniqueID}, {"linkedid", &f.LinkedID}} {
		if s := c.Query(q.name); s != "" {
			if !calls.ValidCallID(s) {
				writeError(c, http.StatusBadRequest, "bad_query", q.name+" "+fmt.Sprintf("%q", s)+" is not an Asterisk id", q.name)
				return
			}
			*q.dst = s
		}
	}
	if s := c.Query("state"); s != "" {
		if !slices.Contains(calls.RecordingStates, s) {
			writeError(c, http.StatusBadRequest, "bad_query", "state must be one of "+strings.Join(calls.RecordingStates, ", "), "state")
			return
		}
		f.State = s
	}
	for _, q := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if s := c.Query(q.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				writeError(c, http.StatusBadRequest, "bad_query", q.name+" must be an RFC 3339 time such as 2026-01-02T15:04:05Z", q.name)
				return
			}
			*q.dst = t
		}
	}
	switch {
	case page == 0:
		page = 1
	case page < 1:
		writeError(c, http.StatusBadRequest, "bad_query", "page must be 1 or more", "page")
		return
	}
	switch {
	case per == 0:
		per = 50
	case per < 1 || per > directory.MaxPerPage:
		writeError(c, http.StatusBadRequest, "bad_query", fmt.Sprintf("per_page must be 1 to %d", directory.MaxPerPage), "per_page")
		return
	}
	f.Page, f.PerPage = page, per
	items, total, err := v.calls.Recordings(c.Request.Context(), f)
	if err != nil {
		v.srv.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list[calls.Recording]{Items: items, Total: total})
}
