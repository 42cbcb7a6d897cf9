package ami

import (
	"errors"
	"fmt"
)

var (
	// ErrNotConnected: the box is not logged in right now, or the connection
	// was lost while an action waited for its reply (then Asterisk may or may
	// not have run it). The client is reconnecting; retry later.
	ErrNotConnected = errors.New("ami: not connected to Asterisk")
	// ErrTimeout: Asterisk did not answer an action in time.
	ErrTimeout = errors.New("ami: no reply from Asterisk in time")
	// ErrRejected is wrapped by every *ActionError, for errors.Is checks.
	ErrRejected = errors.New("ami: Asterisk rejected the action")
	// ErrOverflow ends a Subscription whose reader fell behind by more than
	// its buffer. Events were lost: subscribe again and resync from actions
	// (QueueStatus, CoreShowChannels, DeviceStateList).
	ErrOverflow = errors.New("ami: subscriber fell behind and events were dropped; resync needed")
	// ErrNotConfigured: OMNICC_AMI names no box, so there is no Asterisk to
	// ask — unlike ErrNotConnected, waiting will not help. The API answers
	// it with its own status and code so a user is not told to wait.
	ErrNotConfigured = errors.New("ami: no Asterisk is configured (OMNICC_AMI is empty)")
	// ErrClosed ends a Subscription closed by its owner.
	ErrClosed = errors.New("ami: subscription closed")
)

// ActionError is Asterisk's `Response: Error` to an action, with the
// `Message` it gave ("Interface not found", "Authentication failed"). Match it
// with errors.As to show Asterisk's words to the user, or errors.Is with
// ErrRejected.
type ActionError struct {
	Box      string  // the box that answered
	Action   string  // the action's name, e.g. "QueuePause"
	Message  string  // Asterisk's Message field
	Response Message // the whole response
}

func (e *ActionError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "no reason given"
	}
	return fmt.Sprintf("ami: Asterisk %s rejected %s: %s", e.Box, e.Action, msg)
}

// Unwrap lets errors.Is(err, ErrRejected) match.
func (e *ActionError) Unwrap() error { return ErrRejected }
