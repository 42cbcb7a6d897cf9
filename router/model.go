package router

import (
	"errors"
	"fmt"
	"time"

	"omnicc/domain"
)

// Interaction statuses, in the order a conversation moves through them.
const (
	StatusQueued   = "queued"
	StatusOffered  = "offered"
	StatusAccepted = "accepted"
	StatusClosed   = "closed"
)

// Message directions.
const (
	DirectionIn     = "in"
	DirectionOut    = "out"
	DirectionSystem = "system"
)

// Message statuses: an inbound message is received; an agent's reply is
// pending until the channel's sender took it, then sent or failed.
const (
	MessageReceived = "received"
	MessagePending  = "pending"
	MessageSent     = "sent"
	MessageFailed   = "failed"
	// A provider's later news of a sent message (WhatsApp's ticks).
	MessageDelivered = "delivered"
	MessageRead      = "read"
)

// Offer withdrawal reasons, as the websocket's offer_withdrawn carries them
// and as a 409 on accept names them.
const (
	ReasonTaken    = "taken"
	ReasonTimeout  = "timeout"
	ReasonRejected = "rejected"
	ReasonClosed   = "closed"
	ReasonExpired  = "expired"
)

// Interaction is one conversation with a customer on a digital channel.
type Interaction struct {
	ID           int64      `json:"id" db:"id"`
	Channel      string     `json:"channel" db:"channel"`
	Account      string     `json:"account" db:"account"`
	Customer     string     `json:"customer" db:"customer"`
	CustomerName string     `json:"customer_name" db:"customer_name"`
	QueueID      int64      `json:"queue_id" db:"queue_id"`
	ContactID    *int64     `json:"contact_id" db:"contact_id"`
	Status       string     `json:"status" db:"status"`
	AgentID      *int64     `json:"agent_id" db:"agent_id"`
	Priority     int        `json:"priority" db:"priority"`
	Disposition  string     `json:"disposition" db:"disposition"`
	Tags         []string   `json:"tags" db:"-"`
	TagsJSON     string     `json:"-" db:"tags"`
	Unread       int        `json:"unread" db:"unread"`
	LastSeq      int64      `json:"last_seq" db:"last_seq"`
	QueuedAt     time.Time  `json:"queued_at" db:"queued_at"`
	CreatedAt    time.Time  `json:"created_at" db:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at" db:"updated_at"`
	AcceptedAt   *time.Time `json:"accepted_at" db:"accepted_at"`
	ClosedAt     *time.Time `json:"closed_at" db:"closed_at"`
	// WindowExpiresAt is when the channel stops taking free text from an
	// agent (WhatsApp's 24-hour window, moved by the customer's messages);
	// absent on channels without one.
	WindowExpiresAt *time.Time `json:"window_expires_at,omitempty" db:"window_expires_at"`
	// Bot: the queue's AI assistant holds the conversation; agents get it
	// on its handoff (it is queued, not yet in the agents' line).
	Bot bool `json:"bot" db:"bot_active"`
}

// Message is one message of an interaction.
type Message struct {
	ID            int64     `json:"id" db:"id"`
	InteractionID int64     `json:"interaction_id" db:"interaction_id"`
	Seq           int64     `json:"seq" db:"seq"`
	Direction     string    `json:"direction" db:"direction"`
	Body          string    `json:"body" db:"body"`
	Attachments   []string  `json:"attachments" db:"-"`
	AttachJSON    string    `json:"-" db:"attachments"`
	ClientID      *string   `json:"client_id" db:"client_id"`
	ExternalID    *string   `json:"external_id" db:"external_id"`
	Status        string    `json:"status" db:"status"`
	AgentID       *int64    `json:"agent_id" db:"agent_id"`
	Attempts      int       `json:"attempts" db:"attempts"`
	Error         string    `json:"error,omitempty" db:"error"`
	CreatedAt     time.Time `json:"created_at" db:"created_at"`
}

// Note is an internal note agents leave on an interaction.
type Note struct {
	ID            int64     `json:"id" db:"id"`
	InteractionID int64     `json:"interaction_id" db:"interaction_id"`
	AgentID       *int64    `json:"agent_id" db:"agent_id"`
	Body          string    `json:"body" db:"body"`
	CreatedAt     time.Time `json:"created_at" db:"created_at"`
}

// Inbound is a customer's message as a connector hands it over.
type Inbound struct {
	Channel string
	// Account is the channel account the message arrived on (an open
	// channel account id, a WhatsApp phone number id, a chat website).
	Account string
	// Customer is the customer's identity on that account.
	Customer     string
	CustomerName string
	QueueID      int64
	Body         string
	Attachments  []string
	// ExternalID is the channel's id of the message; a retried delivery
	// with the same id stores nothing new.
	ExternalID string
	// ContactListID is the entry point's trigger: the contact list an
	// unknown customer is created in. With it every interaction gets a
	// contact (found by the channel identity, Phone, or created); 0 leaves
	// contact_id empty.
	ContactListID int64
	// Phone and Email are the customer's number and address when the
	// channel knows them (a wa_id is a number): a contact is matched by them
	// too.
	Phone string
	Email string
	// WindowExpiresAt, when set, is the channel's reply window after this
	// message; it only ever moves forward.
	WindowExpiresAt time.Time
	// CloseAfter: the message ends the conversation (a quick reply to a
	// close_on_quick_reply template). It is stored, and the interaction is
	// closed rather than routed.
	CloseAfter bool
}

// Outbound is an agent's message a Sender delivers to the customer.
type Outbound struct {
	InteractionID int64
	MessageID     int64
	Channel       string
	Account       string
	Customer      string
	Body          string
	Attachments   []string
	// Template, when set, asks the channel to send one of its templates
	// (the only thing some channels take outside their reply window);
	// Body is then what the agent reads of it.
	Template *TemplateSend
}

// TemplateSend is a channel template with its parameters.
type TemplateSend struct {
	ID         int64
	Parameters []string
}

// RefusedError is a channel refusing a message before any attempt to send
// it (WhatsApp's closed 24-hour window): nothing is stored, and the agent is
// told Code and why.
type RefusedError struct {
	Code string // e.g. window_closed
	Err  error
}

func (e *RefusedError) Error() string { return e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// ErrDispositionRequired is a close without a disposition in a queue that
// requires one.
var ErrDispositionRequired = errors.New("a disposition is required")

// Errors the REST layer maps to statuses; check them with errors.Is.
var (
	// ErrNotFound is the core's (domain.ErrNotFound): api maps it once.
	ErrNotFound  = domain.ErrNotFound
	ErrForbidden = errors.New("not yours")
	ErrClosed    = errors.New("the interaction is closed")
	ErrConflict  = errors.New("conflict")
)

// OfferGoneError is an accept or reject of an offer that no longer stands.
type OfferGoneError struct {
	InteractionID int64
	// Reason is ReasonTaken (another agent accepted it) or ReasonExpired.
	Reason string
}

func (e *OfferGoneError) Error() string {
	return fmt.Sprintf("the offer of interaction %d is gone: %s", e.InteractionID, e.Reason)
}

// Is makes errors.Is(err, ErrConflict) true for a gone offer.
func (e *OfferGoneError) Is(target error) bool { return target == ErrConflict }

// FieldError is bad input, naming the field: the core's, mapped once in api.
type FieldError = domain.FieldError

func fieldErr(field, format string, a ...any) error { return domain.FieldErrorf(field, format, a...) }
