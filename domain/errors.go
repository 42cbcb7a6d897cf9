// Package domain holds what every core package says the same way: the errors
// a rule, a missing row or a taken value answers with. The API maps each of
// them to one HTTP answer (api/errors.go), whichever package returned it.
package domain

// directory and contacts alias these types. calllog keeps its own
// FieldError on purpose: it is a bad query parameter, answered 400, not a
// rule a stored value broke (422).

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotFound is returned, wrapped with what was looked for ("agent 7: not
// found"), when an id names no row. HTTP 404.
var ErrNotFound = errors.New("not found")

// FieldError is input that breaks a rule; Field is the JSON field (or query
// parameter) at fault and Message says what to do about it. HTTP 422.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// FieldErrorf is a *FieldError with a formatted message.
func FieldErrorf(field, format string, a ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, a...)}
}

// ConflictError is a unique value already taken. HTTP 409.
type ConflictError struct {
	Field string
	Value string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s: %q is already taken", e.Field, e.Value)
}

// InUseError refuses to delete something other configuration still names
// (HTTP 409): the message says who uses it and what to change first.
type InUseError struct {
	What   string // "calendar office"
	UsedBy []string
	Fix    string
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("%s is used by %s: %s", e.What, strings.Join(e.UsedBy, ", "), e.Fix)
}
