package directory_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"omnicc/directory"
	"omnicc/store"
	"omnicc/storetest"
)

// A route change applies to every call that starts after the write call
// has returned (what the REST answer waits for), and calls running while
// the table is rebuilt never fall into a gap: the soak saw "no route" for
// routes that existed, from lookups answered by the previous table.
//
// The stable route exists in every version; change i points it at the
// external number 39060000i, so the number a lookup gets names the version
// of the table that answered. Lookups run in a loop beside the changes;
// each remembers the last change committed before it started and must be
// answered by that version or a later one. Every few changes a new route
// is created, and looked up at once by the writer.
func TestRouteChangesAreSeenByTheNextCall(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const changes, lookers = 60, 4
		r := newRouting(t, db)
		ctx := context.Background()
		at := utc("2026-03-30T08:00:00Z")
		target := func(i int) string { return fmt.Sprintf("39060000%04d", i) }
		stable := r.create(in("stable", "0611111111", "external", target(0)))
		if _, err := r.table.Inbound(ctx, "0611111111", "", at); err != nil {
			t.Fatal(err)
		}

		var committed atomic.Int64 // the last change whose write call returned
		stop := make(chan struct{})
		errs := make(chan error, lookers)
		var wg sync.WaitGroup
		for range lookers {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					want := committed.Load()
					dec, err := r.table.Inbound(ctx, "0611111111", "5551234", at)
					if err != nil {
						errs <- fmt.Errorf("after change %d: %w", want, err)
						return
					}
					got, err := strconv.ParseInt(strings.TrimPrefix(dec.Dest.Target, "39060000"), 10, 64)
					if dec.Route != "stable" || err != nil {
						errs <- fmt.Errorf("after change %d: routed to %s → %s", want, dec.Route, dec.Dest.Target)
						return
					}
					if got < want {
						errs <- fmt.Errorf("a lookup started after change %d was answered by the table of change %d", want, got)
						return
					}
				}
			})
		}

		for i := 1; i <= changes; i++ {
			open := directory.Destination{Type: directory.DestExternal, Target: target(i)}
			if _, err := r.d.UpdateInboundRoute(ctx, stable.ID, directory.InboundRouteInput{Open: &open}); err != nil {
				t.Fatal(err)
			}
			committed.Store(int64(i))
			if i%5 == 0 {
				did := fmt.Sprintf("07%08d", i)
				r.create(in(fmt.Sprintf("new-%d", i), did, "queue", "sales"))
				if dec, err := r.table.Inbound(ctx, did, "5551234", at); err != nil || dec.Route != fmt.Sprintf("new-%d", i) {
					t.Errorf("the first call to route new-%d after its creation: %+v, %v", i, dec, err)
				}
			}
		}
		close(stop)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if dec, err := r.table.Inbound(ctx, "0611111111", "", at); err != nil || dec.Dest.Target != target(changes) {
			t.Errorf("after the last change: %+v, %v", dec, err)
		}
	})
}

// While a rebuild is held up by the database, a lookup that knows of a
// newer change waits for it instead of answering from the table it
// replaces, and a lookup whose call has ended stops waiting with its
// context's error. MariaDB holds the rebuild: a table lock blocks the
// rebuild's read of inbound_routes until it is released.
func TestRouteLookupWaitsForTheRebuildUnderWay(t *testing.T) {
	db := storetest.MariaDB(t)
	r := newRouting(t, db)
	ctx := context.Background()
	at := utc("2026-03-30T08:00:00Z")
	// LoadTimeout is a hang guard here: the rebuild must wait for the lock.
	table := directory.NewRouteTable(r.d, directory.RouteTableOptions{LoadTimeout: time.Minute})
	if _, err := table.Inbound(ctx, "12345", "", at); !errors.Is(err, directory.ErrNoRoute) {
		t.Fatalf("empty table: %v", err)
	}
	r.create(in("main", "_X.", "queue", "sales"))

	locker, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	if _, err := locker.ExecContext(ctx, `LOCK TABLES inbound_routes WRITE`); err != nil {
		t.Fatal(err)
	}
	type result struct {
		dec directory.InboundDecision
		err error
	}
	first, second := make(chan result, 1), make(chan result, 1)
	go func() {
		dec, err := table.Inbound(ctx, "12345", "", at)
		first <- result{dec, err}
	}()
	waitForLockWait(t, db)

	// The rebuild is under way and blocked: a call that has ended gets
	// its context's error, never the old table's "no route".
	ended, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := table.Inbound(ended, "12345", "", at); !errors.Is(err, context.Canceled) {
		t.Errorf("an ended call during the rebuild: %v, want context.Canceled", err)
	}
	go func() {
		dec, err := table.Inbound(ctx, "12345", "", at)
		second <- result{dec, err}
	}()

	if _, err := locker.ExecContext(ctx, `UNLOCK TABLES`); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []chan result{first, second} {
		if res := <-ch; res.err != nil || res.dec.Route != "main" {
			t.Errorf("a call during the rebuild: %+v, %v; want route main", res.dec, res.err)
		}
	}
}

// waitForLockWait returns once a query of this test's database is waiting
// for a table lock.
func waitForLockWait(t *testing.T, db *store.DB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // a hang guard
	for {
		var n int
		err := db.Get(&n, `SELECT COUNT(*) FROM information_schema.PROCESSLIST
			WHERE DB = DATABASE() AND STATE LIKE 'Waiting for table%'`)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the rebuild never waited for the table lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
