package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"omnicc/directory"
	"omnicc/router"
)

// Interactions serves the router's REST side: agents act on their own
// interactions and their queues' waiting ones, supervisors and admins on
// all; dispositions; the agent dashboard.
type Interactions struct {
	r *router.Router
}

// NewInteractions builds the routes; mount them with
// Options.Mounts = append(..., interactions.Mount).
func NewInteractions(r *router.Router) *Interactions { return &Interactions{r: r} }

func actorOf(c *gin.Context) router.Actor {
	p := principal(c)
	return router.Actor{AgentID: p.UserID, Staff: p.Role == directory.RoleAdmin || p.Role == directory.RoleSupervisor}
}

// offerGoneBody is the 409 of an accept or reject of an offer that is gone:
// the usual error with the reason (taken, expired) a desktop shows.
type offerGoneBody struct {
	Error struct {
		ErrorDetail
		Reason string `json:"reason"`
	} `json:"error"`
}

// interactionFail answers the router's errors.
func interactionFail(s *Server, c *gin.Context, err error) {
	// FieldError and ErrNotFound are the core's, mapped by s.fail.
	var gone *router.OfferGoneError
	var refused *router.RefusedError
	switch {
	case errors.As(err, &refused):
		writeError(c, http.StatusConflict, refused.Code, err.Error(), "")
	case errors.Is(err, router.ErrDispositionRequired):
		writeError(c, http.StatusBadRequest, "disposition_required", err.Error(), "disposition")
	case errors.As(err, &gone):
		var b offerGoneBody
		b.Error.ErrorDetail = ErrorDetail{Code: "offer_gone", Message: gone.Error()}
		b.Error.Reason = gone.Reason
		c.AbortWithStatusJSON(http.StatusConflict, b)
	case errors.Is(err, router.ErrForbidden):
		writeError(c, http.StatusForbidden, "forbidden", err.Error(), "")
	case errors.Is(err, router.ErrClosed):
		writeError(c, http.StatusConflict, "closed", err.Error(), "")
	case errors.Is(err, router.ErrTooLarge):
		writeError(c, http.StatusRequestEntityTooLarge, "too_large", err.Error(), "body")
	case errors.Is(err, router.ErrConflict):
		writeError(c, http.StatusConflict, "conflict", err.Error(), "")
	default:
		s.fail(c, err)
	}
}

func answer(s *Server, c *gin.Context, status int) func(v any, err error) {
	return func(v any, err error) {
		if err != nil {
			interactionFail(s, c, err)
			return
		}
		c.JSON(status, v)
	}
}

