package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"omnicc/channels/openchannel"
)

// OpenChannel serves the open channel connector: admins manage accounts;
// integrators POST their customers' messages with an account token (no
// user login).
type OpenChannel struct {
	c *openchannel.Connector
}

// NewOpenChannel builds the routes; mount them with
// Options.Mounts = append(..., oc.Mount).
func NewOpenChannel(c *openchannel.Connector) *OpenChannel { return &OpenChannel{c: c} }

func openChannelFail(s *Server, c *gin.Context, err error) {
	var fe *openchannel.FieldError
	switch {
	case errors.As(err, &fe):
		writeError(c, http.StatusUnprocessableEntity, "invalid", fe.Error(), fe.Field)
	case errors.Is(err, openchannel.ErrUnauthorized):
		writeError(c, http.StatusUnauthorized, "unauthenticated", "send the account token as Authorization: Bearer <token>", "")
	case errors.Is(err, openchannel.ErrNotFound):
		writeError(c, http.StatusNotFound, "not_found", err.Error(), "")
	case errors.Is(err, openchannel.ErrConflict):
		writeError(c, http.StatusConflict, "conflict", err.Error(), "name")
	default:
		interactionFail(s, c, err)
	}
}

// InboundAnswer is the answer to an integrator's message.
type InboundAnswer struct {
	InteractionID int64 `json:"interaction_id"`
	MessageID     int64 `json:"message_id"`
	Seq           int64 `json:"seq"`
}

// Mount registers the routes.
func (h *OpenChannel) Mount(r *Router) {
	s := r.s
	ok := func(c *gin.Context, status int) func(v any, err error) {
		return func(v any, err error) {
			if err != nil {
				openChannelFail(s, c, err)
				return
			}
			c.JSON(status, v)
		}
	}
	r.Handle("GET", "/openchannel-accounts", adminOnly, func(c *gin.Context) {
		items, err := h.c.Accounts(c.Request.Context())
		if err != nil {
			openChannelFail(s, c, err)
			return
		}
		c.JSON(http.StatusOK, list[*openchannel.Account]{Items: items, Total: len(items)})
	})
	r.Handle("POST", "/openchannel-accounts", adminOnly, func(c *gin.Context) {
		var in openchannel.AccountInput
		if s.decode(c, &in) {
			ok(c, http.StatusCreated)(h.c.CreateAccount(c.Request.Context(), in))
		}
	})
	r.Handle("GET", "/openchannel-accounts/:id", adminOnly, func(c *gin.Context) {
		if id, good := pathID(c, "id"); good {
			ok(c, http.StatusOK)(h.c.Account(c.Request.Context(), id))
		}
	})
	r.Handle("PATCH", "/openchannel-accounts/:id", adminOnly, func(c *gin.Context) {
		id, good := pathID(c, "id")
		var in openchannel.AccountInput
		if good && s.decode(c, &in) {
			ok(c, http.StatusOK)(h.c.UpdateAccount(c.Request.Context(), id, in))
		}
	})
	r.Handle("DELETE", "/openchannel-accounts/:id", adminOnly, func(c *gin.Context) {
		if id, good := pathID(c, "id"); good {
			if err := h.c.DeleteAccount(c.Request.Context(), id); err != nil {
				openChannelFail(s, c, err)
				return
			}
			c.Status(http.StatusNoContent)
		}
	})
	r.Public("POST", "/openchannel/:account_id/messages", func(c *gin.Context) {
		id, good := pathID(c, "account_id")
		if !good {
			return
		}
		token, found := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		if !found {
			openChannelFail(s, c, openchannel.ErrUnauthorized)
			return
		}
		var in openchannel.InboundMessage
		if !s.decode(c, &in) {
			return
		}
		it, m, fresh, err := h.c.Receive(c.Request.Context(), id, strings.TrimSpace(token), in)
		if err != nil {
			openChannelFail(s, c, err)
			return
		}
		status := http.StatusCreated
		if !fresh {
			status = http.StatusOK
		}
		c.JSON(status, InboundAnswer{InteractionID: it.ID, MessageID: m.ID, Seq: m.Seq})
	})
}
