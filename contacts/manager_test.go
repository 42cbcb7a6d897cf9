package contacts_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"omnicc/contacts"
	"omnicc/directory"
	"omnicc/store"
	"omnicc/storetest"
)

func newManager(t *testing.T, db *store.DB) *contacts.Manager {
	t.Helper()
	m, err := contacts.New(db, contacts.Options{Numbers: contacts.NumberPlan{CountryCode: "39"}, CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// addUser inserts a bare user row: the grants only need its id.
func addUser(t *testing.T, db *store.DB, name string, role directory.Role, mask bool) int64 {
	t.Helper()
	now := time.Now().UTC()
	res, err := db.ExecContext(t.Context(), `INSERT INTO users (role, username, full_name, password_hash, mask_sensitive_data, created_at, updated_at)
		VALUES (?, ?, ?, 'x', ?, ?, ?)`, string(role), name, name, mask, now, now)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	return id
}

func addTeam(t *testing.T, db *store.DB, name string, members ...int64) int64 {
	t.Helper()
	now := time.Now().UTC()
	res, err := db.ExecContext(t.Context(), `INSERT INTO teams (name, created_at, updated_at) VALUES (?, ?, ?)`, name, now, now)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	for _, u := range members {
		if _, err := db.ExecContext(t.Context(), `INSERT INTO agent_teams (user_id, team_id) VALUES (?, ?)`, u, id); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

func fieldOf(err error) string {
	var fe *contacts.FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return fmt.Sprintf("not a field error: %v", err)
}

func TestListsGrantsAndCustomFields(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m := newManager(t, db)
		ann := addUser(t, db, "ann", directory.RoleAgent, false)
		bob := addUser(t, db, "bob", directory.RoleAgent, false)
		sue := addUser(t, db, "sue", directory.RoleSupervisor, false)
		team := addTeam(t, db, "sales", bob)

		if _, err := m.CreateList(ctx, contacts.ListInput{Name: "x", CustomFields: []contacts.CustomField{{Name: "tier", Type: "colour"}}}); fieldOf(err) != "custom_fields[0].type" {
			t.Errorf("bad type: %v", err)
		}
		if _, err := m.CreateList(ctx, contacts.ListInput{Name: "x", CustomFields: []contacts.CustomField{{Name: "tier", Type: "select"}}}); fieldOf(err) != "custom_fields[0].options" {
			t.Errorf("select without options: %v", err)
		}
		vip, err := m.CreateList(ctx, contacts.ListInput{Name: "vip", CustomFields: []contacts.CustomField{
			{Name: "tier", Type: "select", Options: []string{"gold", "silver"}, Required: true},
			{Name: "size", Type: "number"}, {Name: "since", Type: "date"}}})
		if err != nil {
			t.Fatal(err)
		}
		other, err := m.CreateList(ctx, contacts.ListInput{Name: "other"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.SetListAgents(ctx, vip.ID, []int64{ann, 9999}); fieldOf(err) != "agent_ids[1]" {
			t.Errorf("unknown agent: %v", err)
		}
		if _, err := m.SetListAgents(ctx, vip.ID, []int64{ann}); err != nil {
			t.Fatal(err)
		}
		if l, err := m.SetListTeams(ctx, other.ID, []int64{team}); err != nil || len(l.TeamIDs) != 1 {
			t.Fatalf("team grant: %+v %v", l, err)
		}
		visible := func(a contacts.Actor) string {
			ls, err := m.ListsFor(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, l := range ls {
				names = append(names, l.Name)
			}
			return strings.Join(names, ",")
		}
		for _, c := range []struct {
			a    contacts.Actor
			want string
		}{
			{contacts.Actor{UserID: 1, Role: directory.RoleAdmin}, "other,vip"},
			{contacts.Actor{UserID: ann, Role: directory.RoleAgent}, "vip"},
			{contacts.Actor{UserID: bob, Role: directory.RoleAgent}, "other"}, // through the team
			{contacts.Actor{UserID: sue, Role: directory.RoleSupervisor}, ""},
		} {
			if got := visible(c.a); got != c.want {
				t.Errorf("user %d sees %q, want %q", c.a.UserID, got, c.want)
			}
		}
		if err := m.CanUseList(ctx, contacts.Actor{UserID: ann, Role: directory.RoleAgent}, other.ID); !errors.Is(err, contacts.ErrForbidden) {
			t.Errorf("no grant: %v", err)
		}

		// Custom fields validated against the list.
		for field, cf := range map[string]map[string]any{
			"custom_fields.tier":  {"size": 3},
			"custom_fields.size":  {"tier": "gold", "size": "big"},
			"custom_fields.since": {"tier": "gold", "since": "31/12/2020"},
			"custom_fields.nope":  {"tier": "gold", "nope": "x"},
		} {
			if _, err := m.Create(ctx, contacts.ContactInput{ListID: vip.ID, FirstName: "x", CustomFields: cf}); fieldOf(err) != field {
				t.Errorf("%v: %v, want an error on %s", cf, err, field)
			}
		}
		c, err := m.Create(ctx, contacts.ContactInput{ListID: vip.ID, FirstName: "Jane", Mobile: "333 1234567",
			CustomFields: map[string]any{"tier": "gold", "size": "3.0", "since": "2020-12-31"}})
		if err != nil {
			t.Fatal(err)
		}
		if c.Phone != "333 1234567" || c.CustomFields["size"] != 3.0 {
			t.Errorf("created: %+v", c)
		}
		if err := m.DeleteList(ctx, vip.ID, false); fieldOf(err) != "force" {
			t.Errorf("delete of a list with contacts: %v", err)
		}
		if err := m.DeleteList(ctx, vip.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Get(ctx, c.ID); !errors.Is(err, contacts.ErrNotFound) {
			t.Errorf("contact of a deleted list: %v", err)
		}
	})
}

func TestContactsSearchAndExternalIDs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m := newManager(t, db)
		admin := contacts.Actor{UserID: 1, Role: directory.RoleAdmin}
		list, err := m.CreateList(ctx, contacts.ListInput{Name: "l", CustomFields: []contacts.CustomField{{Name: "city", Type: "text"}}})
		if err != nil {
			t.Fatal(err)
		}
		owner := addUser(t, db, "own", directory.RoleAgent, false)
		mk := func(in contacts.ContactInput) *contacts.Contact {
			in.ListID = list.ID
			c, err := m.Create(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		jane := mk(contacts.ContactInput{FirstName: "Jane", LastName: "Müller", Company: "Acme Ltd", Phone: "+39 06 1234 5678",
			Emails: []string{"jane@example.com"}, Tags: []string{"VIP"}, CustomFields: map[string]any{"city": "Rome"},
			ExternalIDs: map[string]string{"whatsapp": "390612345678"}, OwnerID: &owner})
		john := mk(contacts.ContactInput{FirstName: "John", LastName: "Smith", Phone: "02 999 8888", Email: "js@example.org"})
		if _, err := m.Create(ctx, contacts.ContactInput{ListID: list.ID, FirstName: "dup", ExternalIDs: map[string]string{"whatsapp": "390612345678"}}); !errors.As(err, new(*contacts.ConflictError)) {
			t.Errorf("duplicate external id: %v", err)
		}
		search := func(f contacts.Filter) []int64 {
			t.Helper()
			page, err := m.Search(ctx, admin, f)
			cs, total := page.Items, page.Total
			if err != nil {
				t.Fatal(err)
			}
			if total != len(cs) {
				t.Errorf("%+v: total %d, %d items", f, total, len(cs))
			}
			ids := []int64{}
			for _, c := range cs {
				ids = append(ids, c.ID)
			}
			return ids
		}
		for _, c := range []struct {
			f    contacts.Filter
			want []int64
		}{
			{contacts.Filter{Q: "jan"}, []int64{jane.ID}},
			{contacts.Filter{Q: "muller"}, []int64{jane.ID}},
			{contacts.Filter{Q: "MÜL"}, []int64{jane.ID}},
			{contacts.Filter{Q: "acme jane"}, []int64{jane.ID}},
			{contacts.Filter{Q: "acme john"}, []int64{}},
			{contacts.Filter{Q: "06 1234"}, []int64{jane.ID}},
			{contacts.Filter{Q: "+39 06"}, []int64{jane.ID}},
			{contacts.Filter{Q: "0039 0612"}, []int64{jane.ID}},
			{contacts.Filter{Q: "02999"}, []int64{john.ID}},
			{contacts.Filter{Q: "example"}, []int64{john.ID, jane.ID}},
			{contacts.Filter{Q: "js@ex"}, []int64{john.ID}},
			{contacts.Filter{Q: "100%"}, []int64{}},
			{contacts.Filter{Tag: "vip"}, []int64{jane.ID}},
			{contacts.Filter{Custom: map[string]string{"city": "Rome"}}, []int64{jane.ID}},
			{contacts.Filter{Phone: "0299988 88"}, []int64{john.ID}},
			{contacts.Filter{Email: "JANE@example.com"}, []int64{jane.ID}},
			{contacts.Filter{LastName: "Smi"}, []int64{john.ID}},
			{contacts.Filter{Channel: "whatsapp", ExternalID: "390612345678"}, []int64{jane.ID}},
			{contacts.Filter{CreatedFrom: time.Now().Add(time.Hour)}, []int64{}},
			{contacts.Filter{Sort: "first_name"}, []int64{jane.ID, john.ID}},
			{contacts.Filter{Sort: "-first_name"}, []int64{john.ID, jane.ID}},
		} {
			if got := search(c.f); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("%+v: %v, want %v", c.f, got, c.want)
			}
		}
		if p, _ := m.Search(ctx, contacts.Actor{UserID: owner, Role: directory.RoleAgent}, contacts.Filter{}); len(p.Items) != 0 {
			t.Errorf("an agent without grants sees %d contacts", len(p.Items))
		}
		if _, err := m.SetListAgents(ctx, list.ID, []int64{owner}); err != nil {
			t.Fatal(err)
		}
		if p, _ := m.Search(ctx, contacts.Actor{UserID: owner, Role: directory.RoleAgent}, contacts.Filter{Mine: true}); len(p.Items) != 1 || p.Items[0].ID != jane.ID {
			t.Errorf("mine: %v", p.Items)
		}
		if _, err := m.Search(ctx, admin, contacts.Filter{Sort: "password"}); fieldOf(err) != "sort" {
			t.Errorf("bad sort: %v", err)
		}
		// Editing: numbers re-normalised, search follows, owner set.
		newPhone := "+39 02 555 0000"
		up, err := m.Update(ctx, john.ID, contacts.ContactPatch{Phone: &newPhone, Mobile: &newPhone}, owner)
		if err != nil {
			t.Fatal(err)
		}
		if up.OwnerID == nil || *up.OwnerID != owner || up.UpdatedBy == nil {
			t.Errorf("edited: %+v", up)
		}
		if got := search(contacts.Filter{Q: "02999"}); len(got) != 0 {
			t.Errorf("old number still found: %v", got)
		}
		if c, found, _ := m.LookupCaller(ctx, "025550000"); !found || c.ID != john.ID {
			t.Errorf("caller lookup after edit: %v %v", c, found)
		}
	})
}

func TestMergeAndDuplicate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m := newManager(t, db)
		list, _ := m.CreateList(ctx, contacts.ListInput{Name: "a", CustomFields: []contacts.CustomField{{Name: "city", Type: "text"}}})
		other, _ := m.CreateList(ctx, contacts.ListInput{Name: "b"})
		keep, err := m.Create(ctx, contacts.ContactInput{ListID: list.ID, FirstName: "Jane", Phone: "0611111111", Emails: []string{"a@x.io"}, Tags: []string{"t1"}})
		if err != nil {
			t.Fatal(err)
		}
		from, err := m.Create(ctx, contacts.ContactInput{ListID: list.ID, FirstName: "Janet", LastName: "Doe", Phone: "0622222222",
			Emails: []string{"b@x.io"}, ExternalIDs: map[string]string{"webchat": "u1"}, CustomFields: map[string]any{"city": "Rome"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO call_log (at, direction, caller, contact_id) VALUES (?, 'inbound', '0622222222', ?)`, time.Now().UTC(), from.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Merge(ctx, keep.ID, contacts.MergeInput{FromID: keep.ID}); fieldOf(err) != "from_id" {
			t.Errorf("self merge: %v", err)
		}
		if _, err := m.Merge(ctx, keep.ID, contacts.MergeInput{FromID: from.ID, Fields: []string{"password"}}); fieldOf(err) != "fields[0]" {
			t.Errorf("bad field: %v", err)
		}
		got, err := m.Merge(ctx, keep.ID, contacts.MergeInput{FromID: from.ID, Fields: []string{"last_name"}})
		if err != nil {
			t.Fatal(err)
		}
		if got.FirstName != "Jane" || got.LastName != "Doe" || got.Phone != "0611111111" || len(got.Emails) != 2 ||
			got.ExternalIDs["webchat"] != "u1" || got.CustomFields["city"] != "Rome" {
			t.Errorf("merged: %+v", got)
		}
		if _, err := m.Get(ctx, from.ID); !errors.Is(err, contacts.ErrNotFound) {
			t.Errorf("merged contact still there: %v", err)
		}
		var n int
		_ = db.GetContext(ctx, &n, `SELECT COUNT(*) FROM call_log WHERE contact_id = ?`, keep.ID)
		if n != 1 {
			t.Errorf("call log rows moved: %d", n)
		}
		_ = db.GetContext(ctx, &n, `SELECT COUNT(*) FROM contact_merges WHERE survivor_id = ? AND merged_id = ?`, keep.ID, from.ID)
		if n != 1 {
			t.Errorf("audit rows: %d", n)
		}
		j, total, err := m.Journey(ctx, keep.ID, 1, 10)
		if err != nil || total != 1 || len(j) != 1 || j[0].Kind != "call" {
			t.Errorf("journey: %+v %d %v", j, total, err)
		}
		// A failed merge changes nothing: the survivor's external id clashes
		// with a third contact only after the merge — forced here by a
		// contact in the way.
		dup, err := m.Duplicate(ctx, keep.ID, other.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if dup.ListID != other.ID || len(dup.CustomFields) != 0 || dup.ExternalIDs["webchat"] != "u1" {
			t.Errorf("duplicate: %+v", dup)
		}
		if _, err := m.Duplicate(ctx, keep.ID, other.ID, 0); !errors.As(err, new(*contacts.ConflictError)) {
			t.Errorf("second duplicate into the same list: %v", err)
		}
		if _, err := m.Duplicate(ctx, keep.ID, 999, 0); fieldOf(err) != "list_id" {
			t.Errorf("duplicate into a missing list: %v", err)
		}
	})
}

func TestFindOrCreateConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m := newManager(t, db)
		list, _ := m.CreateList(ctx, contacts.ListInput{Name: "wa", CustomFields: []contacts.CustomField{{Name: "tier", Type: "text", Required: true}}})
		who := contacts.Identity{Channel: "whatsapp", ExternalID: "447700900123", Phone: "+44 7700 900123", Name: "Sam Jones"}
		const n = 8
		var wg sync.WaitGroup
		ids := make([]int64, n)
		created := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				c, cr, err := m.FindOrCreate(ctx, list.ID, who)
				if err == nil {
					ids[i], created[i] = c.ID, cr
				}
				errs[i] = err
			})
		}
		wg.Wait()
		nCreated := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("sender %d: %v", i, errs[i])
			}
			if ids[i] != ids[0] {
				t.Errorf("two contacts for one sender: %v", ids)
			}
			if created[i] {
				nCreated++
			}
		}
		if nCreated != 1 {
			t.Errorf("%d callers say they created the contact", nCreated)
		}
		c, _ := m.Get(ctx, ids[0])
		if c.FirstName != "Sam" || c.LastName != "Jones" || c.Source != contacts.SourceTrigger {
			t.Errorf("created: %+v", c)
		}
		// The same person by number alone, and by e-mail on another channel.
		if got, cr, err := m.FindOrCreate(ctx, list.ID, contacts.Identity{Phone: "0044 7700 900123"}); err != nil || cr || got.ID != c.ID {
			t.Errorf("by phone: %v %v %v", got, cr, err)
		}
		mail, cr, err := m.FindOrCreate(ctx, list.ID, contacts.Identity{Channel: "webchat", Email: "sam@example.com"})
		if err != nil || !cr {
			t.Fatalf("by e-mail: %v %v", cr, err)
		}
		if again, cr, _ := m.FindOrCreate(ctx, list.ID, contacts.Identity{Email: "SAM@example.com"}); cr || again.ID != mail.ID {
			t.Errorf("e-mail again: %v %v", again, cr)
		}
		if _, _, err := m.FindOrCreate(ctx, list.ID, contacts.Identity{Name: "nobody"}); fieldOf(err) != "external_id" {
			t.Errorf("no identity: %v", err)
		}
	})
}

func TestMasking(t *testing.T) {
	c := &contacts.Contact{FirstName: "Jane", LastName: "Doe", Phone: "+39 06 1234 5678", Mobile: "0612345678",
		Emails: []string{"jane@example.com"}, ExternalIDs: map[string]string{"whatsapp": "390612345678"}}
	m := contacts.Masked(c)
	if m.FirstName != "J•••" || m.LastName != "D•••" || m.Phone != "+39 ••• ••• 5678" || m.Mobile != "••• ••• 5678" ||
		m.Emails[0] != "j•••@example.com" || m.ExternalIDs["whatsapp"] != "•••5678" {
		t.Errorf("masked: %+v", m)
	}
	if c.FirstName != "Jane" || c.Emails[0] != "jane@example.com" {
		t.Errorf("the original changed: %+v", c)
	}
}

// TestQuickSearchUsesIndex shows on MariaDB how a quick search lists its
// matches: the driving word is a range on contact_tokens' primary key, and
// each other word either a lookup by contact on the (contact_id) index or,
// read whole, a range joined by key; never a scan.
func TestQuickSearchUsesIndex(t *testing.T) {
	db := storetest.MariaDB(t)
	ctx := t.Context()
	m := newManager(t, db)
	list, err := m.CreateList(ctx, contacts.ListInput{Name: "plan"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if _, err := m.Create(ctx, contacts.ContactInput{ListID: list.ID, FirstName: fmt.Sprintf("Jan%d", i), LastName: []string{"Rossi", "Bianchi"}[i%2], Company: "Acme"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `ANALYZE TABLE contact_tokens`); err != nil {
		t.Fatal(err)
	}
	plan := func(q string) []string {
		t.Helper()
		sql, args, err := contacts.QuickSearchIDs(ctx, m, q)
		if err != nil {
			t.Fatal(err)
		}
		r, err := db.QueryxContext(ctx, `EXPLAIN `+sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var steps []string
		for r.Next() {
			row := map[string]any{}
			if err := r.MapScan(row); err != nil {
				t.Fatal(err)
			}
			steps = append(steps, fmt.Sprintf("%s %s %s", row["table"], row["type"], row["key"]))
		}
		return steps
	}
	// The lookups per candidate are the optimiser's to arrange (with 200
	// contacts MariaDB turns the EXISTS into a semi-join; at a million it
	// looks each candidate up on contact_tokens_contact_idx): whatever it
	// picks must be index accesses.
	for _, tc := range []struct {
		name, q string
		whole   float64
		want    string // a step the plan must have
	}{
		{"one word", "jan1", 32, "t0 range PRIMARY"},
		{"lookup per candidate", "jan1 rossi", 0, "t0 range PRIMARY"},
		{"read whole", "jan1 rossi", 1e9, "<derived2> ref key0"},
	} {
		restore := contacts.SetWholeRatio(tc.whole)
		steps := plan(tc.q)
		restore()
		if len(steps) == 0 || steps[0] != "t0 range PRIMARY" || !slices.Contains(steps, tc.want) {
			t.Errorf("%s: q=%q plan %q: want t0 range PRIMARY first, and %q", tc.name, tc.q, steps, tc.want)
		}
		for _, s := range steps {
			if typ := strings.Fields(s)[1]; typ != "range" && typ != "ref" && typ != "eq_ref" {
				t.Errorf("%s: q=%q plan %q: %q is not an index access", tc.name, tc.q, steps, s)
			}
		}
	}
}

// TestMergeUnderConcurrentEdits merges while both contacts are being
// edited: every edit either lands before the merge (and is merged) or
// finds the removed contact gone; nothing is half-merged.
func TestMergeUnderConcurrentEdits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m := newManager(t, db)
		list, _ := m.CreateList(ctx, contacts.ListInput{Name: "c"})
		keep, _ := m.Create(ctx, contacts.ContactInput{ListID: list.ID, FirstName: "Keep", Phone: "0611111111"})
		from, _ := m.Create(ctx, contacts.ContactInput{ListID: list.ID, FirstName: "From", Phone: "0622222222", ExternalIDs: map[string]string{"webchat": "w1"}})
		var wg sync.WaitGroup
		editErrs := make(chan error, 40)
		for i := range 20 {
			wg.Go(func() {
				company := fmt.Sprintf("co%d", i)
				_, err := m.Update(ctx, keep.ID, contacts.ContactPatch{Company: &company}, 0)
				editErrs <- err
				tag := []string{fmt.Sprintf("t%d", i)}
				_, err = m.Update(ctx, from.ID, contacts.ContactPatch{Tags: &tag}, 0)
				if errors.Is(err, contacts.ErrNotFound) {
					err = nil
				}
				editErrs <- err
			})
		}
		merged, err := m.Merge(ctx, keep.ID, contacts.MergeInput{FromID: from.ID})
		wg.Wait()
		close(editErrs)
		if err != nil {
			t.Fatal(err)
		}
		for err := range editErrs {
			if err != nil {
				t.Errorf("edit: %v", err)
			}
		}
		got, err := m.Get(ctx, keep.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ExternalIDs["webchat"] != "w1" || merged.ExternalIDs["webchat"] != "w1" {
			t.Errorf("survivor lost the external id: %+v", got)
		}
		var n int
		_ = db.GetContext(ctx, &n, `SELECT COUNT(*) FROM contacts`)
		if n != 1 {
			t.Errorf("%d contacts after the merge", n)
		}
		_ = db.GetContext(ctx, &n, `SELECT COUNT(*) FROM contact_external_ids WHERE contact_id = ?`, keep.ID)
		if n != 1 {
			t.Errorf("side rows of the survivor: %d external ids", n)
		}
	})
}
