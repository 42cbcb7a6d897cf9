// Package storetest runs store-backed tests on both engines omniccd supports:
// a fresh embedded SQLite file and a fresh MariaDB database, both migrated.
//
// MariaDB is reached at OMNICC_TEST_MYSQL (default root@tcp(127.0.0.1:3306)/test,
// the development and CI machines' server). Each test gets its own database,
// created next to the one named and dropped afterwards, so packages tested in
// parallel never see each other's rows. When MariaDB is down the MariaDB half
// is skipped — except with CI=true, where it fails.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"omnicc/store"
)

// DefaultMySQL is the server used when OMNICC_TEST_MYSQL is not set.
const DefaultMySQL = "root@tcp(127.0.0.1:3306)/test"

// Each runs fn as two subtests, "sqlite" and "mariadb", each with a fresh,
// migrated database.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("mariadb", func(t *testing.T) { fn(t, MariaDB(t)) })
}

// SQLite opens a migrated embedded database in a temporary directory.
func SQLite(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate sqlite: %v", err)
	}
	return db
}

// MariaDBDSN creates a fresh empty database and returns its DSN, dropping it
// when the test ends. It skips (or fails under CI) when MariaDB is down.
func MariaDBDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv("OMNICC_TEST_MYSQL")
	if base == "" {
		base = DefaultMySQL
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatalf("OMNICC_TEST_MYSQL=%q is not a MySQL DSN: %v", base, err)
	}
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatalf("open mariadb: %v", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("MariaDB at %s is unreachable and CI=true: start it (.ci/run does) — %v", cfg.Addr, err)
		}
		t.Skipf("MariaDB at %s is unreachable (set OMNICC_TEST_MYSQL or start mariadbd): %v", cfg.Addr, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "omnicc_t_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("create test database %s: %v", name, err)
	}
	t.Cleanup(func() {
		d, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			return
		}
		defer d.Close()
		_, _ = d.Exec("DROP DATABASE IF EXISTS " + name)
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}

// MariaDB opens a migrated fresh MariaDB database.
func MariaDB(t testing.TB) *store.DB {
	t.Helper()
	return MariaDBWithPools(t, nil)
}

// MariaDBWithPools is MariaDB with the given pool sizes (store.Options.PoolSizes).
func MariaDBWithPools(t testing.TB, sizes map[string]int) *store.DB {
	t.Helper()
	dsn := MariaDBDSN(t)
	db, err := store.Open(context.Background(), store.Options{DSN: dsn, PoolSizes: sizes})
	if err != nil {
		t.Fatalf("open mariadb: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate mariadb: %v", err)
	}
	return db
}

// Name is a short label for log lines in table tests.
func Name(db *store.DB) string { return fmt.Sprint(db.Dialect) }
