// Package whatsapp is the WhatsApp connector: Meta Cloud API and Twilio
// accounts, their signed webhooks, outbound sends and the 24-hour window. It
// stores every message first and hands inbound ones to the router (Inbox).
package whatsapp

import (
	"context"
	"errors"
	"time"
)

// Channel is the router's channel name for WhatsApp interactions.
const Channel = "whatsapp"

// Window is how long a customer's message lets the business answer freely.
const Window = 24 * time.Hour

// Providers.
const (
	ProviderMeta   = "meta"
	ProviderTwilio = "twilio"
)

// Default API bases: the real providers. Tests set api_base_url to a fake.
const (
	DefaultMetaBaseURL   = "https://graph.facebook.com/v21.0"
	DefaultTwilioBaseURL = "https://api.twilio.com"
)

// Message kinds of Inbound.Kind (Meta's type names; Twilio maps onto them).
const (
	KindText        = "text"
	KindImage       = "image"
	KindAudio       = "audio"
	KindVideo       = "video"
	KindDocument    = "document"
	KindSticker     = "sticker"
	KindLocation    = "location"
	KindContacts    = "contacts"
	KindInteractive = "interactive"
	KindButton      = "button"
	KindReaction    = "reaction"
	KindTemplate    = "template"
	KindUnsupported = "unsupported"
)

// Typed errors of sending; check them with errors.Is.
var (
	// ErrWindowClosed: free text outside the 24-hour window. omniccd refuses
	// it before calling the provider (Meta would answer 131047, Twilio 63016).
	ErrWindowClosed = errors.New("whatsapp: the 24-hour customer-service window is closed: only a template may be sent")
	// ErrRejected: the provider refused the message for good (no retry).
	ErrRejected = errors.New("whatsapp: the provider rejected the message")
	// ErrUnavailable: the provider kept failing with retryable errors.
	ErrUnavailable = errors.New("whatsapp: the provider is unavailable")
)

// Inbound is one customer message handed to the router. The router finds or
// opens the interaction of (Channel, AccountID, From) and must treat
// (Channel, ExternalID) as unique: Deliver may be called again for the same
// message after a crash (it is marked handed over only once Deliver returns).
type Inbound struct {
	Channel   string // always "whatsapp"
	AccountID int64
	QueueID   int64 // the account's digital queue, 0 when none is set
	// ContactListID is the account's trigger list (0: none).
	ContactListID int64
	MessageID     int64 // our whatsapp_messages.id
	// From is the wa_id (phone digits) or, when Meta withholds the phone, the
	// business-scoped user id: the contact's identity on this channel.
	From       string
	Name       string // the WhatsApp profile name
	ExternalID string // the wamid or MessageSid
	Kind       string // Kind* constants
	// Body is what an agent reads: the text, a caption, a button's title,
	// a location as text, or a visible placeholder for unsupported messages.
	Body    string
	Payload string // quick-reply/button payload or list/button reply id
	ReplyTo string // the wamid this message answers (context.id)
	Media   *Media
	At      time.Time
	// WindowExpiresAt is the conversation's window after this message.
	WindowExpiresAt time.Time
	// CloseOnQuickReply: a template quick-reply answer (Kind button) on an
	// account with a close_on_quick_reply template; the router stores the
	// message and closes the interaction.
	CloseOnQuickReply bool
}

// Media is an attachment of an inbound message: a Meta media id or a Twilio
// media URL, with what the provider said about it.
type Media struct {
	ID       string `json:"id"`
	MIMEType string `json:"mime_type"`
	SHA256   string `json:"sha256,omitempty"`
	Filename string `json:"filename,omitempty"`
	// State of the download: pending, stored (served by omniccd) or failed
	// (retried; Error says why, for the agent).
	State string `json:"state,omitempty"`
	Error string `json:"error,omitempty"`
}

// InboundResult is what the router answers: the interaction the message
// joined.
type InboundResult struct {
	InteractionID int64
}

// Inbox is the port to the router: the one thing the connector needs from
// it. Deliver is called once per stored inbound message, in order within a
// conversation (so several images sent together join one interaction), and
// again after a crash if it had not returned.
type Inbox interface {
	Deliver(ctx context.Context, in Inbound) (InboundResult, error)
}

// Outbound is an agent's reply the router asks the connector to send.
// The connector stores it first, then sends with retries.
type Outbound struct {
	AccountID int64
	To        string // wa_id
	Body      string
	// Media, when set, is a link the provider fetches (one file per message).
	MediaURL  string
	MediaKind string // image, document, audio, video
	Filename  string
	// File is the agent's stored file a SendFile carries: Twilio fetches
	// it through a signed link to it (MediaURL).
	File *FileRef
	// InteractionMessageID is the router's message this one carries: its
	// statuses go back to it (StatusUpdate.InteractionMessageID).
	InteractionMessageID int64
}

// Sent is a message the provider accepted. MessageID (our
// whatsapp_messages id, which travels in biz_opaque_callback_data) is what
// later StatusUpdates name: the router keeps it beside its own message.
type Sent struct {
	MessageID  int64  // whatsapp_messages.id
	ExternalID string // wamid / MessageSid
}

// StatusUpdate is a delivery status that moved a message forward, for the
// router to show (single/double check, failure with the provider's reason).
type StatusUpdate struct {
	AccountID  int64
	MessageID  int64
	ExternalID string
	Status     string // sent, delivered, read, failed
	ErrorCode  int
	ErrorTitle string
	At         time.Time
	// InteractionMessageID is the router's message, when the message was
	// an agent's (0 for a template sent from outside an interaction).
	InteractionMessageID int64
}

// statusRank orders the statuses: a status only ever moves forward, and
// failed is final.
func statusRank(s string) int {
	switch s {
	case "pending":
		return 0
	case "sent":
		return 1
	case "delivered":
		return 2
	case "read":
		return 3
	case "failed":
		return 4
	}
	return -1
}
