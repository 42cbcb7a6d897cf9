package whatsapp

import (
	"omnicc/clock"
	"omnicc/store"
)

// Store keeps accounts, messages, conversations and templates.
type Store struct {
	db    *store.DB
	clock clock.Clock
	// inbound batches concurrent deliveries into shared transactions.
	inbound groupCommit
}

// NewStore wraps the database; c may be nil for the wall clock.
func NewStore(db *store.DB, c clock.Clock) *Store {
	return &Store{db: db, clock: clock.Or(c)}
}
