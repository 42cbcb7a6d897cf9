package contacts_test

import (
	"fmt"
	"slices"
	"testing"

	"omnicc/contacts"
	"omnicc/directory"
	"omnicc/store"
	"omnicc/storetest"
)

// A quick search counts at most the cap (saying so), pages by keyset in
// the default order, and finds the same contacts whichever plan the
// selectivity counts choose (the token range driving, or EXISTS per
// contact when every word is common).
func TestQuickSearchBounded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		m := newManager(t, db)
		admin := contacts.Actor{UserID: 1, Role: directory.RoleAdmin}
		list, err := m.CreateList(ctx, contacts.ListInput{Name: "bound"})
		if err != nil {
			t.Fatal(err)
		}
		var want []int64
		for i := range 7 {
			c, err := m.Create(ctx, contacts.ContactInput{ListID: list.ID, FirstName: fmt.Sprintf("Anna%d", i), Company: "Acme"})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, c.ID)
		}
		if _, err := m.Create(ctx, contacts.ContactInput{ListID: list.ID, FirstName: "Bruno", Company: "Acme"}); err != nil {
			t.Fatal(err)
		}
		slices.Reverse(want) // newest first

		walk := func(q string) (ids []int64) {
			t.Helper()
			f := contacts.Filter{Q: q, PerPage: 2}
			for range 10 {
				p, err := m.Search(ctx, admin, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range p.Items {
					ids = append(ids, c.ID)
				}
				if p.NextAfter == 0 {
					return ids
				}
				f.After = p.NextAfter
			}
			t.Fatalf("q=%q: keyset pages never ended", q)
			return nil
		}

		for _, bounds := range []struct {
			name  string
			total int
			sel   []int
		}{{"index range drives", 1000, []int{2000, 50000}}, {"exists per contact", 5, []int{2, 4}}} {
			restore := contacts.SetSearchBounds(bounds.total, bounds.sel)
			for _, q := range []string{"anna", "acme anna", "anna acme"} {
				if got := walk(q); !slices.Equal(got, want) {
					t.Errorf("%s: q=%q pages = %v, want %v", bounds.name, q, got, want)
				}
			}
			p, err := m.Search(ctx, admin, contacts.Filter{Q: "acme", PerPage: 3})
			if err != nil {
				t.Fatal(err)
			}
			wantTotal, wantCapped := 8, false
			if bounds.total < 8 {
				wantTotal, wantCapped = bounds.total, true
			}
			if p.Total != wantTotal || p.TotalCapped != wantCapped || len(p.Items) != 3 {
				t.Errorf("%s: q=acme total %d capped %v items %d, want %d %v 3", bounds.name, p.Total, p.TotalCapped, len(p.Items), wantTotal, wantCapped)
			}
			restore()
		}

		// Without q the total is exact, and after is refused with another sort.
		if p, err := m.Search(ctx, admin, contacts.Filter{ListID: list.ID}); err != nil || p.Total != 8 || p.TotalCapped {
			t.Errorf("list total = %d capped %v (%v), want 8 exact", p.Total, p.TotalCapped, err)
		}
		if _, err := m.Search(ctx, admin, contacts.Filter{After: 5, Sort: "first_name"}); fieldOf(err) != "after" {
			t.Errorf("after with sort=first_name: %v, want a field error on after", err)
		}
	})
}
