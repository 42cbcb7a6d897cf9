package api

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// invitationPage is where an invitation link leads: a form that sends the
// token and the chosen password to POST /auth/invitations/accept. It is
// plain enough for the agent desktop to replace later.
//
//go:embed invitation.html
var invitationPage []byte

func serveInvitationPage(c *gin.Context) {
	// The page carries the token in its address: no referrer, no cache,
	// no framing, and nothing loaded from elsewhere.
	h := c.Writer.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
	c.Data(http.StatusOK, "text/html; charset=utf-8", invitationPage)
}
