package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"omnicc/channels"
	"omnicc/domain"
	"omnicc/router"
)

// OpenChannelConnector is what the routes need of the open channel
// connector (*openchannel.Connector): its accounts, and the integrator's
// inbound message.
type OpenChannelConnector interface {
	Accounts(ctx context.Context) ([]*channels.OpenChannelAccount, error)
	Account(ctx context.Context, id int64) (*channels.OpenChannelAccount, error)
	CreateAccount(ctx context.Context, in channels.OpenChannelAccountInput) (*channels.OpenChannelAccount, error)
	UpdateAccount(ctx context.Context, id int64, in channels.OpenChannelAccountInput) (*channels.OpenChannelAccount, error)
	DeleteAccount(ctx context.Context, id int64) error
	Receive(ctx context.Context, accountID int64, token string, m channels.OpenChannelMessage) (*router.Interaction, *router.Message, bool, error)
}

// OpenChannel serves the open channel connector: admins manage accounts;
// integrators POST their customers' messages with an account token (no
// user login).
type OpenChannel struct {
	c OpenChannelConnector
}

// NewOpenChannel builds the routes; mount them with
// Options.Mounts = append(..., oc.Mount).
func NewOpenChannel(c OpenChannelConnector) *OpenChannel { return &OpenChannel{c: c} }

func openChannelFail(s *Server, c *gin.Context, err error) {
	var fe *domain.FieldError
	switch {
	case errors.As(err, &fe):
		writeError(c, http.StatusUnprocessableEntity, "invalid", fe.Error(), fe.Field)
	case errors.Is(err, channels.ErrOpenChannelUnauthorized):
		writeError(c, http.StatusUnauthorized, "unauthenticated", "send the account token as Authorization: Bearer <token>", "")
	case errors.Is(err, channels.ErrOpenChannelNotFound):
		writeError(c, http.StatusNotFound, "not_found", err.Error(), "")
	case errors.Is(err, channels.ErrOpenChannelConflict):
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
		c.JSON(http.StatusOK, list[*channels.OpenChannelAccount]{Items: items, Total: len(items)})
	})
	r.Handle("POST", "/openchannel-accounts", adminOnly, func(c *gin.Context) {
		var in channels.OpenChannelAccountInput
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
		var in channels.OpenChannelAccountInput
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
			openChannelFail(s, c, channels.ErrOpenChannelUnauthorized)
			return
		}
		var in channels.OpenChannelMessage
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
