package contacts_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"omnicc/contacts"
	"omnicc/directory"
	"omnicc/store"
	"omnicc/storetest"
)

func TestImportExport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m := newManager(t, db)
		list, err := m.CreateList(ctx, contacts.ListInput{Name: "imp", CustomFields: []contacts.CustomField{{Name: "size", Type: "number"}}})
		if err != nil {
			t.Fatal(err)
		}
		bad := "Name,Surname,Tel,mail,cf.size\n" +
			"Ann,Lee,06 1234 5678,ann@example.com,3\n" +
			"Bob,,call me,,\n" +
			"Cy,,,not-mail,big\n"
		opts := contacts.ImportOptions{Mapping: map[string]string{"Name": "first_name", "Surname": "last_name", "Tel": "phone", "mail": "emails"}}
		rep, err := m.Import(ctx, list.ID, strings.NewReader(bad), opts)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Rows != 3 || len(rep.Errors) != 2 || rep.Errors[0].Line != 3 || rep.Errors[0].Field != "phone" ||
			rep.Errors[1].Line != 4 || rep.Errors[1].Field != "emails[0]" || rep.Created != 0 {
			t.Errorf("report of a bad file: %+v", rep)
		}
		if p, _ := m.Search(ctx, contacts.Actor{Role: directory.RoleAdmin}, contacts.Filter{}); p.Total != 0 {
			t.Errorf("a bad file wrote %d contacts", p.Total)
		}
		good := "Name,Surname,Tel,mail,cf.size,ext.whatsapp\n" +
			"Ann,Lee,06 1234 5678,ann@example.com,3,\n" +
			"\"=HYPERLINK(\"\"x\"\")\",Evil,,evil@example.com,,44770\n"
		opts.DryRun = true
		if rep, err = m.Import(ctx, list.ID, strings.NewReader(good), opts); err != nil || rep.Rows != 2 || len(rep.Errors) != 0 {
			t.Fatalf("dry run: %+v %v", rep, err)
		}
		if p, _ := m.Search(ctx, contacts.Actor{Role: directory.RoleAdmin}, contacts.Filter{}); p.Total != 0 {
			t.Errorf("a dry run wrote %d contacts", p.Total)
		}
		opts.DryRun = false
		for round, want := range []struct{ created, updated int }{{2, 0}, {0, 2}} {
			rep, err := m.Import(ctx, list.ID, strings.NewReader(good), opts)
			if err != nil || rep.Created != want.created || rep.Updated != want.updated {
				t.Errorf("import %d: %+v %v", round, rep, err)
			}
		}
		if p, _ := m.Search(ctx, contacts.Actor{Role: directory.RoleAdmin}, contacts.Filter{}); p.Total != 2 {
			t.Errorf("after re-import: %d contacts", p.Total)
		}
		if _, err := m.Import(ctx, list.ID, strings.NewReader(good), contacts.ImportOptions{Mapping: map[string]string{"Name": "password"}}); fieldOf(err) != "mapping.Name" {
			t.Errorf("bad mapping: %v", err)
		}
		var out bytes.Buffer
		if err := m.Export(ctx, contacts.Actor{Role: directory.RoleAdmin}, contacts.Filter{Sort: "id"}, false, &out); err != nil {
			t.Fatal(err)
		}
		csvText := out.String()
		if !strings.Contains(csvText, `"'=HYPERLINK(""x"")"`) || !strings.Contains(csvText, "Ann,Lee,,06 1234 5678,06 1234 5678,ann@example.com") || strings.Count(csvText, "\n") != 3 {
			t.Errorf("export:\n%s", csvText)
		}
	})
}

