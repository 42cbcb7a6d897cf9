package contacts_test

import (
	"context"
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
