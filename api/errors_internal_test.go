package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"omnicc/calls"
	"omnicc/domain"
)

// Every error of the core reaches the client through one mapping, however
// deeply it was wrapped on the way.
func TestFailMapsCoreErrorsOnce(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	wrap := func(err error) error { return fmt.Errorf("outer: %w", err) }
	tests := []struct {
		err    error
		status int
		code   string
		field  string
	}{
		{wrap(fmt.Errorf("agent 7: %w", domain.ErrNotFound)), 404, "not_found", ""},
		{wrap(domain.FieldErrorf("number", "bad")), 422, "invalid", "number"},
		{wrap(&domain.ConflictError{Field: "username", Value: "ann"}), 409, "conflict", "username"},
		{wrap(&domain.InUseError{What: "calendar x", UsedBy: []string{"r"}, Fix: "f"}), 409, "in_use", ""},
		{wrap(&calls.Refusal{Err: calls.ErrNotAgentsChannel, Field: "consult_channel", Message: "m"}), 403, "not_agents_channel", "consult_channel"},
		{wrap(&calls.Refusal{Err: calls.ErrNotBridged, Field: "channel", Message: "m"}), 409, "not_bridged", "channel"},
		{wrap(&calls.Refusal{Err: calls.ErrNoConsultation, Field: "channel", Message: "m"}), 409, "no_consultation", "channel"},
		{wrap(&calls.Refusal{Err: calls.ErrCallMismatch, Field: "uniqueid", Message: "m"}), 409, "call_mismatch", "uniqueid"},
		{wrap(calls.ErrSlotsFull), 409, "recording_limit", ""},
		{wrap(errors.Join(calls.ErrRefused, calls.ErrNoSuchChannel)), 502, "asterisk_error", ""},
		{wrap(calls.ErrBadAnswer), 502, "asterisk_error", ""},
		{wrap(calls.ErrUnavailable), 503, "asterisk_unavailable", ""},
		{wrap(calls.ErrTimeout), 504, "asterisk_timeout", ""},
		{wrap(calls.ErrNotSent), 422, "invalid", ""},
		// An adapter's input error stays a 422 naming its field.
		{wrap(errors.Join(calls.ErrNotSent, domain.FieldErrorf("box", "unknown"))), 422, "invalid", "box"},
		{errors.New("disk on fire"), 500, "internal", ""},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest("POST", "/", nil)
		s.fail(c, tt.err)
		var body ErrorBody
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if w.Code != tt.status || body.Error.Code != tt.code || body.Error.Field != tt.field {
			t.Errorf("%v: %d %+v, want %d %s field %q", tt.err, w.Code, body.Error, tt.status, tt.code, tt.field)
		}
	}
}
