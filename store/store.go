// Package store opens omniccd's database — MySQL/MariaDB when a DSN is given,
// an embedded pure-Go SQLite file otherwise — applies the migrations in sql/,
// and keeps the few places where the two engines differ.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	migrations "omnicc/sql"
)

// Dialect names the SQL engine behind a DB.
type Dialect string

const (
	MySQL  Dialect = "mysql"
	SQLite Dialect = "sqlite"
)

// SQLiteFile is the embedded database's file name inside the data directory.
const SQLiteFile = "omnicc.db"

// Options says which database to open.
type Options struct {
	// DSN is a go-sql-driver/mysql DSN (OMNICC_DB_DSN). Empty selects SQLite.
	DSN string
	// DataDir holds the SQLite file when DSN is empty (OMNICC_DATA_DIR).
	DataDir string
	Logger  *slog.Logger
	// PoolSizes caps the connections of each named pool on MySQL
	// (OMNICC_DB_POOL_*); missing names take DefaultPoolSizes. SQLite
	// ignores it: see Pool.
	PoolSizes map[string]int
}

// DB is an open database with its dialect. On MySQL it is the PoolREST pool
// and owns the other named pools (Pool); Close closes them all.
type DB struct {
	*sqlx.DB
	Dialect Dialect
	log     *slog.Logger
	pools   map[string]*DB // nil on a pool handed out by Pool
	// writer is SQLite's one write lock, queued for in Go by InTx.
	writer chan struct{}
}

