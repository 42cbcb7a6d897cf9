package domain_test

import (
	"errors"
	"fmt"
	"testing"

	"omnicc/domain"
)

// Wrapped errors keep their type, so the API's one mapping finds them
// whichever package added context on the way up.
func TestErrorsSurviveWrapping(t *testing.T) {
	wrapped := func(err error) error { return fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", err)) }
	if err := wrapped(fmt.Errorf("agent 7: %w", domain.ErrNotFound)); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("%v is not ErrNotFound", err)
	}
	var fe *domain.FieldError
	if err := wrapped(domain.FieldErrorf("number", "%q is not a number", "x")); !errors.As(err, &fe) || fe.Field != "number" {
		t.Fatalf("field error lost: %v", err)
	}
	var ce *domain.ConflictError
	if err := wrapped(&domain.ConflictError{Field: "username", Value: "ann"}); !errors.As(err, &ce) || ce.Error() != `username: "ann" is already taken` {
		t.Fatalf("conflict lost: %v", err)
	}
	var iu *domain.InUseError
	if err := wrapped(&domain.InUseError{What: "calendar office", UsedBy: []string{"main", "night"}, Fix: "change their calendar first"}); !errors.As(err, &iu) ||
		iu.Error() != "calendar office is used by main, night: change their calendar first" {
		t.Fatalf("in use lost: %v", err)
	}
}
