package store_test

import (
	"context"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	migrations "omnicc/sql"
	"omnicc/store"
	"omnicc/storetest"
)

// The two engines must carry the same migration versions, or a database moved
// from SQLite to MariaDB would be at a different schema.
func TestMigrationVersionsMatch(t *testing.T) {
	list := func(f fs.FS, dir string) []string {
		names, err := fs.Glob(f, dir+"/*.sql")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, n := range names {
			out = append(out, n[len(dir)+1:])
		}
		return out
	}
	my, lite := list(migrations.MySQL, "mysql"), list(migrations.SQLite, "sqlite")
	if !slices.Equal(my, lite) {
		t.Fatalf("sql/mysql and sql/sqlite differ:\nmysql:  %v\nsqlite: %v", my, lite)
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		n, err := db.Migrate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("second migrate applied %d migrations, want 0", n)
		}
		v, err := db.Version(context.Background())
		if err != nil || v < 1 {
			t.Fatalf("version = %d, %v", v, err)
		}
	})
}

func TestInTxRollsBackAndUniqueViolation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ins := `INSERT INTO teams (name, created_at, updated_at) VALUES (?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`
		err := db.InTx(ctx, func(tx *sqlx.Tx) error {
			if _, err := tx.ExecContext(ctx, ins, "support"); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, ins, "SUPPORT") // names are unique regardless of case on both engines
			return err
		})
		if !store.IsUniqueViolation(err) {
			t.Fatalf("want a unique violation, got %v", err)
		}
		var n int
		if err := db.GetContext(ctx, &n, `SELECT COUNT(*) FROM teams`); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("rollback left %d rows", n)
		}
	})
}

func TestOpenErrorsNameTheKey(t *testing.T) {
	_, err := store.Open(context.Background(), store.Options{DSN: "not a dsn"})
	if err == nil || !contains(err.Error(), "OMNICC_DB_DSN") {
		t.Fatalf("want an error naming OMNICC_DB_DSN, got %v", err)
	}
	_, err = store.Open(context.Background(), store.Options{})
	if err == nil || !contains(err.Error(), "OMNICC_DATA_DIR") {
		t.Fatalf("want an error naming OMNICC_DATA_DIR, got %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
