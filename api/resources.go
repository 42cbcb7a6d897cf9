package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"omnicc/directory"
)

// errAnswered marks an edit whose error answer is already written.
var errAnswered = errors.New("answered")

// resourceStore is what the generic handlers need of directory.Resources.
type resourceStore[T any] interface {
	Create(ctx context.Context, v *T) error
	Get(ctx context.Context, id int64) (*T, error)
	List(ctx context.Context, q, sort string, page, perPage int) ([]*T, int, error)
	Update(ctx context.Context, id int64, edit func(*T) error) (*T, error)
	Delete(ctx context.Context, id int64) error
	Entity() string
}

// registerResource adds CRUD for a named resource and, when links is set, the
// agent association from both sides (/agents/:id/<name> and /<name>/:id/agents).
func registerResource[T any](r *Router, path string, st resourceStore[T], links directory.LinkKind, idsField string) {
	s := r.s
	r.Handle("GET", path, everyone, func(c *gin.Context) {
		page, per, ok := listParams(c, "q", "sort")
		if !ok {
			return
		}
		items, total, err := st.List(c.Request.Context(), c.Query("q"), c.Query("sort"), page, per)
		if err != nil {
			s.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, list[*T]{Items: items, Total: total})
	})
	r.Handle("POST", path, adminOnly, func(c *gin.Context) {
		v := new(T)
		if !s.decode(c, v) {
			return
		}
		if err := st.Create(c.Request.Context(), v); err != nil {
			s.fail(c, err)
			return
		}
		c.JSON(http.StatusCreated, v)
	})
	r.Handle("GET", path+"/:id", everyone, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		v, err := st.Get(c.Request.Context(), id)
		if err != nil {
			s.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, v)
	})
	r.Handle("PATCH", path+"/:id", adminOnly, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		body, err := io.ReadAll(c.Request.Body)
		if err != nil {
			s.fail(c, err)
			return
		}
		// A PATCH is the stored resource with the given fields decoded over it.
		v, err := st.Update(c.Request.Context(), id, func(cur *T) error {
			c.Request.Body = io.NopCloser(bytes.NewReader(body))
			if !dropUnchangedReadOnly(c, cur, []string{"id", "created_at", "updated_at"}) || !s.decode(c, cur) {
				return errAnswered
			}
			return nil
		})
		if errors.Is(err, errAnswered) {
			return
		}
		if err != nil {
			s.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, v)
	})
	r.Handle("DELETE", path+"/:id", adminOnly, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		if err := st.Delete(c.Request.Context(), id); err != nil {
			s.fail(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	})
	if idsField == "" {
		return
	}
	d := s.dir()
	r.Handle("GET", path+"/:id/agents", staff, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		if _, err := st.Get(c.Request.Context(), id); err != nil {
			s.fail(c, err)
			return
		}
		ids, err := d.LinkedAgents(c.Request.Context(), links, id)
		if err != nil {
			s.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"agent_ids": ids})
	})
	r.Handle("PUT", path+"/:id/agents", adminOnly, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		var req struct {
			AgentIDs []int64 `json:"agent_ids"`
		}
		if !s.decode(c, &req) {
			return
		}
		if err := d.SetLinkedAgents(c.Request.Context(), links, id, req.AgentIDs); err != nil {
			s.fail(c, err)
			return
		}
		ids, _ := d.LinkedAgents(c.Request.Context(), links, id)
		c.JSON(http.StatusOK, gin.H{"agent_ids": ids})
	})
	r.Handle("POST", path+"/:id/agents", adminOnly, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		var req struct {
			AgentID int64 `json:"agent_id"`
		}
		if !s.decode(c, &req) {
			return
		}
		if err := d.Link(c.Request.Context(), links, req.AgentID, id); err != nil {
			s.fail(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	})
	r.Handle("DELETE", path+"/:id/agents/:agent_id", adminOnly, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		agentID, ok := pathID(c, "agent_id")
		if !ok {
			return
		}
		if err := d.Unlink(c.Request.Context(), links, agentID, id); err != nil {
			s.fail(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	})
	r.Handle("GET", "/agents/:id"+path, everyone, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok || !selfOrStaff(c, id) {
			return
		}
		if _, err := d.Agent(c.Request.Context(), id); err != nil {
			s.fail(c, err)
			return
		}
		ids, err := d.LinkedTargets(c.Request.Context(), links, id)
		if err != nil {
			s.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, map[string][]int64{idsField: ids})
	})
	r.Handle("PUT", "/agents/:id"+path, adminOnly, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		var req map[string][]int64
		dec := json.NewDecoder(c.Request.Body)
		if err := dec.Decode(&req); err != nil {
			writeError(c, http.StatusBadRequest, "bad_json", `send {"`+idsField+`": [ids]}`, idsField)
			return
		}
		for k := range req {
			if k != idsField {
				writeError(c, http.StatusBadRequest, "unknown_field", "unknown field "+k+`: send {"`+idsField+`": [ids]}`, k)
				return
			}
		}
		if err := d.SetAgentLinks(c.Request.Context(), links, id, req[idsField]); err != nil {
			s.fail(c, err)
			return
		}
		ids, _ := d.LinkedTargets(c.Request.Context(), links, id)
		c.JSON(http.StatusOK, map[string][]int64{idsField: ids})
	})
}
