package store

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// The named connection pools. On MySQL each is its own *sql.DB opened from
// the same DSN, so that one subsystem waiting on a slow database, or busy
// under load, cannot take the connections another needs: a soak with one
// shared pool of 32 left FastAGI caller lookups and realtime lookups waiting
// for a connection (and timing out) while MariaDB was idle.
const (
	// PoolREST serves the REST API and everything not named below; it is
	// the *DB that Open returns.
	PoolREST = "rest"
	// PoolRealtime serves Asterisk's realtime lookups (res_config_curl).
	PoolRealtime = "realtime"
	// PoolAGI serves the FastAGI caller lookups, one per inbound call.
	PoolAGI = "agi"
	// PoolWriters serves the write-behind writers (the call log).
	PoolWriters = "writers"
	// PoolHealth is the health monitor's own: its ping must never queue
	// behind busy subsystems, or a busy daemon would look like a dead
	// database.
	PoolHealth = "health"
	// PoolLeader holds the leadership locks (package leader): one
	// connection per role this instance leads or waits for, each held open
	// for as long as the role is, so it must never share a pool with
	// anything that can run out, and must hold every role (omniccd sizes
	// it from the number of Asterisk boxes).
	PoolLeader = "leader"
)

// DefaultPoolSizes are the MaxOpenConns of each pool when Options.PoolSizes
// does not say. Their sum (66, and up to 32 more for leadership, one per
// role: an Asterisk box, the router, a job) stays under MariaDB's default
// max_connections of 151 for one instance; several instances need more.
var DefaultPoolSizes = map[string]int{
	PoolREST:     16,
	PoolRealtime: 16,
	PoolAGI:      24,
	PoolWriters:  8,
	PoolHealth:   2,
	PoolLeader:   32,
}

func poolSizes(given map[string]int) (map[string]int, error) {
	sizes := make(map[string]int, len(DefaultPoolSizes))
	for name, n := range DefaultPoolSizes {
		sizes[name] = n
	}
	for name, n := range given {
		if _, ok := DefaultPoolSizes[name]; !ok {
			return nil, fmt.Errorf("store: unknown connection pool %q (known: %s)", name, strings.Join(PoolNames(), ", "))
		}
		if n < 1 {
			return nil, fmt.Errorf("store: OMNICC_DB_POOL_%s is %d: a pool needs at least 1 connection", strings.ToUpper(name), n)
		}
		sizes[name] = n
	}
	return sizes, nil
}

// PoolNames lists the pools, sorted.
func PoolNames() []string {
	names := make([]string, 0, len(DefaultPoolSizes))
	for n := range DefaultPoolSizes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// openMySQLPools opens one *sql.DB per pool; none connects until used.
func openMySQLPools(dsn string, sizes map[string]int, log *slog.Logger) (*DB, error) {
	pools := make(map[string]*DB, len(sizes))
	for _, name := range PoolNames() {
		x, err := sqlx.Open("mysql", dsn)
		if err != nil {
			for _, p := range pools {
				p.DB.Close()
			}
			return nil, err
		}
		n := sizes[name]
		x.SetMaxOpenConns(n)
		// As many idle as open: under load a smaller idle cap closes and
		// reopens connections on every burst, which costs a handshake each
		// and piles up TIME_WAIT sockets.
		x.SetMaxIdleConns(n)
		x.SetConnMaxLifetime(5 * time.Minute)
		x.SetConnMaxIdleTime(time.Minute)
		pools[name] = &DB{DB: x, Dialect: MySQL, log: log}
	}
	rest := pools[PoolREST]
	rest.pools = pools
	return rest, nil
}

// Pool returns the named pool (PoolRealtime, PoolAGI, ...) for a subsystem
// to use in place of db. On SQLite it returns db itself but for
// PoolHealth: the embedded database has a single writer whatever the
// pools, and its connections are files opened in-process, so one pool of 8
// serves every subsystem.
//
// Pool panics on a name that is not one of the constants: that is a
// programming error, not a configuration one.
func (db *DB) Pool(name string) *DB {
	p, ok := db.pools[name]
	if !ok {
		if db.Dialect == SQLite && db.pools != nil {
			if _, known := DefaultPoolSizes[name]; known {
				return db
			}
		}
		panic(fmt.Sprintf("store: Pool(%q): no such pool on this handle (known: %s)", name, strings.Join(PoolNames(), ", ")))
	}
	return p
}

// Pools returns the distinct *sql.DB of each pool by name, for metrics. On
// SQLite it has PoolREST and PoolHealth.
func (db *DB) Pools() map[string]*sql.DB {
	out := make(map[string]*sql.DB, len(db.pools))
	for name, p := range db.pools {
		out[name] = p.DB.DB
	}
	return out
}

// Close closes every pool db owns.
func (db *DB) Close() error {
	var errs []error
	for _, p := range db.pools {
		if p != db {
			errs = append(errs, p.DB.Close())
		}
	}
	errs = append(errs, db.DB.Close())
	return errors.Join(errs...)
}
