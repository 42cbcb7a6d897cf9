package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"omnicc/asterisk"
	"omnicc/directory"
	"omnicc/store"
)

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type loginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	UserID    int64     `json:"user_id"`
	Username  string    `json:"username"`
	Role      string    `json:"role"`
}

func (s *Server) login(c *gin.Context) {
	var req loginRequest
	if !s.decode(c, &req) {
		return
	}
	if req.Username == "" {
		writeError(c, http.StatusBadRequest, "invalid", "username is required", "username")
		return
	}
	if req.Password == "" {
		writeError(c, http.StatusBadRequest, "invalid", "password is required", "password")
		return
	}
	token, exp, p, err := s.opts.Auth.Login(c.Request.Context(), req.Username, req.Password)
	if err != nil {
		s.log.Info("login refused", "username", req.Username, "client", c.ClientIP(), "reason", err)
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, loginResponse{Token: token, ExpiresAt: exp, UserID: p.UserID, Username: p.Username, Role: string(p.Role)})
}

func (s *Server) logout(c *gin.Context) {
	token := strings.TrimSpace(strings.TrimPrefix(c.GetHeader("Authorization"), "Bearer "))
	if err := s.opts.Auth.Logout(c.Request.Context(), token); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) me(c *gin.Context) { c.JSON(http.StatusOK, principal(c)) }

func (s *Server) acceptInvitation(c *gin.Context) {
	var req struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	if !s.decode(c, &req) {
		return
	}
	id, err := s.opts.Auth.AcceptInvitation(c.Request.Context(), req.Token, req.Password)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"user_id": id})
}

func (s *Server) inviteAgent(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	if _, err := s.dir().Agent(c.Request.Context(), id); err != nil {
		s.fail(c, err)
		return
	}
	token, exp, err := s.opts.Auth.CreateInvitation(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	// The page is served under /api/v1 with the API it posts to.
	url := strings.TrimRight(s.opts.PublicURL, "/") + "/api/v1/invitation?token=" + token
	c.JSON(http.StatusCreated, gin.H{"url": url, "token": token, "expires_at": exp})
}

func (s *Server) listAPIKeys(c *gin.Context) {
	if !onlyParams(c) {
		return
	}
	keys, err := s.opts.Auth.ListAPIKeys(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list[any]{Items: toAny(keys), Total: len(keys)})
}

func (s *Server) createAPIKey(c *gin.Context) {
	var req struct {
		Name string `json:"name"`
		Role string `json:"role"`
		// AgentID is the agent an agent-role key acts as: the agent's own
		// integrations (its state, pauses, calls), nothing more.
		AgentID int64 `json:"agent_id"`
	}
	if !s.decode(c, &req) {
		return
	}
	ctx := c.Request.Context()
	switch {
	case directory.Role(req.Role) == directory.RoleAgent && req.AgentID == 0:
		writeError(c, http.StatusUnprocessableEntity, "invalid", "agent_id is required for an agent-role key: the key acts as that agent", "agent_id")
		return
	case directory.Role(req.Role) != directory.RoleAgent && req.AgentID != 0:
		writeError(c, http.StatusUnprocessableEntity, "invalid", "agent_id is only for agent-role keys", "agent_id")
		return
	case req.AgentID != 0:
		if _, err := s.dir().Agent(ctx, req.AgentID); errors.Is(err, directory.ErrNotFound) {
			writeError(c, http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("no agent has id %d", req.AgentID), "agent_id")
			return
		} else if err != nil {
			s.fail(c, err)
			return
		}
	}
	secret, k, err := s.opts.Auth.CreateAPIKey(ctx, req.Name, directory.Role(req.Role), principal(c).UserID)
	if store.IsUniqueViolation(err) {
		writeError(c, http.StatusConflict, "conflict", fmt.Sprintf("an API key named %q exists (revoked keys keep their names): pick another name", strings.TrimSpace(req.Name)), "name")
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	if req.AgentID != 0 {
		if _, err := s.opts.DB.ExecContext(ctx, `UPDATE api_keys SET agent_id = ? WHERE id = ?`, req.AgentID, k.ID); err != nil {
			// A key without its agent authenticates as nobody; revoke it
			// so the list does not show a key that cannot work.
			_ = s.opts.Auth.RevokeAPIKey(ctx, k.ID)
			s.fail(c, err)
			return
		}
	}
	c.JSON(http.StatusCreated, gin.H{"key": secret, "api_key": k, "agent_id": req.AgentID})
}

func (s *Server) revokeAPIKey(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	if err := s.opts.Auth.RevokeAPIKey(c.Request.Context(), id); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func toAny[T any](in []T) []any {
	out := make([]any, len(in))
	for i := range in {
		out[i] = in[i]
	}
	return out
}

func (s *Server) listUsers(c *gin.Context) {
	page, per, ok := listParams(c, "role")
	if !ok {
		return
	}
	users, total, err := s.dir().ListUsers(c.Request.Context(), c.Query("role"), page, per)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list[directory.User]{Items: users, Total: total})
}

func (s *Server) createUser(c *gin.Context) {
	var in directory.UserInput
	if !s.decode(c, &in) || !checkDeskEndpoint(c, in.DeskEndpoint) {
		return
	}
	u, err := s.dir().CreateUser(c.Request.Context(), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, u)
}

func (s *Server) getUser(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	u, err := s.dir().User(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, u)
}

func (s *Server) updateUser(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	cur, err := s.dir().User(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	var in directory.UserInput
	if !s.decodePatch(c, cur, &in) || !checkDeskEndpoint(c, in.DeskEndpoint) {
		return
	}
	u, err := s.dir().UpdateUser(c.Request.Context(), id, in)
	if err != nil {
		s.failUser(c, err)
		return
	}
	c.JSON(http.StatusOK, u)
}

func (s *Server) deleteUser(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	if err := s.dir().DeleteUser(c.Request.Context(), id); err != nil {
		s.failUser(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// failUser answers a user change; the last admin has its own code so a UI
// can say why the button did nothing.
func (s *Server) failUser(c *gin.Context, err error) {
	if errors.Is(err, directory.ErrLastAdmin) {
		writeError(c, http.StatusConflict, "last_admin", err.Error(), "")
		return
	}
	s.fail(c, err)
}

// checkDeskEndpoint refuses a desk phone Asterisk could not ring: it
// reaches an AMI Originate when its user listens, whispers or barges.
func checkDeskEndpoint(c *gin.Context, v *string) bool {
	if v == nil || *v == "" || asterisk.IsPhone(*v) {
		return true
	}
	writeError(c, http.StatusUnprocessableEntity, "invalid",
		fmt.Sprintf("desk_endpoint: %q is not a phone: give PJSIP/<endpoint> or Local/<number>@<context>", *v), "desk_endpoint")
	return false
}
