package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"omnicc/directory"
	"omnicc/presence"
)

// AgentPresence is what the agent session routes need: presence.Service.
type AgentPresence interface {
	Login(ctx context.Context, agentID int64, source string) (presence.Result, error)
	Logout(ctx context.Context, agentID int64, source string) (presence.Result, error)
	Pause(ctx context.Context, agentID int64, reason string, channels []string) (presence.Result, error)
	Unpause(ctx context.Context, agentID int64, channels []string) (presence.Result, error)
	State(ctx context.Context, agentID int64) (presence.AgentState, error)
	States(f presence.StateFilter) []presence.AgentState
	History(ctx context.Context, agentID int64, from, to time.Time, limit int) ([]presence.HistoryEvent, error)
	SetPIN(ctx context.Context, agentID int64, pin string) error
}

// AgentSessions serves agent login, logout, pause and unpause, the agents'
// live state and its history. omniccd's database is the truth for who is
// logged in: when Asterisk cannot be reached the change is still made and
// the answer says "asterisk": "pending" — the reconcile after the next AMI
// connect applies it. When Asterisk refuses, the change is undone and the
// answer is 502 asterisk_error with Asterisk's own message.
type AgentSessions struct {
	p AgentPresence
}

// NewAgentSessions builds the routes over p; mount them with
// Options.Mounts = append(..., sessions.Mount).
func NewAgentSessions(p AgentPresence) *AgentSessions { return &AgentSessions{p: p} }

// Mount registers the routes.
func (a *AgentSessions) Mount(r *Router) {
	s := r.s
	r.Handle("GET", "/agents/states", staff, func(c *gin.Context) { a.states(s, c) })
	r.Handle("GET", "/agents/online", everyone, func(c *gin.Context) { a.online(c) })
	r.Handle("GET", "/agents/:id/state", everyone, func(c *gin.Context) { a.state(s, c) })
	r.Handle("GET", "/agents/:id/events", everyone, func(c *gin.Context) { a.events(s, c) })
	r.Handle("POST", "/agents/:id/login", everyone, func(c *gin.Context) { a.login(s, c) })
	r.Handle("POST", "/agents/:id/logout", everyone, func(c *gin.Context) { a.logout(s, c) })
	r.Handle("POST", "/agents/:id/pause", everyone, func(c *gin.Context) { a.pause(s, c) })
	r.Handle("POST", "/agents/:id/unpause", everyone, func(c *gin.Context) { a.unpause(s, c) })
	r.Handle("PUT", "/agents/:id/pin", everyone, func(c *gin.Context) { a.setPIN(s, c) })
}

// sessionTarget reads the agent id and lets admins, supervisors and the
// agent itself through.
func sessionTarget(c *gin.Context, what string) (int64, bool) {
	id, ok := pathID(c, "id")
	if !ok {
		return 0, false
	}
	p := principal(c)
	if p.Role == directory.RoleAdmin || p.Role == directory.RoleSupervisor || p.UserID == id {
		return id, true
	}
	writeError(c, http.StatusForbidden, "forbidden", "an agent may only "+what+" itself; supervisors and admins may for anyone", "")
	return 0, false
}

// sessionFail answers the errors of session changes; the rest go to fail.
func sessionFail(s *Server, c *gin.Context, err error) {
	var refused *presence.RefusedError
	switch {
	case errors.As(err, &refused):
		writeError(c, http.StatusBadGateway, "asterisk_error", refused.Error()+" (nothing was changed)", "")
	case errors.Is(err, presence.ErrNotLoggedIn):
		writeError(c, http.StatusConflict, "not_logged_in", err.Error(), "")
	case errors.Is(err, presence.ErrAgentDisabled):
		writeError(c, http.StatusConflict, "agent_disabled", err.Error(), "")
	default:
		s.fail(c, err)
	}
}

// decodeOptional decodes a JSON body strictly when there is one; an empty
// body leaves v as it is.
func decodeOptional(s *Server, c *gin.Context, v any) bool {
	if c.Request.Body == nil {
		return true
	}
	raw, err := io.ReadAll(c.Request.Body)
	if err != nil {
		s.fail(c, err)
		return false
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return true
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(raw))
	return s.decode(c, v)
}

// pauseReason is a pause type's name or id: JSON string or number.
type pauseReason string

func (r *pauseReason) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*r = pauseReason(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return &json.UnmarshalTypeError{Value: string(b), Type: reflect.TypeOf(""), Field: "reason"}
	}
	*r = pauseReason(n.String())
	return nil
}

type sessionBody struct {
	Reason   *pauseReason `json:"reason"`
	Channels []string     `json:"channels"`
}

