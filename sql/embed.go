// Package migrations holds omniccd's versioned schema, one folder per SQL
// engine, embedded in the binary and applied by store.Migrate at start-up and
// by `omniccd migrate`.
//
// Both folders carry the same versions: a migration is written once per
// engine because MySQL and SQLite disagree on auto-increment, ENUM and a few
// types. TestMigrationVersionsMatch keeps the two lists in step.
package migrations

import "embed"

// MySQL holds the migrations for MySQL/MariaDB, under "mysql/".
//
//go:embed mysql/*.sql
var MySQL embed.FS

// SQLite holds the migrations for the embedded SQLite store, under "sqlite/".
//
//go:embed sqlite/*.sql
var SQLite embed.FS
