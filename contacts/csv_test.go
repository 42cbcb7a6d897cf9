package contacts_test

import (
	"bytes"
	"context"
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
