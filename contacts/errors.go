package contacts

import "omnicc/domain"

// The core's error types live in domain so that the API maps them once;
// these names keep the contacts' callers (agi, api/routing.go) unchanged.
var (
	ErrNotFound = domain.ErrNotFound
	// ErrForbidden: the actor has no grant for the list. HTTP 403.
	ErrForbidden = errForbidden{}
)

type (
	FieldError    = domain.FieldError
	ConflictError = domain.ConflictError
)

type errForbidden struct{}

func (errForbidden) Error() string {
	return "no grant for this contact list: ask an admin to add you or your team to it"
}

func fieldErr(field, format string, a ...any) error { return domain.FieldErrorf(field, format, a...) }
