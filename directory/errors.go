// Package directory is the configuration admins manage — users and agents,
// queues, teams, profiles, AI assistants, pause types and their associations —
// with the rules that keep it valid. Protocol packages read it; the realtime
// projector derives Asterisk's rows from it inside the same transaction.
package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// ErrNotFound is returned when an id names no row.
var ErrNotFound = errors.New("not found")

// FieldError is input that breaks a rule; Field is the JSON field at fault.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, a ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, a...)}
}

// ConflictError is a unique value already taken (HTTP 409).
type ConflictError struct {
	Field string
	Value string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s: %q is already taken", e.Field, e.Value)
}

// getByID scans the row query finds for id into dest; no row is ErrNotFound
// naming what was looked for ("queue 7: not found").
func getByID(ctx context.Context, q sqlx.QueryerContext, dest any, query string, id int64, what string) error {
	err := sqlx.GetContext(ctx, q, dest, query, id)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %d: %w", what, id, ErrNotFound)
	}
	return err
}