func (a *AgentSessions) login(s *Server, c *gin.Context) {
	id, ok := sessionTarget(c, "log in")
	if !ok {
		return
	}
	var body struct{}
	if !decodeOptional(s, c, &body) {
		return
	}
	res, err := a.p.Login(c.Request.Context(), id, presence.SourceAPI)
	if err != nil {
		sessionFail(s, c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

func (a *AgentSessions) logout(s *Server, c *gin.Context) {
	id, ok := sessionTarget(c, "log out")
	if !ok {
		return
	}
	var body struct{}
	if !decodeOptional(s, c, &body) {
		return
	}
	res, err := a.p.Logout(c.Request.Context(), id, presence.SourceAPI)
	if err != nil {
		sessionFail(s, c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

func (a *AgentSessions) pause(s *Server, c *gin.Context) {
	id, ok := sessionTarget(c, "pause")
	if !ok {
		return
	}
	var body sessionBody
	if !s.decode(c, &body) {
		return
	}
	if body.Reason == nil || strings.TrimSpace(string(*body.Reason)) == "" {
		writeError(c, http.StatusUnprocessableEntity, "invalid", "reason: give a pause type name or id (GET /api/v1/pause-types lists them)", "reason")
		return
	}
	res, err := a.p.Pause(c.Request.Context(), id, string(*body.Reason), body.Channels)
	if err != nil {
		sessionFail(s, c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

func (a *AgentSessions) unpause(s *Server, c *gin.Context) {
	id, ok := sessionTarget(c, "unpause")
	if !ok {
		return
	}
	var body struct {
		Channels []string `json:"channels"`
	}
	if !decodeOptional(s, c, &body) {
		return
	}
	res, err := a.p.Unpause(c.Request.Context(), id, body.Channels)
	if err != nil {
		sessionFail(s, c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

func (a *AgentSessions) state(s *Server, c *gin.Context) {
	id, ok := sessionTarget(c, "read the state of")
	if !ok {
		return
	}
	st, err := a.p.State(c.Request.Context(), id)
	if err != nil {
		sessionFail(s, c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

func (a *AgentSessions) states(s *Server, c *gin.Context) {
	f := presence.StateFilter{State: c.Query("state"), Queue: c.Query("queue")}
	valid := []string{presence.StateLoggedOut, presence.StateReady, presence.StatePaused, presence.StateRinging,
		presence.StateOnCall, presence.StateOnHold, presence.StateWrapUp, presence.StateUnavailable}
	if f.State != "" && !slices.Contains(valid, f.State) {
		writeError(c, http.StatusBadRequest, "bad_query", fmt.Sprintf("state %q is not one of %s", f.State, strings.Join(valid, ", ")), "state")
		return
	}
	items := a.p.States(f)
	c.JSON(http.StatusOK, list[presence.AgentState]{Items: items, Total: len(items)})
}

// onlineAgent is what any agent may know of a colleague: enough to pick a
// transfer target, nothing of its calls or counters.
type onlineAgent struct {
	AgentID        int64    `json:"agent_id"`
	Username       string   `json:"username"`
	State          string   `json:"state"`
	PausedChannels []string `json:"paused_channels"`
}

// online lists the logged-in agents for everyone: an agent transferring
// an interaction to a colleague must see who is there (seeds: "transfer
// open interactions only to online agents"), and GET /agents/states is
// for staff.
func (a *AgentSessions) online(c *gin.Context) {
	items := []onlineAgent{}
	for _, st := range a.p.States(presence.StateFilter{Queue: c.Query("queue")}) {
		if !st.LoggedIn {
			continue
		}
		items = append(items, onlineAgent{AgentID: st.AgentID, Username: st.Username, State: st.State,
			PausedChannels: append([]string{}, st.PausedChannels...)})
	}
	slices.SortFunc(items, func(x, y onlineAgent) int { return strings.Compare(x.Username, y.Username) })
	c.JSON(http.StatusOK, list[onlineAgent]{Items: items, Total: len(items)})
}

func (a *AgentSessions) events(s *Server, c *gin.Context) {
	id, ok := sessionTarget(c, "read the history of")
	if !ok {
		return
	}
	var from, to time.Time
	for _, q := range []struct {
		name string
		dst  *time.Time
	}{{"from", &from}, {"to", &to}} {
		v := c.Query(q.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(c, http.StatusBadRequest, "bad_query", q.name+" "+strconv.Quote(v)+" is not an RFC 3339 time (2026-11-21T09:00:00Z)", q.name)
			return
		}
		*q.dst = t
	}
	limit, ok := queryInt(c, "limit")
	if !ok {
		return
	}
	if limit < 0 || limit > presence.MaxHistory {
		writeError(c, http.StatusBadRequest, "bad_query", fmt.Sprintf("limit must be between 1 and %d", presence.MaxHistory), "limit")
		return
	}
	if from.IsZero() {
		// Today by default, the figures a desktop shows.
		now := time.Now()
		from = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	}
	items, err := a.p.History(c.Request.Context(), id, from, to, limit)
	if err != nil {
		sessionFail(s, c, err)
		return
	}
	c.JSON(http.StatusOK, list[presence.HistoryEvent]{Items: items, Total: len(items)})
}

func (a *AgentSessions) setPIN(s *Server, c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	if p := principal(c); p.Role != directory.RoleAdmin && p.UserID != id {
		writeError(c, http.StatusForbidden, "forbidden", "only the agent itself or an admin may set its phone PIN", "")
		return
	}
	var body struct {
		PIN *string `json:"pin"`
	}
	if !s.decode(c, &body) {
		return
	}
	if body.PIN == nil {
		writeError(c, http.StatusUnprocessableEntity, "invalid", "pin: 4 to 12 digits are required", "pin")
		return
	}
	if err := a.p.SetPIN(c.Request.Context(), id, *body.PIN); err != nil {
		sessionFail(s, c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
