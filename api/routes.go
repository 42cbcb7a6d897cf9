package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"omnicc/directory"
)

func (s *Server) registerRoutes(r *Router) {
	r.Public("POST", "/auth/login", s.login)
	r.Public("POST", "/auth/invitations/accept", s.acceptInvitation)
	r.PublicNoDatabase("GET", "/invitation", serveInvitationPage)
	r.PublicNoDatabase("GET", "/openapi.yaml", serveOpenAPI)
	r.Handle("POST", "/auth/logout", everyone, s.logout)
	r.Handle("GET", "/auth/me", everyone, s.me)
	r.Handle("GET", "/desk/config", everyone, s.deskConfig)

	r.Handle("GET", "/users", adminOnly, s.listUsers)
	r.Handle("POST", "/users", adminOnly, s.createUser)
	r.Handle("GET", "/users/:id", adminOnly, s.getUser)
	r.Handle("PATCH", "/users/:id", adminOnly, s.updateUser)
	r.Handle("DELETE", "/users/:id", adminOnly, s.deleteUser)
	r.Handle("GET", "/api-keys", adminOnly, s.listAPIKeys)
	r.Handle("POST", "/api-keys", adminOnly, s.createAPIKey)
	r.Handle("DELETE", "/api-keys/:id", adminOnly, s.revokeAPIKey)

	r.Handle("GET", "/agents", staff, s.listAgents)
	r.Handle("POST", "/agents", adminOnly, s.createAgent)
	r.Handle("DELETE", "/agents", adminOnly, s.deleteAgents)
	r.Handle("GET", "/agents/export.csv", staff, s.exportAgents)
	r.Handle("GET", "/agents/:id", everyone, s.getAgent)
	r.Handle("PATCH", "/agents/:id", adminOnly, s.updateAgent)
	r.Handle("DELETE", "/agents/:id", adminOnly, s.deleteAgent)
	r.Handle("GET", "/agents/:id/sip-secret", everyone, s.getSIPSecret)
	r.Handle("POST", "/agents/:id/sip-secret", everyone, s.rotateSIPSecret)
	r.Handle("PUT", "/agents/:id/voicemail-pin", everyone, s.setVoicemailPIN)
	r.Handle("POST", "/agents/:id/invitation", adminOnly, s.inviteAgent)
	r.Handle("GET", "/agents/:id/queues", everyone, s.agentQueues)
	r.Handle("PUT", "/agents/:id/queues", adminOnly, s.setAgentQueues)

	r.Handle("GET", "/queues", everyone, s.listQueues)
	r.Handle("POST", "/queues", adminOnly, s.createQueue)
	r.Handle("GET", "/queues/:id", everyone, s.getQueue)
	r.Handle("PATCH", "/queues/:id", adminOnly, s.updateQueue)
	r.Handle("DELETE", "/queues/:id", adminOnly, s.deleteQueue)
	r.Handle("GET", "/queues/:id/agents", staff, s.queueAgents)
	r.Handle("POST", "/queues/:id/agents", adminOnly, s.addQueueAgent)
	r.Handle("PUT", "/queues/:id/agents", adminOnly, s.setQueueAgents)
	r.Handle("DELETE", "/queues/:id/agents/:agent_id", adminOnly, s.removeQueueAgent)

	registerResource(r, "/teams", s.dir().Teams(), directory.TeamLinks, "team_ids")
	registerResource(r, "/profiles", s.dir().Profiles(), directory.ProfileLinks, "profile_ids")
	registerResource(r, "/ai-assistants", s.dir().AIAssistants(), directory.AIAssistantLinks, "ai_assistant_ids")
	registerResource(r, "/pause-types", s.dir().PauseTypes(), directory.LinkKind{}, "")
}

func (s *Server) dir() *directory.Directory { return s.opts.Directory }

// pathID reads an integer path parameter, answering 400 when it is not one.
func pathID(c *gin.Context, name string) (int64, bool) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id < 1 {
		writeError(c, http.StatusBadRequest, "bad_id", name+" "+strconv.Quote(c.Param(name))+" is not a positive integer", name)
		return 0, false
	}
	return id, true
}

// PathID is pathID for routes other packages mount.
func PathID(c *gin.Context, name string) (int64, bool) { return pathID(c, name) }

// queryInt reads an optional integer query parameter.
func queryInt(c *gin.Context, name string) (int, bool) {
	v := c.Query(name)
	if v == "" {
		return 0, true
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		writeError(c, http.StatusBadRequest, "bad_query", name+" "+strconv.Quote(v)+" is not an integer", name)
		return 0, false
	}
	return n, true
}

func queryBool(c *gin.Context, name string) (*bool, bool) {
	v := c.Query(name)
	if v == "" {
		return nil, true
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		writeError(c, http.StatusBadRequest, "bad_query", name+" "+strconv.Quote(v)+" must be true or false", name)
		return nil, false
	}
	return &b, true
}

// queryIDs reads ids=1,2,3.
func queryIDs(c *gin.Context, name string) ([]int64, bool) {
	v := c.Query(name)
	if v == "" {
		return nil, true
	}
	var ids []int64
	for _, p := range strings.Split(v, ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
		if err != nil || id < 1 {
			writeError(c, http.StatusBadRequest, "bad_query", name+": "+strconv.Quote(p)+" is not an id", name)
			return nil, false
		}
		ids = append(ids, id)
	}
	if len(ids) > directory.MaxPerPage {
		writeError(c, http.StatusBadRequest, "bad_query", name+": at most "+strconv.Itoa(directory.MaxPerPage)+" ids at once", name)
		return nil, false
	}
	return ids, true
}

// list is the shape of every list answer.
type list[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
}

// selfOrStaff lets admins and supervisors through, and an agent only for its own id.
func selfOrStaff(c *gin.Context, id int64) bool {
	p := principal(c)
	if p.Role == directory.RoleAdmin || p.Role == directory.RoleSupervisor || p.UserID == id {
		return true
	}
	writeError(c, http.StatusForbidden, "forbidden", "agents may only read their own record", "")
	return false
}

// selfOrAdmin lets admins through, and an agent only for its own id.
func selfOrAdmin(c *gin.Context, id int64) bool {
	p := principal(c)
	if p.Role == directory.RoleAdmin || (p.Role == directory.RoleAgent && p.UserID == id) {
		return true
	}
	writeError(c, http.StatusForbidden, "forbidden", "only the agent itself or an admin may see or change its SIP secret", "")
	return false
}
