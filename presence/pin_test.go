package presence_test

import (
	"errors"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"omnicc/directory"
	"omnicc/presence"
	"omnicc/store"
	"omnicc/storetest"
)

// pinService is a presence service over db with one agent at extension 1042,
// whose PIN is set to 0042.
func pinService(tb testing.TB, db *store.DB, pinCost int) *presence.Service {
	tb.Helper()
	dir := directory.New(db, directory.Options{BcryptCost: 4})
	a, err := dir.CreateAgent(tb.Context(), directory.AgentInput{FullName: ptr("Agent pin"), Username: ptr("pin"),
		Typology: ptr(directory.TypologyPhonebar), Password: ptr("Str0ng-Pass"), Extension: ptr("1042")})
	if err != nil {
		tb.Fatal(err)
	}
	svc := presence.New(presence.Options{DB: db, Directory: dir, PINCost: pinCost, FlushDelay: -1, EventWait: -1})
	if err := svc.Load(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	if err := svc.SetPIN(tb.Context(), a.ID, "0042"); err != nil {
		tb.Fatal(err)
	}
	return svc
}

// An unknown extension must cost as much to refuse as a wrong PIN, or
// extensions can be enumerated by timing. bcrypt's time is fixed by the
// hash's cost, so equal costs mean equal work — checked here without a
// stopwatch; BenchmarkAgentByPIN shows the times.
func TestUnknownExtensionHashHasThePINCost(t *testing.T) {
	check := func(t *testing.T, db *store.DB, cost int) *presence.Service {
		svc := pinService(t, db, cost)
		var stored string
		if err := db.GetContext(t.Context(), &stored, `SELECT pin_hash FROM agent_pins`); err != nil {
			t.Fatal(err)
		}
		want, err := bcrypt.Cost([]byte(stored))
		if err != nil {
			t.Fatal(err)
		}
		got, err := bcrypt.Cost(svc.UnknownExtensionHash())
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PINCost %d: unknown extensions are checked against a cost-%d hash, PINs are set at cost %d", cost, got, want)
		}
		return svc
	}
	// bcrypt's default cost, what production runs.
	storetest.Each(t, func(t *testing.T, db *store.DB) { _ = check(t, db, 0) })
	// A configured cost is followed too (the engine no longer matters).
	t.Run("cost 5", func(t *testing.T) {
		svc := check(t, storetest.SQLite(t), 5)
		if _, err := svc.AgentByPIN(t.Context(), "9999", "0042"); !errors.Is(err, presence.ErrBadCredentials) {
			t.Errorf("unknown extension: %v", err)
		}
	})
}

// BenchmarkAgentByPIN compares a wrong PIN on a known extension with any
// PIN on an unknown one, at bcrypt's default cost: the two must take about
// the same time.
func BenchmarkAgentByPIN(b *testing.B) {
	svc := pinService(b, storetest.SQLite(b), 0)
	for _, c := range []struct{ name, extension string }{{"known", "1042"}, {"unknown", "9999"}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := svc.AgentByPIN(b.Context(), c.extension, "1111"); !errors.Is(err, presence.ErrBadCredentials) {
					b.Fatal(err)
				}
			}
		})
	}
}
