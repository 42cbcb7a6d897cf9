package channels

import (
	"errors"
	"time"
)

// The open channel connector's answers that the HTTP side maps to statuses
// (channels/openchannel returns them; api/openchannel.go maps them).
var (
	ErrOpenChannelNotFound     = errors.New("not found")
	ErrOpenChannelUnauthorized = errors.New("wrong or missing account token")
	ErrOpenChannelConflict     = errors.New("conflict")
)

// OpenChannelAccount is an integrator's open channel account.
type OpenChannelAccount struct {
	ID      int64  `json:"id" db:"id"`
	Name    string `json:"name" db:"name"`
	QueueID int64  `json:"queue_id" db:"queue_id"`
	// ContactListID is the trigger: unknown senders become contacts of
	// this list, and every interaction of the account gets its contact.
	ContactListID *int64    `json:"contact_list_id" db:"contact_list_id"`
	ReplyURL      string    `json:"reply_url" db:"reply_url"`
	Token         string    `json:"token" db:"token"`
	Secret        string    `json:"secret" db:"secret"`
	CreatedAt     time.Time `json:"created_at" db:"created_at"`
	UpdatedAt     time.Time `json:"updated_at" db:"updated_at"`
}

// OpenChannelAccountInput creates or partly updates an account.
type OpenChannelAccountInput struct {
	Name    *string `json:"name"`
	QueueID *int64  `json:"queue_id"`
	// ContactListID: 0 clears it.
	ContactListID *int64  `json:"contact_list_id"`
	ReplyURL      *string `json:"reply_url"`
}

// OpenChannelMessage is an integrator's POST /openchannel/{id}/messages body.
type OpenChannelMessage struct {
	From       string `json:"from"`
	Name       string `json:"name"`
	Body       string `json:"body"`
	ExternalID string `json:"external_id"`
}