// Open connects and pings, but does not migrate.
func Open(ctx context.Context, o Options) (*DB, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if o.DSN != "" {
		dsn, err := mysqlDSN(o.DSN)
		if err != nil {
			return nil, err
		}
		sizes, err := poolSizes(o.PoolSizes)
		if err != nil {
			return nil, err
		}
		db, err := openMySQLPools(dsn, sizes, log)
		if err != nil {
			return nil, fmt.Errorf("store: open mysql: %w", err)
		}
		if err := db.PingContext(pctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("store: cannot reach the database in OMNICC_DB_DSN: %w", err)
		}
		return db, nil
	}
	if o.DataDir == "" {
		return nil, errors.New("store: OMNICC_DATA_DIR is empty and OMNICC_DB_DSN is not set: set one of them")
	}
	if err := os.MkdirAll(o.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("store: create OMNICC_DATA_DIR %q: %w", o.DataDir, err)
	}
	path := filepath.Join(o.DataDir, SQLiteFile)
	// WAL lets readers run beside the single writer; immediate transactions
	// take the write lock up front so two writers wait on busy_timeout
	// instead of failing with SQLITE_BUSY half-way through.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate&_time_format=sqlite"
	sdb, err := sqlx.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	sdb.SetMaxOpenConns(8)
	if err := sdb.PingContext(pctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("store: open the SQLite file in OMNICC_DATA_DIR %q: %w", o.DataDir, err)
	}
	// The health monitor's ping gets its own connection even here: with
	// the 8 busy (writers waiting on busy_timeout), a ping queued behind
	// them would report a busy database as a dead one.
	hdb, err := sqlx.Open("sqlite", dsn)
	if err != nil {
		sdb.Close()
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	hdb.SetMaxOpenConns(1)
	db := &DB{DB: sdb, Dialect: SQLite, log: log, writer: make(chan struct{}, 1)}
	db.pools = map[string]*DB{PoolREST: db, PoolHealth: {DB: hdb, Dialect: SQLite, log: log}}
	return db, nil
}

// mysqlDSN adds the driver options omniccd relies on: parsed times, UTC, and
// clientFoundRows so UPDATE reports rows matched — Asterisk's sorcery reads "0
// rows updated" as "missing".
func mysqlDSN(dsn string) (string, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("store: OMNICC_DB_DSN is not a valid MySQL DSN (user:pass@tcp(host:3306)/db): %w", err)
	}
	if cfg.DBName == "" {
		return "", errors.New("store: OMNICC_DB_DSN names no database: add /DBNAME after the address")
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.ClientFoundRows = true
	// Without it every statement with arguments costs the server a prepare
	// and an execute, two round trips where one does; the driver escapes
	// the arguments itself (utf8mb4, below, is a charset it escapes safely).
	cfg.InterpolateParams = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	if _, ok := cfg.Params["charset"]; !ok {
		cfg.Params["charset"] = "utf8mb4"
	}
	if cfg.Collation == "" || cfg.Collation == "utf8mb4_general_ci" {
		cfg.Collation = "utf8mb4_unicode_ci"
	}
	return cfg.FormatDSN(), nil
}

func (db *DB) migrationFS() (fs.FS, error) {
	if db.Dialect == MySQL {
		return fs.Sub(migrations.MySQL, "mysql")
	}
	return fs.Sub(migrations.SQLite, "sqlite")
}

func (db *DB) provider() (*goose.Provider, error) {
	fsys, err := db.migrationFS()
	if err != nil {
		return nil, err
	}
	gd := goose.DialectSQLite3
	if db.Dialect == MySQL {
		gd = goose.DialectMySQL
	}
	return goose.NewProvider(gd, db.DB.DB, fsys)
}

// Migrate applies every pending migration and returns how many ran. On
// MySQL several instances may call it at once: they take turns under a
// named lock.
func (db *DB) Migrate(ctx context.Context) (int, error) {
	p, err := db.provider()
	if err != nil {
		return 0, fmt.Errorf("store: load migrations: %w", err)
	}
	var res []*goose.MigrationResult
	up := func() error {
		res, err = p.Up(ctx)
		return err
	}
	if db.Dialect == MySQL {
		err = db.withMigrateLock(ctx, up)
	} else {
		err = up() // one process's file: SQLite's own write lock serialises
	}
	if err != nil {
		return len(res), fmt.Errorf("store: migrate %s: %w", db.Dialect, err)
	}
	for _, r := range res {
		db.log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	return len(res), nil
}

// Version is the highest applied migration.
func (db *DB) Version(ctx context.Context) (int64, error) {
	p, err := db.provider()
	if err != nil {
		return 0, err
	}
	return p.GetDBVersion(ctx)
}

// InTx runs fn in a transaction, committing when fn returns nil and rolling
// back otherwise, so a failure leaves neither half of a change.
func (db *DB) InTx(ctx context.Context, fn func(tx *sqlx.Tx) error) (err error) {
	if db.writer != nil {
		// SQLite has one writer at a time (transactions are immediate: they
		// take the write lock at BEGIN), and a BEGIN that finds it taken
		// polls: busy_timeout sleeps 1, 2, 5, 10 … up to 100 ms between
		// tries, so under a steady stream of writes some wait tens of
		// milliseconds for a lock that was free after one. Transactions
		// queue here instead, and the next starts the moment the last ends.
		// Autocommit statements still meet SQLite's own wait. A transaction
		// begun inside another's fn (which on SQLite waits for itself) goes
		// on to that wait after writerWait rather than hang here.
		t := time.NewTimer(writerWait)
		select {
		case db.writer <- struct{}{}:
			defer func() { <-db.writer }()
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("store: begin: %w", ctx.Err())
		}
		t.Stop()
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// writerWait bounds how long InTx queues for SQLite's write lock in Go
// before it leaves the waiting to SQLite's busy_timeout.
const writerWait = 2 * time.Second

// InTxRetry is InTx, run again (up to 10 times in all) when MySQL chose the
// transaction as a deadlock victim: InnoDB resolves a lock cycle between two
// transactions by rolling one back, and the documented answer is to retry
// it. A victim waits a short random while (1-4n ms before attempt n+1):
// retried at once, a dozen transactions on one row deadlocked with each
// other again and again and lost their writes (router, seen in CI under
// load). fn must touch only the transaction, since it may run more than
// once.
func (db *DB) InTxRetry(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := db.InTx(ctx, fn)
		if attempt == 10 || !IsDeadlock(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(1+rand.IntN(4*attempt)) * time.Millisecond):
		}
	}
}

// IsDeadlock reports whether err is MySQL's deadlock (1213: the transaction
// was rolled back and may be retried).
func IsDeadlock(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213
	}
	return false
}

// IsUniqueViolation reports whether err is a unique or primary key clash.
func IsUniqueViolation(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// IsUnavailable reports whether err means the database could not be reached
// (as opposed to a query the database refused).
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_BUSY || se.Code() == sqlite3.SQLITE_CANTOPEN
	}
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "bad connection") ||
		strings.Contains(s, "invalid connection") || strings.Contains(s, "broken pipe") || strings.Contains(s, "database is closed")
}

// InsertIgnore is the engine's "insert unless the key exists" statement head,
// used for idempotent association writes.
func (db *DB) InsertIgnore() string {
	if db.Dialect == MySQL {
		return "INSERT IGNORE INTO"
	}
	return "INSERT OR IGNORE INTO"
}
