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

	"omnicc/domain"
)

// The core's error types live in domain so that every core package answers
// the same way; these names keep the directory's callers unchanged.
var ErrNotFound = domain.ErrNotFound

type (
	FieldError    = domain.FieldError
	ConflictError = domain.ConflictError
	InUseError    = domain.InUseError
)

func fieldErr(field, format string, a ...any) error { return domain.FieldErrorf(field, format, a...) }

// getByID scans the row query finds for id into dest; no row is ErrNotFound
// naming what was looked for ("queue 7: not found").
func getByID(ctx context.Context, q sqlx.QueryerContext, dest any, query string, id int64, what string) error {
	err := sqlx.GetContext(ctx, q, dest, query, id)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %d: %w", what, id, ErrNotFound)
	}
	return err
}
