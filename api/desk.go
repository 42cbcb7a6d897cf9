package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// deskConfig is what a desktop (omnicc's own at /desk/, or another built on
// this API) needs to know about the installation before it can work.
type deskConfig struct {
	// SIPWSURL is Asterisk's SIP-over-WebSocket URL that webrtc agents'
	// softphones register to (OMNICC_SIP_WS_URL).
	SIPWSURL string `json:"sip_ws_url"`
	// WSPath is the agent/supervisor websocket, relative to the origin.
	WSPath string `json:"ws_path"`
}

func (s *Server) deskConfig(c *gin.Context) {
	c.JSON(http.StatusOK, deskConfig{SIPWSURL: s.opts.SIPWSURL, WSPath: "/api/v1/ws"})
}
