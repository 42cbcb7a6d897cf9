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
			walk  int64
			whole float64
		}{
			{"all matches listed", 1000, []int{2000, 50000}, 5000, 32},
			{"capped, walk finds the page", 5, []int{2, 4}, 5000, 32},
			{"capped, walk then ranges", 5, []int{2, 4}, 1, 32},
			{"capped, ranges only", 5, []int{2, 4}, 0, 32},
			{"lookups per candidate", 5, []int{2, 4}, 1, 0},
			{"words read whole", 5, []int{2, 4}, 1, 1e9},
		} {
			restore := contacts.SetSearchBounds(bounds.total, bounds.sel)
			restoreWalk := contacts.SetQuickWalk(bounds.walk)
			restoreWhole := contacts.SetWholeRatio(bounds.whole)
			for _, q := range []string{"anna", "acme anna", "anna acme"} {
				if got := walk(q); !slices.Equal(got, want) {
					t.Errorf("%s: q=%q pages = %v, want %v", bounds.name, q, got, want)
				}
				// Numbered pages too, in both orders.
				p, err := m.Search(ctx, admin, contacts.Filter{Q: q, PerPage: 2, Page: 2})
				if err != nil {
					t.Fatal(err)
				}
				if got := ids(p.Items); !slices.Equal(got, want[2:4]) {
					t.Errorf("%s: q=%q page 2 = %v, want %v", bounds.name, q, got, want[2:4])
				}
				p, err = m.Search(ctx, admin, contacts.Filter{Q: q, PerPage: 3, Page: 2, Sort: "id"})
				if err != nil {
					t.Fatal(err)
				}
				asc := slices.Clone(want)
				slices.Reverse(asc)
				if got := ids(p.Items); !slices.Equal(got, asc[3:6]) {
					t.Errorf("%s: q=%q sort=id page 2 = %v, want %v", bounds.name, q, got, asc[3:6])
				}
			}
			restoreWhole()
			restoreWalk()
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

func ids(cs []*contacts.Contact) []int64 {
	out := []int64{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// With a filter that turns some matches down (here another list's), a
// capped quick search still pages through exactly the list's matches,
// newest first, whether the page comes from the walk, the ranges below
// it, or both.
func TestQuickSearchFilteredPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		m := newManager(t, db)
		admin := contacts.Actor{UserID: 1, Role: directory.RoleAdmin}
		var lists [2]int64
		for i := range lists {
			l, err := m.CreateList(ctx, contacts.ListInput{Name: fmt.Sprintf("l%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			lists[i] = l.ID
		}
		var want []int64
		for i := range 24 {
			// Five of the other list's for each of this one's, interleaved:
			// a chunk of candidates below the walk may hold none of them.
			c, err := m.Create(ctx, contacts.ContactInput{ListID: lists[min(i%6, 1)], FirstName: fmt.Sprintf("Zed%d", i), LastName: "Ash"})
			if err != nil {
				t.Fatal(err)
			}
			if i%6 == 0 {
				want = append(want, c.ID)
			}
		}
		slices.Reverse(want)
		restore := contacts.SetSearchBounds(2, []int{2, 4})
		defer restore()
		for _, walk := range []int64{5000, 2, 0} {
			restoreWalk := contacts.SetQuickWalk(walk)
			for _, q := range []string{"zed", "zed ash"} {
				var got []int64
				f := contacts.Filter{Q: q, ListID: lists[0], PerPage: 1}
				for range 10 {
					p, err := m.Search(ctx, admin, f)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, ids(p.Items)...)
					if p.NextAfter == 0 {
						break
					}
					f.After = p.NextAfter
				}
				if !slices.Equal(got, want) {
					t.Errorf("walk %d: q=%q pages = %v, want %v", walk, q, got, want)
				}
				p, err := m.Search(ctx, admin, contacts.Filter{Q: q, ListID: lists[0], PerPage: 2, Page: 2})
				if err != nil {
					t.Fatal(err)
				}
				if !p.TotalCapped || !slices.Equal(ids(p.Items), want[2:4]) {
					t.Errorf("walk %d: q=%q page 2 = %v (capped %v), want %v", walk, q, ids(p.Items), p.TotalCapped, want[2:4])
				}
			}
			restoreWalk()
		}
	})
}
