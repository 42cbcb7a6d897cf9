package contacts_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"omnicc/contacts"
	"omnicc/store"
	"omnicc/storetest"
)

// The caller lookup of every inbound call runs on its own pool: REST
// holding all of its connections must not make a caller wait. In the soak
// 70,079 lookups timed out behind one shared pool.
func TestCallerLookupsUseTheirOwnPool(t *testing.T) {
	db := storetest.MariaDBWithPools(t, map[string]int{store.PoolREST: 1})
	ctx := t.Context()
	m, err := contacts.New(db, contacts.Options{CacheTTL: -1, CallerDB: db.Pool(store.PoolAGI)})
	if err != nil {
		t.Fatal(err)
	}
	list, err := m.CreateList(ctx, contacts.ListInput{Name: "callers"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(ctx, contacts.ContactInput{ListID: list.ID, FirstName: "Ann", Phone: "0612345678"}); err != nil {
		t.Fatal(err)
	}
	held, err := db.Conn(ctx) // the REST pool's only connection
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	// The deadline only turns a hang into a failure; it measures nothing.
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, found, err := m.LookupCaller(lctx, "0612345678")
	if err != nil || !found || c.Name != "Ann" {
		t.Fatalf("lookup while REST holds its pool: %+v %v %v", c, found, err)
	}
	if _, _, err := m.CreateUnknownCaller(lctx, list.ID, "0699999999", ""); err != nil {
		t.Fatalf("create while REST holds its pool: %v", err)
	}
}

// BenchmarkCallerLookupWhileRESTIsBusy measures one caller lookup (cache
// off, so every one reaches MariaDB) while REST keeps its pool busy with
// slow statements: on a pool shared with REST ("shared", as before the
// pools were split) a lookup queues for a connection; on its own ("own")
// it does not. pool-waits/op is the wait count of the pool the lookups use
// (REST's waits included when it is shared), per lookup.
//
//	go test -run '^$' -bench CallerLookupWhileRESTIsBusy -benchtime 200x ./contacts/
func BenchmarkCallerLookupWhileRESTIsBusy(b *testing.B) {
	for _, own := range []bool{false, true} {
		name := "shared"
		if own {
			name = "own"
		}
		b.Run(name, func(b *testing.B) {
			db := storetest.MariaDBWithPools(b, map[string]int{store.PoolREST: 8, store.PoolAGI: 8})
			lookups := db
			if own {
				lookups = db.Pool(store.PoolAGI)
			}
			m, err := contacts.New(db, contacts.Options{CacheTTL: -1, CallerDB: lookups, CallerTimeout: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var busy sync.WaitGroup
			for range 16 { // twice REST's pool: it is always full
				busy.Add(1)
				go func() {
					defer busy.Done()
					for ctx.Err() == nil {
						_, _ = db.ExecContext(ctx, `SELECT SLEEP(0.02)`)
					}
				}()
			}
			defer func() { cancel(); busy.Wait() }()
			before := lookups.Stats().WaitCount
			b.ResetTimer()
			for range b.N {
				if _, _, err := m.LookupCaller(ctx, "0612345678"); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(lookups.Stats().WaitCount-before)/float64(b.N), "pool-waits/op")
		})
	}
}
