package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"omnicc/ami"
	"omnicc/auth"
	"omnicc/calls"
	"omnicc/domain"
)

// ErrorBody is the JSON of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail has a stable code, a message for humans and, when one field is
// at fault, its name.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func writeError(c *gin.Context, status int, code, msg, field string) {
	c.AbortWithStatusJSON(status, ErrorBody{Error: ErrorDetail{Code: code, Message: msg, Field: field}})
}

// WriteError is writeError for routes other packages mount.
func WriteError(c *gin.Context, status int, code, msg, field string) {
	writeError(c, status, code, msg, field)
}

// fail turns a core error into its HTTP answer. The core's error types
// (package domain) are mapped here and nowhere else: FieldError 422,
// ConflictError and InUseError 409, ErrNotFound 404.
func (s *Server) fail(c *gin.Context, err error) {
	var (
		fe    *domain.FieldError
		ce    *domain.ConflictError
		me    *http.MaxBytesError
		inUse *domain.InUseError
	)
	if msg := s.databaseFailure(c, err); msg != "" {
		writeError(c, http.StatusServiceUnavailable, "database_unavailable", msg, "")
		return
	}
	if s.failCalls(c, err) {
		return
	}
	switch {
	case errors.As(err, &fe):
		writeError(c, http.StatusUnprocessableEntity, "invalid", fe.Error(), fe.Field)
	case errors.As(err, &ce):
		writeError(c, http.StatusConflict, "conflict", ce.Error(), ce.Field)
	case errors.As(err, &inUse):
		writeError(c, http.StatusConflict, "in_use", err.Error(), "")
	case errors.Is(err, domain.ErrNotFound):
		writeError(c, http.StatusNotFound, "not_found", err.Error(), "")
	case errors.Is(err, auth.ErrInvalidCredentials):
		writeError(c, http.StatusUnauthorized, "invalid_credentials", err.Error(), "")
	case errors.Is(err, auth.ErrAPIKeyRevoked):
		writeError(c, http.StatusUnauthorized, "api_key_revoked", err.Error()+": ask an admin for a new key (POST /api/v1/api-keys)", "")
	case errors.Is(err, auth.ErrUnauthenticated):
		writeError(c, http.StatusUnauthorized, "unauthenticated", err.Error()+": log in again (POST /api/v1/auth/login)", "")
	case errors.Is(err, auth.ErrLocked):
		writeError(c, http.StatusForbidden, "account_locked", err.Error(), "")
	case errors.Is(err, auth.ErrDisabled):
		writeError(c, http.StatusForbidden, "account_disabled", err.Error(), "")
	case errors.Is(err, auth.ErrInvitation):
		writeError(c, http.StatusGone, "invitation_invalid", err.Error()+": ask an admin for a new link", "token")
	case errors.As(err, &me):
		writeError(c, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body is larger than %d bytes", me.Limit), "")
	default:
		s.log.Error("request failed", "method", c.Request.Method, "path", c.FullPath(), "err", err)
		writeError(c, http.StatusInternalServerError, "internal", "internal error; the server log has the details", "")
	}
}

// callOutcomes are the answers to what calls returns: its rules' refusals
// (a *calls.Refusal naming the field at fault) and what Asterisk did.
var callOutcomes = []struct {
	err    error
	status int
	code   string
}{
	{calls.ErrAgentDisabled, http.StatusConflict, "agent_disabled"},
	{calls.ErrNoEndpoint, http.StatusConflict, "no_endpoint"},
	{calls.ErrNotAgentsChannel, http.StatusForbidden, "not_agents_channel"},
	{calls.ErrNotBridged, http.StatusConflict, "not_bridged"},
	{calls.ErrNoConsultation, http.StatusConflict, "no_consultation"},
	{calls.ErrNotHeld, http.StatusConflict, "not_on_hold"},
	{calls.ErrChanspyNotAllowed, http.StatusForbidden, "chanspy_not_allowed"},
	{calls.ErrRecordingNotAllowed, http.StatusForbidden, "recording_not_allowed"},
	{calls.ErrCallMismatch, http.StatusConflict, "call_mismatch"},
	{calls.ErrSlotsFull, http.StatusConflict, "recording_limit"},
	{calls.ErrRecordingStopped, http.StatusConflict, "recording_stopped"},
	{calls.ErrRecordingStarting, http.StatusConflict, "recording_starting"},
	{calls.ErrModuleMissing, http.StatusServiceUnavailable, "asterisk_module_missing"},
	{calls.ErrRefused, http.StatusBadGateway, "asterisk_error"},
	{calls.ErrBadAnswer, http.StatusBadGateway, "asterisk_error"},
	{calls.ErrUnavailable, http.StatusServiceUnavailable, "asterisk_unavailable"},
	{calls.ErrTimeout, http.StatusGatewayTimeout, "asterisk_timeout"},
}

// failCalls answers the errors of package calls; false when err is none of
// them. Input an adapter could not name (a *domain.FieldError, e.g. an
// unknown box) is left to fail's 422.
func (s *Server) failCalls(c *gin.Context, err error) bool {
	var fe *domain.FieldError
	if errors.As(err, &fe) {
		return false
	}
	if errors.Is(err, ami.ErrNotConfigured) {
		// Not "unavailable": no Asterisk will ever answer until an admin
		// sets OMNICC_AMI, so the client must not retry.
		writeError(c, http.StatusServiceUnavailable, "asterisk_not_configured", err.Error(), "")
		return true
	}
	for _, o := range callOutcomes {
		if errors.Is(err, o.err) {
			var r *calls.Refusal
			field := ""
			if errors.As(err, &r) {
				field = r.Field
			}
			writeError(c, o.status, o.code, err.Error(), field)
			return true
		}
	}
	if errors.Is(err, calls.ErrNotSent) {
		s.log.Warn("call control not sent", "path", c.FullPath(), "err", err)
		writeError(c, http.StatusUnprocessableEntity, "invalid", err.Error(), "")
		return true
	}
	return false
}

// decode reads a JSON body strictly: unknown fields and trailing data are
// errors naming what is wrong, so a typo never silently does nothing.
func (s *Server) decode(c *gin.Context, v any) bool {
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data after the JSON object")
	}
	if err == nil {
		return true
	}
	var (
		se *json.SyntaxError
		te *json.UnmarshalTypeError
		me *http.MaxBytesError
	)
	switch {
	case errors.As(err, &me):
		s.fail(c, err)
	case errors.Is(err, io.EOF):
		writeError(c, http.StatusBadRequest, "bad_json", "the request needs a JSON body", "")
	case errors.As(err, &se):
		writeError(c, http.StatusBadRequest, "bad_json", fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, err), "")
	case errors.As(err, &te):
		writeError(c, http.StatusBadRequest, "bad_json", fmt.Sprintf("%s must be a JSON %s, not %s", te.Field, te.Type, te.Value), te.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		writeError(c, http.StatusBadRequest, "unknown_field", fmt.Sprintf("unknown field %q", f), f)
	default:
		writeError(c, http.StatusBadRequest, "bad_json", err.Error(), "")
	}
	return false
}
