package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"time"
)

// maxLockName is MySQL's limit on a GET_LOCK name.
const maxLockName = 64

// LockName is the MySQL named lock called name for database. Named locks
// belong to the whole server, so the database's name is part of it: two
// deployments, or two test databases, on one server never share one. A
// name over MySQL's 64 characters is hashed.
func LockName(database, name string) string {
	full := "omnicc/" + database + "/" + name
	if len(full) <= maxLockName {
		return full
	}
	sum := sha256.Sum256([]byte(database + "/" + name))
	return "omnicc/" + hex.EncodeToString(sum[:])[:maxLockName-len("omnicc/")]
}

// migrateLockWait bounds how long an instance waits for another's
// migrations: the longest of them (an ALTER on a big table) must fit.
const migrateLockWait = 10 * time.Minute

// withMigrateLock runs fn holding the database's "migrate" lock, so that
// several instances started at once apply the migrations one after the
// other (the later ones find nothing left to do). The lock lives on a
// connection of its own, which is closed after: ending the session is what
// frees a named lock whatever else happened.
func (db *DB) withMigrateLock(ctx context.Context, fn func() error) error {
	// From the leadership locks' pool, not the one the migrations run on:
	// a REST pool of one connection would otherwise wait for itself.
	lockDB := db
	if p, ok := db.pools[PoolLeader]; ok {
		lockDB = p
	}
	conn, err := lockDB.DB.DB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: take the migration lock: %w", err)
	}
	defer func() {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		_ = conn.Close()
	}()
	var database sql.NullString
	if err := conn.QueryRowContext(ctx, `SELECT DATABASE()`).Scan(&database); err != nil {
		return fmt.Errorf("store: take the migration lock: %w", err)
	}
	name := LockName(database.String, "migrate")
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(?, ?)`, name, int(migrateLockWait/time.Second)).Scan(&got); err != nil {
		return fmt.Errorf("store: take the migration lock %s: %w", name, err)
	}
	if !got.Valid || got.Int64 != 1 {
		return fmt.Errorf("store: another instance has held the migration lock %s for %s: is a migration stuck? (SELECT IS_USED_LOCK('%s') names its connection)", name, migrateLockWait, name)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT RELEASE_LOCK(?)`, name) //nolint:errcheck // the session ends next anyway
	return fn()
}
