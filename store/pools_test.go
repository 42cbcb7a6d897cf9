package store_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"omnicc/store"
	"omnicc/storetest"
)

// A subsystem that holds every connection of its pool must not keep
// another subsystem from the database: the soak's caller lookups timed out
// waiting behind a single shared pool.
func TestPoolsDoNotShareConnections(t *testing.T) {
	t.Run("mariadb", func(t *testing.T) {
		db, err := store.Open(context.Background(), store.Options{DSN: storetest.MariaDBDSN(t),
			PoolSizes: map[string]int{store.PoolREST: 2, store.PoolAGI: 3}})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ctx := t.Context()
		var held []*sql.Conn
		for range 2 {
			c, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
		}
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		// The REST pool is now empty; a query on it would wait. The AGI
		// pool answers: with one pool for both this Get would hang until
		// a REST connection came back.
		agi := db.Pool(store.PoolAGI)
		var one int
		// The deadline only turns a hang into a failure; it measures nothing.
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := agi.GetContext(qctx, &one, `SELECT 1`); err != nil || one != 1 {
			t.Fatalf("query on the agi pool while rest is exhausted: %d, %v", one, err)
		}
		if got := agi.Stats().MaxOpenConnections; got != 3 {
			t.Fatalf("agi pool MaxOpenConns = %d, want 3", got)
		}
		if got := db.Pool(store.PoolRealtime).Stats().MaxOpenConnections; got != store.DefaultPoolSizes[store.PoolRealtime] {
			t.Fatalf("realtime pool MaxOpenConns = %d, want the default %d", got, store.DefaultPoolSizes[store.PoolRealtime])
		}
		if db.Pool(store.PoolREST) != db || len(db.Pools()) != len(store.DefaultPoolSizes) {
			t.Fatalf("pools: %v", db.Pools())
		}
		if db.Pool(store.PoolWriters).Dialect != store.MySQL {
			t.Fatal("a pool must carry the dialect")
		}
	})
	t.Run("sqlite", func(t *testing.T) {
		db := storetest.SQLite(t)
		if db.Pool(store.PoolHealth) == db {
			t.Fatal("sqlite: the health monitor must have its own connection")
		}
		for _, name := range store.PoolNames() {
			if name != store.PoolHealth && db.Pool(name) != db {
				t.Fatalf("sqlite: Pool(%q) must be the one pool", name)
			}
		}
	})
}

func TestPoolSizeErrorsNameTheKey(t *testing.T) {
	_, err := store.Open(context.Background(), store.Options{DSN: "root@tcp(127.0.0.1:1)/x",
		PoolSizes: map[string]int{store.PoolAGI: 0}})
	if err == nil || !strings.Contains(err.Error(), "OMNICC_DB_POOL_AGI") {
		t.Fatalf("want an error naming OMNICC_DB_POOL_AGI, got %v", err)
	}
}

func TestPoolMetrics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		reg := prometheus.NewRegistry()
		h := store.NewHealth(db, store.HealthOptions{})
		reg.MustRegister(db.Collector(h))
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		pools := map[string]bool{}
		var up bool
		for _, mf := range mfs {
			switch mf.GetName() {
			case "omnicc_db_pool_waits_total":
				for _, m := range mf.Metric {
					pools[m.Label[0].GetValue()] = true
				}
			case "omnicc_db_up":
				up = mf.Metric[0].GetGauge().GetValue() == 1
			}
		}
		if len(pools) != len(db.Pools()) || !pools[store.PoolREST] {
			t.Fatalf("waits reported for pools %v, want %d pools", pools, len(db.Pools()))
		}
		if !up {
			t.Fatal("omnicc_db_up is not 1")
		}
	})
}
