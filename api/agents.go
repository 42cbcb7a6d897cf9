package api

import (
	"encoding/csv"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"omnicc/directory"
)

// agentListParams are the filters of GET /agents (and its CSV export).
var agentListParams = []string{"q", "typology", "sort", "disabled", "locked", "ids", "queue_id", "queue", "team_id", "extension"}

func (s *Server) listAgents(c *gin.Context) {
	f := directory.AgentFilter{Q: c.Query("q"), Typology: c.Query("typology"), Sort: c.Query("sort"),
		Queue: c.Query("queue"), Extension: c.Query("extension")}
	var ok bool
	if f.Page, f.PerPage, ok = listParams(c, agentListParams...); !ok {
		return
	}
	if f.QueueID, ok = queryPositiveID(c, "queue_id"); !ok {
		return
	}
	if f.TeamID, ok = queryPositiveID(c, "team_id"); !ok {
		return
	}
	if f.Disabled, ok = queryBool(c, "disabled"); !ok {
		return
	}
	if f.Locked, ok = queryBool(c, "locked"); !ok {
		return
	}
	if f.IDs, ok = queryIDs(c, "ids"); !ok {
		return
	}
	agents, total, err := s.dir().ListAgents(c.Request.Context(), f)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list[*directory.Agent]{Items: agents, Total: total})
}

func (s *Server) createAgent(c *gin.Context) {
	var in directory.AgentInput
	if !s.decode(c, &in) {
		return
	}
	a, err := s.dir().CreateAgent(c.Request.Context(), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", "/api/v1/agents/"+strconv.FormatInt(a.ID, 10))
	c.JSON(http.StatusCreated, a)
}

func (s *Server) getAgent(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok || !selfOrStaff(c, id) {
		return
	}
	a, err := s.dir().Agent(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, a)
}

func (s *Server) updateAgent(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	cur, err := s.dir().Agent(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	var in directory.AgentInput
	if !s.decodePatch(c, cur, &in) {
		return
	}
	a, err := s.dir().UpdateAgent(c.Request.Context(), id, in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, a)
}

func (s *Server) deleteAgent(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	if err := s.dir().DeleteAgents(c.Request.Context(), id); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// deleteAgents deletes the agents in ?ids=1,2,3 — all of them or none.
func (s *Server) deleteAgents(c *gin.Context) {
	ids, ok := queryIDs(c, "ids")
	if !ok {
		return
	}
	if len(ids) == 0 {
		writeError(c, http.StatusBadRequest, "invalid", "name the agents to delete: ?ids=1,2,3", "ids")
		return
	}
	if err := s.dir().DeleteAgents(c.Request.Context(), ids...); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"deleted": len(ids)})
}

var csvHeader = []string{"id", "full_name", "username", "alias", "typology", "email", "extension", "description",
	"external_number", "voicemail", "disabled", "locked", "context", "allowed_codecs", "created_at", "updated_at"}

// exportAgents writes the selected agents (?ids=, or the list filters) as CSV.
func (s *Server) exportAgents(c *gin.Context) {
	f := directory.AgentFilter{Q: c.Query("q"), Typology: c.Query("typology"), Sort: c.Query("sort"), PerPage: directory.MaxPerPage,
		Queue: c.Query("queue"), Extension: c.Query("extension")}
	var ok bool
	if !onlyParams(c, agentListParams...) {
		return
	}
	if f.IDs, ok = queryIDs(c, "ids"); !ok {
		return
	}
	if f.QueueID, ok = queryPositiveID(c, "queue_id"); !ok {
		return
	}
	if f.TeamID, ok = queryPositiveID(c, "team_id"); !ok {
		return
	}
	if f.Disabled, ok = queryBool(c, "disabled"); !ok {
		return
	}
	if f.Locked, ok = queryBool(c, "locked"); !ok {
		return
	}
	var all []*directory.Agent
	for f.Page = 1; ; f.Page++ {
		agents, total, err := s.dir().ListAgents(c.Request.Context(), f)
		if err != nil {
			s.fail(c, err)
			return
		}
		all = append(all, agents...)
		if len(all) >= total || len(agents) == 0 {
			break
		}
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="agents.csv"`)
	c.Header("X-Content-Type-Options", "nosniff")
	c.Status(http.StatusOK)
	w := csv.NewWriter(c.Writer)
	_ = w.Write(csvHeader)
	for _, a := range all {
		row := []string{strconv.FormatInt(a.ID, 10), a.FullName, a.Username, a.Alias, a.Typology, a.Email, a.Extension,
			a.Description, a.ExternalNumber, strconv.FormatBool(a.Voicemail), strconv.FormatBool(a.Disabled),
			strconv.FormatBool(a.Locked), a.Context, strings.Join(a.AllowedCodecs, " "),
			a.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"), a.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z")}
		for i := range row {
			row[i] = SafeCSVCell(row[i])
		}
		_ = w.Write(row)
	}
	w.Flush()
}

// SafeCSVCell neutralises spreadsheet formula injection: a cell a
// spreadsheet would evaluate (starting with = + - @, a tab or a CR) gets a
// leading apostrophe, which spreadsheets show as text and do not run.
func SafeCSVCell(v string) string {
	if v == "" {
		return v
	}
	switch v[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + v
	}
	return v
}

func (s *Server) getSIPSecret(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok || !selfOrAdmin(c, id) {
		return
	}
	secret, err := s.dir().SIPSecret(c.Request.Context(), id)
	if err != nil {
		s.failSecret(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"sip_secret": secret})
}

func (s *Server) rotateSIPSecret(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok || !selfOrAdmin(c, id) {
		return
	}
	secret, err := s.dir().RotateSIPSecret(c.Request.Context(), id)
	if err != nil {
		s.failSecret(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"sip_secret": secret})
}

// failSecret answers an agent with no endpoint with the code call control
// uses for the same reason.
func (s *Server) failSecret(c *gin.Context, err error) {
	if errors.Is(err, directory.ErrNoEndpoint) {
		writeError(c, http.StatusConflict, "no_endpoint", err.Error(), "")
		return
	}
	s.fail(c, err)
}

// setVoicemailPIN sets the agent's mailbox PIN: {"pin": "4 to 12 digits"}.
// The agent itself or an admin; the PIN is never answered back.
func (s *Server) setVoicemailPIN(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	if p := principal(c); p.Role != directory.RoleAdmin && (p.Role != directory.RoleAgent || p.UserID != id) {
		writeError(c, http.StatusForbidden, "forbidden", "only the agent itself or an admin may set its voicemail PIN", "")
		return
	}
	var req struct {
		PIN string `json:"pin"`
	}
	if !s.decode(c, &req) {
		return
	}
	if err := s.dir().SetVoicemailPIN(c.Request.Context(), id, req.PIN); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
