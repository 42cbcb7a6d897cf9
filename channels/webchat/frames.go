package webchat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"omnicc/router"
)

// Frames a visitor's page sends on its websocket:
//
//	{"type":"send","client_id":"…","body":"…","attachments":["/api/v1/chat/files/…"]}
//	{"type":"typing"}
//	{"type":"ack","seq":N,"read":true|false}
//	{"type":"resume","after_seq":N}
//
// Anything else closes the socket with a reason.

// VisitorFrame is one parsed visitor frame.
type VisitorFrame struct {
	Type        string   `json:"type"`
	ClientID    string   `json:"client_id,omitempty"`
	Body        string   `json:"body,omitempty"`
	Attachments []string `json:"attachments,omitempty"`
	Seq         int64    `json:"seq,omitempty"`
	Read        bool     `json:"read,omitempty"`
	AfterSeq    int64    `json:"after_seq,omitempty"`
}

// MaxClientID is the longest client id.
const MaxClientID = 64

// MaxAttachments is how many files one message may carry.
const MaxAttachments = 5

// ErrFrame is a frame the server refuses; the socket closes with its text.
var ErrFrame = errors.New("bad frame")

func frameErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFrame}, a...)...)
}

// ParseVisitorFrame decodes and checks one frame. It never panics, whatever
// the bytes (FuzzParseVisitorFrame).
func ParseVisitorFrame(raw []byte) (VisitorFrame, error) {
	var f VisitorFrame
	if !utf8.Valid(raw) {
		return f, frameErr("not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return VisitorFrame{}, frameErr("not a JSON frame: %v", err)
	}
	if dec.More() {
		return VisitorFrame{}, frameErr("one JSON object per frame")
	}
	switch f.Type {
	case "send":
		if err := validateSend(SendInput{ClientID: f.ClientID, Body: f.Body, Attachments: f.Attachments}); err != nil {
			return VisitorFrame{}, frameErr("%v", err)
		}
	case "typing":
	case "ack":
		if f.Seq < 0 {
			return VisitorFrame{}, frameErr("seq must not be negative")
		}
	case "resume":
		if f.AfterSeq < 0 {
			return VisitorFrame{}, frameErr("after_seq must not be negative")
		}
	default:
		return VisitorFrame{}, frameErr("unknown type %q: send, typing, ack or resume", f.Type)
	}
	return f, nil
}

// validateSend checks a visitor message, over the socket or HTTP.
func validateSend(in SendInput) error {
	switch {
	case in.ClientID == "" || len(in.ClientID) > MaxClientID || strings.IndexFunc(in.ClientID, badIDRune) >= 0:
		return fieldErr("client_id", "is required: 1 to %d letters, digits, '-' or '_', new for each message and the same on a retry", MaxClientID)
	case strings.TrimSpace(in.Body) == "" && len(in.Attachments) == 0:
		return fieldErr("body", "is required (or an attachment)")
	case len(in.Body) > router.MaxBody:
		return fieldErr("body", "is %d bytes, over %d", len(in.Body), router.MaxBody)
	case !utf8.ValidString(in.Body):
		return fieldErr("body", "is not UTF-8")
	case len(in.Attachments) > MaxAttachments:
		return fieldErr("attachments", "at most %d files per message", MaxAttachments)
	}
	for i, a := range in.Attachments {
		if _, ok := fileKeyOf(a); !ok {
			return fieldErr(fmt.Sprintf("attachments[%d]", i), "%q is not an uploaded file's URL", truncate(a, 80))
		}
	}
	return nil
}

func badIDRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
