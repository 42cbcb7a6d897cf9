package store_test

import (
	"context"
	"sync"
	"testing"

	"omnicc/store"
	"omnicc/storetest"
)

// Three instances started at once against one fresh MariaDB database take
// turns: one applies every migration, the others find nothing to do, and
// none fails.
func TestConcurrentMigratorsTakeTurns(t *testing.T) {
	dsn := storetest.MariaDBDSN(t)
	const n = 3
	dbs := make([]*store.DB, n)
	for i := range dbs {
		db, err := store.Open(context.Background(), store.Options{DSN: dsn})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs[i] = db
	}
	applied := make([]int, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() {
			<-start
			applied[i], errs[i] = db.Migrate(t.Context())
		})
	}
	close(start)
	wg.Wait()
	total, ran := 0, 0
	for i := range dbs {
		if errs[i] != nil {
			t.Fatalf("migrator %d: %v", i, errs[i])
		}
		total += applied[i]
		if applied[i] > 0 {
			ran++
		}
	}
	want, err := dbs[0].Version(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sqlite := storetest.SQLite(t)
	latest, err := sqlite.Version(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want != latest {
		t.Fatalf("schema version %d, want the latest %d", want, latest)
	}
	if ran != 1 {
		t.Fatalf("%d migrators applied migrations (%v); want one, the others finding nothing left", ran, applied)
	}
	var rows int
	if err := dbs[0].Get(&rows, `SELECT COUNT(*) FROM goose_db_version WHERE version_id > 0`); err != nil {
		t.Fatal(err)
	}
	if rows != total {
		t.Fatalf("goose_db_version has %d rows, %d migrations were applied", rows, total)
	}
}

func TestLockNameFitsMySQL(t *testing.T) {
	if got := store.LockName("omnicc", "migrate"); got != "omnicc/omnicc/migrate" {
		t.Fatalf("LockName = %q", got)
	}
	long := store.LockName("omnicc_production_eu_west", "ami:asterisk-box-number-042.example.com:5038")
	if len(long) > 64 {
		t.Fatalf("LockName is %d characters, MySQL takes 64", len(long))
	}
	if long == store.LockName("omnicc_production_eu_west", "ami:asterisk-box-number-043.example.com:5038") {
		t.Fatal("two long names share a lock")
	}
}
