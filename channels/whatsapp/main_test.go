package whatsapp_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine the connector starts (the worker, sends in flight) must be
// gone when the tests end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// database/sql's connection openers live as long as a *sql.DB,
		// which storetest closes in t.Cleanup after goleak has looked.
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
	)
}