// Mount registers the routes.
func (h *Interactions) Mount(r *Router) {
	s := r.s
	withID := func(fn func(c *gin.Context, id int64)) gin.HandlerFunc {
		return func(c *gin.Context) {
			if id, ok := pathID(c, "id"); ok {
				fn(c, id)
			}
		}
	}
	r.Handle("GET", "/interactions", everyone, func(c *gin.Context) {
		f, ok := interactionFilter(c)
		if !ok {
			return
		}
		items, total, err := h.r.List(c.Request.Context(), actorOf(c), f)
		if err != nil {
			interactionFail(s, c, err)
			return
		}
		c.JSON(http.StatusOK, list[*router.Interaction]{Items: items, Total: total})
	})
	r.Handle("GET", "/interactions/:id", everyone, withID(func(c *gin.Context, id int64) {
		answer(s, c, http.StatusOK)(h.r.Get(c.Request.Context(), actorOf(c), id))
	}))
	r.Handle("GET", "/interactions/:id/messages", everyone, withID(func(c *gin.Context, id int64) {
		after, ok := queryInt(c, "after_seq")
		if !ok {
			return
		}
		answer(s, c, http.StatusOK)(h.r.Messages(c.Request.Context(), actorOf(c), id, int64(after)))
	}))
	r.Handle("POST", "/interactions/:id/messages", everyone, withID(func(c *gin.Context, id int64) {
		var in struct {
			Body     string `json:"body"`
			ClientID string `json:"client_id"`
		}
		if !s.decode(c, &in) {
			return
		}
		m, fresh, err := h.r.Reply(c.Request.Context(), actorOf(c), id, in.Body, in.ClientID)
		status := http.StatusCreated
		if !fresh {
			status = http.StatusOK
		}
		answer(s, c, status)(m, err)
	}))
	r.Handle("POST", "/interactions/:id/accept", everyone, withID(func(c *gin.Context, id int64) {
		answer(s, c, http.StatusOK)(h.r.Accept(c.Request.Context(), principal(c).UserID, id))
	}))
	r.Handle("POST", "/interactions/:id/reject", everyone, withID(func(c *gin.Context, id int64) {
		if err := h.r.Reject(c.Request.Context(), principal(c).UserID, id); err != nil {
			interactionFail(s, c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}))
	r.Handle("POST", "/interactions/:id/read", everyone, withID(func(c *gin.Context, id int64) {
		answer(s, c, http.StatusOK)(h.r.Read(c.Request.Context(), actorOf(c), id))
	}))
	r.Handle("POST", "/interactions/:id/reopen", everyone, withID(func(c *gin.Context, id int64) {
		answer(s, c, http.StatusOK)(h.r.Reopen(c.Request.Context(), actorOf(c), id))
	}))
	r.Handle("POST", "/interactions/:id/close", everyone, withID(func(c *gin.Context, id int64) {
		var in struct {
			Disposition string `json:"disposition"`
		}
		if c.Request.ContentLength != 0 && !s.decode(c, &in) {
			return
		}
		answer(s, c, http.StatusOK)(h.r.Close(c.Request.Context(), actorOf(c), id, in.Disposition))
	}))
	r.Handle("POST", "/interactions/:id/transfer", everyone, withID(func(c *gin.Context, id int64) {
		var in struct {
			AgentID int64 `json:"agent_id"`
			QueueID int64 `json:"queue_id"`
		}
		if s.decode(c, &in) {
			answer(s, c, http.StatusAccepted)(h.r.Transfer(c.Request.Context(), actorOf(c), id, in.AgentID, in.QueueID))
		}
	}))
	r.Handle("POST", "/interactions/:id/notes", everyone, withID(func(c *gin.Context, id int64) {
		var in struct {
			Body string `json:"body"`
		}
		if s.decode(c, &in) {
			answer(s, c, http.StatusCreated)(h.r.AddNote(c.Request.Context(), actorOf(c), id, in.Body))
		}
	}))
	r.Handle("GET", "/interactions/:id/notes", everyone, withID(func(c *gin.Context, id int64) {
		answer(s, c, http.StatusOK)(h.r.Notes(c.Request.Context(), actorOf(c), id))
	}))
	r.Handle("PUT", "/interactions/:id/tags", everyone, withID(func(c *gin.Context, id int64) {
		var in struct {
			Tags []string `json:"tags"`
		}
		if s.decode(c, &in) {
			answer(s, c, http.StatusOK)(h.r.SetTags(c.Request.Context(), actorOf(c), id, in.Tags))
		}
	}))

	r.Handle("GET", "/dispositions", everyone, func(c *gin.Context) {
		items, err := h.r.Dispositions(c.Request.Context())
		if err != nil {
			interactionFail(s, c, err)
			return
		}
		c.JSON(http.StatusOK, list[*router.Disposition]{Items: items, Total: len(items)})
	})
	r.Handle("POST", "/dispositions", adminOnly, func(c *gin.Context) {
		var in router.DispositionInput
		if s.decode(c, &in) {
			answer(s, c, http.StatusCreated)(h.r.CreateDisposition(c.Request.Context(), in))
		}
	})
	r.Handle("GET", "/dispositions/:id", everyone, withID(func(c *gin.Context, id int64) {
		answer(s, c, http.StatusOK)(h.r.Disposition(c.Request.Context(), id))
	}))
	r.Handle("PATCH", "/dispositions/:id", adminOnly, withID(func(c *gin.Context, id int64) {
		var in router.DispositionInput
		if s.decode(c, &in) {
			answer(s, c, http.StatusOK)(h.r.UpdateDisposition(c.Request.Context(), id, in))
		}
	}))
	r.Handle("DELETE", "/dispositions/:id", adminOnly, withID(func(c *gin.Context, id int64) {
		if err := h.r.DeleteDisposition(c.Request.Context(), id); err != nil {
			interactionFail(s, c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}))

	r.Handle("GET", "/agents/:id/dashboard", everyone, withID(func(c *gin.Context, id int64) {
		if a := actorOf(c); !a.Staff && a.AgentID != id {
			writeError(c, http.StatusForbidden, "forbidden", "an agent sees only its own dashboard", "id")
			return
		}
		answer(s, c, http.StatusOK)(h.r.Dashboard(c.Request.Context(), id))
	}))
}

func interactionFilter(c *gin.Context) (router.Filter, bool) {
	f := router.Filter{Status: c.Query("status"), Channel: c.Query("channel"), Tag: c.Query("tag"), Q: c.Query("q"),
		Unread: c.Query("unread") == "true"}
	ints := map[string]*int64{"queue_id": &f.QueueID, "agent_id": &f.AgentID, "contact_id": &f.ContactID}
	for name, dst := range ints {
		if v := c.Query(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				writeError(c, http.StatusBadRequest, "bad_query", name+" "+strconv.Quote(v)+" is not a positive integer", name)
				return f, false
			}
			*dst = n
		}
	}
	times := map[string]*time.Time{"from": &f.From, "to": &f.To}
	for name, dst := range times {
		if v := c.Query(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				writeError(c, http.StatusBadRequest, "bad_query", name+" "+strconv.Quote(v)+" is not an RFC 3339 time", name)
				return f, false
			}
			*dst = t
		}
	}
	page, ok := queryInt(c, "page")
	if !ok {
		return f, false
	}
	if f.Limit, ok = queryInt(c, "per_page"); !ok {
		return f, false
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Offset = max(page-1, 0) * f.Limit
	return f, true
}
