package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"omnicc/directory"
)

func (s *Server) listQueues(c *gin.Context) {
	f := directory.QueueFilter{Q: c.Query("q"), Channel: c.Query("channel"), Sort: c.Query("sort")}
	var ok bool
	if f.Page, f.PerPage, ok = listParams(c, "q", "channel", "sort"); !ok {
		return
	}
	qs, total, err := s.dir().ListQueues(c.Request.Context(), f)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list[*directory.Queue]{Items: qs, Total: total})
}

func (s *Server) createQueue(c *gin.Context) {
	var in directory.QueueInput
	if !s.decode(c, &in) {
		return
	}
	q, err := s.dir().CreateQueue(c.Request.Context(), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, q)
}

func (s *Server) getQueue(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	q, err := s.dir().Queue(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, q)
}

func (s *Server) updateQueue(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	cur, err := s.dir().Queue(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	var in directory.QueueInput
	if !s.decodePatch(c, cur, &in) {
		return
	}
	q, err := s.dir().UpdateQueue(c.Request.Context(), id, in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, q)
}

func (s *Server) deleteQueue(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	if err := s.dir().DeleteQueue(c.Request.Context(), id); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) queueAgents(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok || !onlyParams(c) {
		return
	}
	if _, err := s.dir().Queue(c.Request.Context(), id); err != nil {
		s.fail(c, err)
		return
	}
	ms, err := s.dir().QueueMembers(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list[directory.Membership]{Items: ms, Total: len(ms)})
}

func (s *Server) addQueueAgent(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	var in directory.MembershipInput
	if !s.decode(c, &in) {
		return
	}
	if in.AgentID < 1 {
		writeError(c, http.StatusUnprocessableEntity, "invalid", "agent_id is required", "agent_id")
		return
	}
	in.QueueID = id
	if err := s.dir().AddQueueMember(c.Request.Context(), in); err != nil {
		s.fail(c, err)
		return
	}
	// The same shape as an item of GET /queues/{id}/agents.
	m, err := s.dir().QueueMember(c.Request.Context(), id, in.AgentID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, m)
}

// setQueueAgents replaces the members: {"agent_ids": [...]} (penalty 0) or
// {"members": [{"agent_id", "penalty", "permanent"}]}.
func (s *Server) setQueueAgents(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	var req struct {
		AgentIDs []int64                     `json:"agent_ids"`
		Members  []directory.MembershipInput `json:"members"`
	}
	if !s.decode(c, &req) {
		return
	}
	ms := req.Members
	for _, a := range req.AgentIDs {
		ms = append(ms, directory.MembershipInput{AgentID: a})
	}
	if err := s.dir().SetQueueAgents(c.Request.Context(), id, ms); err != nil {
		s.fail(c, err)
		return
	}
	s.respondMembers(c, func() ([]directory.Membership, error) { return s.dir().QueueMembers(c.Request.Context(), id) })
}

func (s *Server) removeQueueAgent(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	agentID, ok := pathID(c, "agent_id")
	if !ok {
		return
	}
	if err := s.dir().RemoveQueueMember(c.Request.Context(), id, agentID); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) agentQueues(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok || !selfOrStaff(c, id) {
		return
	}
	if _, err := s.dir().Agent(c.Request.Context(), id); err != nil {
		s.fail(c, err)
		return
	}
	s.respondMembers(c, func() ([]directory.Membership, error) { return s.dir().AgentQueues(c.Request.Context(), id) })
}

// setAgentQueues replaces the agent's queues: {"queue_ids": [...]} or
// {"queues": [{"queue_id", "penalty", "permanent"}]}.
func (s *Server) setAgentQueues(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	var req struct {
		QueueIDs []int64                     `json:"queue_ids"`
		Queues   []directory.MembershipInput `json:"queues"`
	}
	if !s.decode(c, &req) {
		return
	}
	ms := req.Queues
	for _, q := range req.QueueIDs {
		ms = append(ms, directory.MembershipInput{QueueID: q})
	}
	if err := s.dir().SetAgentQueues(c.Request.Context(), id, ms); err != nil {
		s.fail(c, err)
		return
	}
	s.respondMembers(c, func() ([]directory.Membership, error) { return s.dir().AgentQueues(c.Request.Context(), id) })
}

func (s *Server) respondMembers(c *gin.Context, load func() ([]directory.Membership, error)) {
	ms, err := load()
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list[directory.Membership]{Items: ms, Total: len(ms)})
}
