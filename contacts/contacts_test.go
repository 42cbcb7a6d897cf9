package contacts_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"omnicc/contacts"
	"omnicc/store"
	"omnicc/storetest"
)

func TestNormalize(t *testing.T) {
	italy := contacts.NumberPlan{CountryCode: "39"}
	uk := contacts.NumberPlan{CountryCode: "44", TrunkPrefix: "0"}
	us := contacts.NumberPlan{CountryCode: "1", TrunkPrefix: "1", InternationalPrefix: "011", MinNationalDigits: 10}
	none := contacts.NumberPlan{}
	for _, c := range []struct {
		plan contacts.NumberPlan
		in   string
		want string
	}{
		{italy, "+39 06 1234-5678", "390612345678"},
		{italy, "0039 (06) 12345678", "390612345678"},
		{italy, "06 12345678", "390612345678"}, // the Italian 0 is part of the number
		{italy, "333.123.4567", "393331234567"},
		{italy, "1001", "1001"}, // an extension stays as it is
		{uk, "020 7946 0000", "442079460000"},
		{uk, "+44 20 7946 0000", "442079460000"},
		{us, "(212) 555-1234", "12125551234"},
		{us, "1 212 555 1234", "12125551234"},
		{us, "011 39 06 12345678", "390612345678"},
		{none, "06 12345678", "0612345678"},
		{none, "+1 212 555 1234", "12125551234"},
		{italy, "anonymous", ""},
		{italy, "", ""},
		{italy, "+", ""},
		{italy, "*21#", ""},
		{italy, "+" + strings.Repeat("1", 21), ""},
	} {
		if got := c.plan.Normalize(c.in); got != c.want {
			t.Errorf("%+v: %q → %q, want %q", c.plan, c.in, got, c.want)
		}
	}
	if err := (contacts.NumberPlan{CountryCode: "+39"}).Validate(); err == nil || !strings.Contains(err.Error(), "CountryCode") {
		t.Errorf("a + in the country code: %v", err)
	}
}