// Import writes in batches, but a row still matches what the rows before
// it wrote, in the same batch or not, as when rows were written one at a
// time: the results are the same whatever the batch size.
func TestImportRowsMatchEarlierRows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m := newManager(t, db)
		admin := contacts.Actor{Role: directory.RoleAdmin}
		file := "first_name,phone,emails,ext.whatsapp\n" +
			"Ann,0622222222,ann@x.com,\n" + // 2: new
			"Ann2,0622222222,,\n" + // 3: line 2's contact (number), which loses ann@x.com
			"Bea,,ann@x.com,\n" + // 4: new: nobody has ann@x.com any more
			"Cy,0633333333,,wa-1\n" + // 5: new
			"Cy2,,,wa-1\n" + // 6: line 5's contact (external id)
			"Al,0611111111,b@x.com,\n" + // 7: the old contact (number), which loses a@x.com and wa-a
			"Dee,,a@x.com,wa-a\n" + // 8: new, and no conflict: line 7 freed wa-a
			"Ed,0699999999,b@x.com,\n" // 9: the old contact again (b@x.com, from line 7)
		var first []string
		for _, batch := range []int{500, 1, 2, 3} {
			restore := contacts.SetImportBatch(batch)
			list, err := m.CreateList(ctx, contacts.ListInput{Name: fmt.Sprintf("batch %d", batch)})
			if err != nil {
				t.Fatal(err)
			}
			old, err := m.Create(ctx, contacts.ContactInput{ListID: list.ID, FirstName: "Old", Phone: "0611111111", Email: "a@x.com", ExternalIDs: map[string]string{"whatsapp": "wa-a"}})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := m.Import(ctx, list.ID, strings.NewReader(file), contacts.ImportOptions{})
			restore()
			if err != nil {
				t.Fatalf("batch %d: %v", batch, err)
			}
			if rep.Created != 4 || rep.Updated != 4 {
				t.Errorf("batch %d: %+v, want 4 created and 4 updated", batch, rep)
			}
			p, err := m.Search(ctx, admin, contacts.Filter{ListID: list.ID, Sort: "id"})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range p.Items {
				got = append(got, fmt.Sprintf("%s|%s|%v|%v", c.FirstName, c.Phone, c.Emails, c.ExternalIDs))
			}
			if p.Items[0].ID != old.ID || p.Items[0].FirstName != "Ed" {
				t.Errorf("batch %d: the old contact is %+v", batch, p.Items[0])
			}
			if first == nil {
				first = got
				want := []string{"Ed|0699999999|[b@x.com]|map[]", "Ann2|0622222222|[]|map[]", "Bea||[ann@x.com]|map[]",
					"Cy2||[]|map[whatsapp:wa-1]", "Dee||[a@x.com]|map[whatsapp:wa-a]"}
				if !slices.Equal(got, want) {
					t.Errorf("batch %d:\n got %q\nwant %q", batch, got, want)
				}
			} else if !slices.Equal(got, first) {
				t.Errorf("batch %d:\n got %q\nwant %q (batch 500)", batch, got, first)
			}
			// Found by the numbers and words the rows wrote last.
			if p, _ := m.Search(ctx, admin, contacts.Filter{ListID: list.ID, Q: "ann2"}); p.Total != 1 {
				t.Errorf("batch %d: q=ann2 finds %d", batch, p.Total)
			}
			if p, _ := m.Search(ctx, admin, contacts.Filter{ListID: list.ID, Q: "cy"}); p.Total != 1 || p.Items[0].FirstName != "Cy2" {
				t.Errorf("batch %d: q=cy finds %+v", batch, p.Items)
			}
		}
	})
}

// An external id another contact of the list holds fails the whole
// import at the row that would take it, whether the holder was there
// before or came from an earlier row of the same file.
func TestImportExternalIDConflict(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m := newManager(t, db)
		admin := contacts.Actor{Role: directory.RoleAdmin}
		list, err := m.CreateList(ctx, contacts.ListInput{Name: "conflict"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Create(ctx, contacts.ContactInput{ListID: list.ID, FirstName: "A", Phone: "0611111111", ExternalIDs: map[string]string{"whatsapp": "wa-a"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Create(ctx, contacts.ContactInput{ListID: list.ID, FirstName: "B", Phone: "0644444444"}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, file, value string
		}{
			{"held before", "first_name,phone,ext.whatsapp\nOk,0655555555,\nBad,0644444444,wa-a\n", "wa-a"},
			{"held by an earlier row", "first_name,phone,ext.whatsapp\nX,0677777777,wa-z\nY,0611111111,wa-z\n", "wa-z"},
		} {
			for _, batch := range []int{500, 1} {
				restore := contacts.SetImportBatch(batch)
				_, err := m.Import(ctx, list.ID, strings.NewReader(tc.file), contacts.ImportOptions{})
				restore()
				var ce *contacts.ConflictError
				if !errors.As(err, &ce) || ce.Field != "external_ids.whatsapp" || ce.Value != tc.value || !strings.Contains(err.Error(), "line 3") {
					t.Errorf("%s, batch %d: %v, want a conflict on external_ids.whatsapp %s at line 3", tc.name, batch, err, tc.value)
				}
				if p, _ := m.Search(ctx, admin, contacts.Filter{ListID: list.ID}); p.Total != 2 {
					t.Errorf("%s, batch %d: %d contacts after a failed import, want 2", tc.name, batch, p.Total)
				}
			}
		}
	})
}

// A row matches an earlier row of its batch by e-mail address as the
// database compares addresses, as it would have had the earlier row been
// written first: MariaDB's contact_emails collation takes josé@ and JOSE@
// for the same address, SQLite does not.
func TestImportMatchesEmailsAsTheDatabase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m := newManager(t, db)
		list, err := m.CreateList(ctx, contacts.ListInput{Name: "mail"})
		if err != nil {
			t.Fatal(err)
		}
		want := []struct{ created, updated int }{{2, 0}, {0, 1}}
		if db.Dialect == store.MySQL {
			want[0] = struct{ created, updated int }{1, 1}
		}
		for i, file := range []string{"first_name,emails\nAnn,josé@x.com\nBob,JOSE@x.com\n", "first_name,emails\nCy,jose@x.com\n"} {
			rep, err := m.Import(ctx, list.ID, strings.NewReader(file), contacts.ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Created != want[i].created || rep.Updated != want[i].updated {
				t.Errorf("import %d: created %d updated %d, want %+v", i+1, rep.Created, rep.Updated, want[i])
			}
		}
	})
}