func TestCallerLookup(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 3, 30, 10, 0, 0, 0, time.UTC)
		// The race below is about one contact, not about time: a loaded CI
		// box took over the 500 ms default for eight SQLite writers.
		m, err := contacts.New(db, contacts.Options{Numbers: contacts.NumberPlan{CountryCode: "39"}, Now: func() time.Time { return now },
			CallerTimeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		list, err := m.CreateList(ctx, contacts.ListInput{Name: "customers"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.CreateList(ctx, contacts.ListInput{Name: "Customers"}); !errors.As(err, new(*contacts.ConflictError)) {
			t.Fatalf("duplicate list: %v", err)
		}
		// Unknown, and remembered as unknown.
		if _, found, err := m.LookupCaller(ctx, "+39 06 12345678"); found || err != nil {
			t.Fatalf("before any contact: %v %v", found, err)
		}
		// Only a phone: it is copied to mobile, and the cached "unknown"
		// is forgotten.
		c, err := m.Create(ctx, contacts.ContactInput{ListID: list.ID, FirstName: "Ann", LastName: "O'Neil", Phone: "06 1234 5678"})
		if err != nil {
			t.Fatal(err)
		}
		if c.Mobile != "06 1234 5678" || c.Source != contacts.SourceManual {
			t.Fatalf("created: %+v", c)
		}
		for _, n := range []string{"+390612345678", "0039 06 12345678", "0612345678"} {
			got, found, err := m.LookupCaller(ctx, n)
			if err != nil || !found || got.ID != c.ID || got.Name != "Ann O'Neil" {
				t.Errorf("lookup %s: %+v %v %v", n, got, found, err)
			}
		}
		// Found by mobile alone.
		bob, err := m.Create(ctx, contacts.ContactInput{ListID: list.ID, FirstName: "Bob", Phone: "021111111", Mobile: "+39 333 1234567"})
		if err != nil {
			t.Fatal(err)
		}
		if got, found, _ := m.LookupCaller(ctx, "3331234567"); !found || got.ID != bob.ID {
			t.Errorf("lookup by mobile: %+v %v", got, found)
		}
		for field, in := range map[string]contacts.ContactInput{
			"list_id":    {FirstName: "x"},
			"phone":      {ListID: list.ID, Phone: "call me"},
			"mobile":     {ListID: list.ID, Phone: "1234567", Mobile: "12ab"},
			"emails[0]":  {ListID: list.ID, Email: "not an address"},
			"first_name": {ListID: list.ID},
		} {
			var fe *contacts.FieldError
			if _, err := m.Create(ctx, in); !errors.As(err, &fe) || fe.Field != field {
				t.Errorf("want an error on %s, got %v", field, err)
			}
		}
		if _, err := m.Create(ctx, contacts.ContactInput{ListID: 999, FirstName: "x"}); err == nil || !strings.Contains(err.Error(), "no contact list has id 999") {
			t.Errorf("missing list: %v", err)
		}

		// Unknown callers: created once however many calls race.
		var wg sync.WaitGroup
		results := make([]contacts.Caller, 8)
		createdN := make([]bool, 8)
		for i := range results {
			wg.Go(func() {
				var err error
				results[i], createdN[i], err = m.CreateUnknownCaller(ctx, list.ID, "+39 02 9999 8888", "Mario Rossi")
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		created := 0
		for i, r := range results {
			if r.ID != results[0].ID || r.Name != "Mario Rossi" {
				t.Errorf("racer %d got %+v, racer 0 %+v", i, r, results[0])
			}
			if createdN[i] {
				created++
			}
		}
		if created != 1 {
			t.Errorf("%d racers say they created the contact", created)
		}
		got, err := m.Get(ctx, results[0].ID)
		if err != nil || got.Phone != "+39 02 9999 8888" || got.Mobile != got.Phone || got.Source != contacts.SourceUnknownCaller || got.FirstName != "Mario Rossi" {
			t.Fatalf("unknown caller's contact: %+v %v", got, err)
		}
		if c, found, _ := m.LookupCaller(ctx, "0299998888"); !found || c.ID != got.ID {
			t.Errorf("the created caller is known on the next call: %+v %v", c, found)
		}
		if c, created, err := m.CreateUnknownCaller(ctx, list.ID, "anonymous", ""); c.ID != 0 || created || err != nil {
			t.Errorf("an anonymous caller is not stored: %+v %v %v", c, created, err)
		}
		if c, _, err := m.CreateUnknownCaller(ctx, list.ID, "0211112222", "unknown"); err != nil || c.Name != "" {
			t.Errorf("Asterisk's 'unknown' is not a name: %+v %v", c, err)
		}
	})
}

// The lookup on the routing path is two index searches, never a scan.
func TestCallerQueryUsesIndexes(t *testing.T) {
	db := storetest.SQLite(t)
	rows, err := db.Query(`EXPLAIN QUERY PLAN `+contacts.CallerQuery, "390612345678", "390612345678")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	all := strings.Join(plan, "\n")
	for _, want := range []string{"contacts_phone_norm_idx", "contacts_mobile_norm_idx"} {
		if !strings.Contains(all, want) {
			t.Errorf("plan does not use %s:\n%s", want, all)
		}
	}
	if strings.Contains(all, "SCAN contacts") {
		t.Errorf("plan scans contacts:\n%s", all)
	}
}

// BenchmarkLookupCaller is the caller lookup of every inbound call, from
// the cache and from SQLite (two index searches), among 10,000 contacts.
//
//	go test -run='^$' -bench=BenchmarkLookupCaller ./contacts/
func BenchmarkLookupCaller(b *testing.B) {
	db := storetest.SQLite(b)
	ctx := context.Background()
	seed, err := contacts.New(db, contacts.Options{Numbers: contacts.NumberPlan{CountryCode: "39"}})
	if err != nil {
		b.Fatal(err)
	}
	list, err := seed.CreateList(ctx, contacts.ListInput{Name: "customers"})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10000 {
		if _, err := seed.Create(ctx, contacts.ContactInput{ListID: list.ID, FirstName: "c", Phone: fmt.Sprintf("06%08d", i),
			Mobile: fmt.Sprintf("3%09d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	for name, ttl := range map[string]time.Duration{"cache": 0, "query": -1} {
		b.Run(name, func(b *testing.B) {
			m, err := contacts.New(db, contacts.Options{Numbers: contacts.NumberPlan{CountryCode: "39"}, CacheTTL: ttl})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, found, err := m.LookupCaller(ctx, "+39 3000005000"); err != nil || !found {
					b.Fatal(found, err)
				}
			}
		})
	}
}
