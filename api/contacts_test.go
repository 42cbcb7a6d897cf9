package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"strings"
	"testing"

	"omnicc/api"
	"omnicc/auth"
	"omnicc/contacts"
	"omnicc/directory"
	"omnicc/store"
	"omnicc/storetest"
)

// contactsMount is the contact routes' mount, for TestOpenAPICoversEveryRoute.
func contactsMount(db *store.DB) func(*api.Router) {
	cm, err := contacts.New(db, contacts.Options{})
	if err != nil {
		panic(err)
	}
	return api.NewContacts(cm).Mount
}

func newContactsEnv(t *testing.T, db *store.DB) *env {
	t.Helper()
	cm, err := contacts.New(db, contacts.Options{Numbers: contacts.NumberPlan{CountryCode: "39"}})
	if err != nil {
		t.Fatal(err)
	}
	return newEnvMounts(t, db, api.NewContacts(cm).Mount)
}

func TestContactsAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newContactsEnv(t, db)
		ann := e.createAgent(agent("ann", "webrtc"))
		bob := e.createAgent(agent("bob", "webrtc", "mask_sensitive_data", true))
		annTok, bobTok := e.login("ann", "Str0ng-Pass"), e.login("bob", "Str0ng-Pass")

		var vip, other map[string]any
		e.must(e.call("POST", "/api/v1/contact-lists", e.admin, map[string]any{"name": "vip",
			"custom_fields": []map[string]any{{"name": "tier", "type": "select", "options": []string{"gold", "silver"}, "required": true}}}, &vip), 201)
		e.must(e.call("POST", "/api/v1/contact-lists", e.admin, map[string]any{"name": "other"}, &other), 201)
		vipID, otherID := id(vip), id(other)
		e.must(e.call("PUT", fmt.Sprintf("/api/v1/contact-lists/%d/agents", vipID), e.admin, map[string]any{"agent_ids": []int64{id(ann), id(bob)}}, nil), 200)

		// Agents: only granted lists.
		var lists struct {
			Items []map[string]any
			Total int
		}
		e.must(e.call("GET", "/api/v1/contact-lists", annTok, nil, &lists), 200)
		if lists.Total != 1 || lists.Items[0]["name"] != "vip" {
			t.Errorf("ann's lists: %+v", lists)
		}
		var fail apiErr
		e.must(e.call("GET", fmt.Sprintf("/api/v1/contact-lists/%d", otherID), annTok, nil, &fail), 403)
		e.must(e.call("POST", "/api/v1/contacts", annTok, map[string]any{"list_id": otherID, "first_name": "x"}, &fail), 403)
		e.must(e.call("POST", "/api/v1/contact-lists", annTok, map[string]any{"name": "mine"}, nil), 403)

		// Bad input names the field.
		e.must(e.call("POST", "/api/v1/contacts", annTok, map[string]any{"list_id": vipID, "first_name": "x", "custom_fields": map[string]any{"tier": "bronze"}}, &fail), 422)
		if fail.Error.Field != "custom_fields.tier" {
			t.Errorf("bad custom field: %+v", fail)
		}
		var jane map[string]any
		e.must(e.call("POST", "/api/v1/contacts", annTok, map[string]any{"list_id": vipID, "first_name": "Jane", "last_name": "Doe",
			"mobile": "+39 333 123 5678", "emails": []string{"jane@example.com"}, "tags": []string{"hot"},
			"custom_fields": map[string]any{"tier": "gold"}, "external_ids": map[string]string{"whatsapp": "393331235678"}}, &jane), 201)
		if jane["phone"] != "+39 333 123 5678" || jane["created_by"] != float64(id(ann)) {
			t.Errorf("created: %v", jane)
		}
		e.must(e.call("POST", "/api/v1/contacts", annTok, map[string]any{"list_id": vipID, "first_name": "J2",
			"custom_fields": map[string]any{"tier": "gold"}, "external_ids": map[string]string{"whatsapp": "393331235678"}}, &fail), 409)
		if fail.Error.Field != "external_ids.whatsapp" {
			t.Errorf("duplicate external id: %+v", fail)
		}

		// Search, as typed, and masked for bob.
		var found struct {
			Items []map[string]any
			Total int
		}
		for _, q := range []string{"jan", "333 123", "cf.tier=gold", "tag=hot"} {
			qs := "q=" + neturl.QueryEscape(q)
			if q[0] == 'c' || q[0] == 't' {
				qs = q
			}
			e.must(e.call("GET", "/api/v1/contacts?"+qs, annTok, nil, &found), 200)
			if found.Total != 1 || found.Items[0]["first_name"] != "Jane" {
				t.Errorf("%s: %+v", q, found)
			}
		}
		e.must(e.call("GET", "/api/v1/contacts?q=jan", bobTok, nil, &found), 200)
		if found.Total != 1 || found.Items[0]["first_name"] != "J•••" || found.Items[0]["phone"] != "+39 ••• ••• 5678" ||
			found.Items[0]["emails"].([]any)[0] != "j•••@example.com" {
			t.Errorf("masked: %+v", found.Items)
		}
		var one map[string]any
		e.must(e.call("GET", fmt.Sprintf("/api/v1/contacts/%d", id(jane)), bobTok, nil, &one), 200)
		if one["last_name"] != "D•••" {
			t.Errorf("masked get: %v", one)
		}
		// Tag colours: staff set them, everyone reads them.
		e.must(e.call("PUT", "/api/v1/contact-tags/HOT", annTok, map[string]any{"color": "#e53935"}, &fail), 403)
		e.must(e.call("PUT", "/api/v1/contact-tags/hot", e.admin, map[string]any{"color": "red"}, &fail), 422)
		if fail.Error.Field != "color" {
			t.Errorf("bad colour: %+v", fail)
		}
		var tag map[string]any
		e.must(e.call("PUT", "/api/v1/contact-tags/HOT", e.admin, map[string]any{"color": "#E53935"}, &tag), 200)
		e.must(e.call("PUT", "/api/v1/contact-tags/later", e.admin, map[string]any{"color": "#00aa00"}, nil), 200)
		var tags struct {
			Items []map[string]any
			Total int
		}
		e.must(e.call("GET", "/api/v1/contact-tags", annTok, nil, &tags), 200)
		if tags.Total != 2 || mustJSON(tags.Items) != `[{"color":"#e53935","contacts":1,"name":"hot"},{"color":"#00aa00","contacts":0,"name":"later"}]` {
			t.Errorf("tags: %s", mustJSON(tags.Items))
		}
		e.must(e.call("PUT", "/api/v1/contact-tags/later", e.admin, map[string]any{"color": ""}, nil), 200)
		e.must(e.call("GET", "/api/v1/contact-tags", annTok, nil, &tags), 200)
		if tags.Total != 1 {
			t.Errorf("after removing later's colour: %s", mustJSON(tags.Items))
		}

		e.must(e.call("GET", "/api/v1/contacts?after=x", annTok, nil, &fail), 400)
		if fail.Error.Field != "after" {
			t.Errorf("after=x: %+v", fail)
		}
		e.must(e.call("GET", fmt.Sprintf("/api/v1/contacts?after=%d", id(jane)+1), annTok, nil, &found), 200)
		if len(found.Items) != 1 || id(found.Items[0]) != id(jane) {
			t.Errorf("after=%d: %+v", id(jane)+1, found)
		}
		e.must(e.call("GET", fmt.Sprintf("/api/v1/contacts?after=%d", id(jane)), annTok, nil, &found), 200)
		if len(found.Items) != 0 {
			t.Errorf("after=%d (jane's own id): %+v", id(jane), found)
		}
		e.must(e.call("GET", "/api/v1/contacts?sort=secret", annTok, nil, &fail), 422)
		e.must(e.call("GET", "/api/v1/contacts?created_from=yesterday", annTok, nil, &fail), 400)
		e.must(e.call("GET", fmt.Sprintf("/api/v1/contacts?list_id=%d", otherID), annTok, nil, &fail), 403)

		// Edit makes it ann's; mine=true finds it.
		e.must(e.call("PATCH", fmt.Sprintf("/api/v1/contacts/%d", id(jane)), annTok, map[string]any{"company": "Acme"}, &one), 200)
		e.must(e.call("GET", "/api/v1/contacts?mine=true", annTok, nil, &found), 200)
		if found.Total != 1 {
			t.Errorf("mine: %+v", found)
		}

		// Merge and duplicate.
		var dup map[string]any
		e.must(e.call("POST", fmt.Sprintf("/api/v1/contacts/%d/duplicate", id(jane)), annTok, map[string]any{"list_id": otherID}, &fail), 403)
		e.must(e.call("POST", fmt.Sprintf("/api/v1/contacts/%d/duplicate", id(jane)), e.admin, map[string]any{"list_id": otherID}, &dup), 201)
		e.must(e.call("POST", fmt.Sprintf("/api/v1/contacts/%d/merge", id(jane)), annTok, map[string]any{"from_id": id(dup)}, &fail), 403)
		var second map[string]any
		e.must(e.call("POST", "/api/v1/contacts", annTok, map[string]any{"list_id": vipID, "first_name": "Janet", "phone": "06 999",
			"custom_fields": map[string]any{"tier": "silver"}}, &second), 201)
		var merged map[string]any
		e.must(e.call("POST", fmt.Sprintf("/api/v1/contacts/%d/merge", id(jane)), annTok, map[string]any{"from_id": id(second)}, &merged), 200)
		if merged["first_name"] != "Janet" || merged["custom_fields"].(map[string]any)["tier"] != "silver" {
			t.Errorf("merged (newer wins): %v", merged)
		}
		e.must(e.call("GET", fmt.Sprintf("/api/v1/contacts/%d", id(second)), annTok, nil, &fail), 404)
		var journey struct{ Total int }
		e.must(e.call("GET", fmt.Sprintf("/api/v1/contacts/%d/journey", id(jane)), annTok, nil, &journey), 200)

		// CSV: a bad file is refused whole, a good one imported twice once.
		var rep map[string]any
		csvBody := "Name,phone,cf.tier\nZed,06 555 1234,gold\nYan,,platinum\n"
		e.must(e.callRaw("POST", fmt.Sprintf("/api/v1/contact-lists/%d/import?map.Name=first_name", vipID), annTok, csvBody, &rep), 422)
		if errs := rep["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["line"] != 3.0 || errs[0].(map[string]any)["field"] != "custom_fields.tier" {
			t.Errorf("import report: %v", rep)
		}
		csvBody = "Name,phone,cf.tier\n=cmd(),06 555 1234,gold\n"
		for _, want := range []float64{1, 0} {
			e.must(e.callRaw("POST", fmt.Sprintf("/api/v1/contact-lists/%d/import?map.Name=first_name", vipID), annTok, csvBody, &rep), 200)
			if rep["created"] != want {
				t.Errorf("import: %v", rep)
			}
		}
		e.must(e.callRaw("POST", fmt.Sprintf("/api/v1/contact-lists/%d/import", otherID), annTok, csvBody, &fail), 403)
		var exported string
		e.must(e.callRaw("GET", "/api/v1/contacts/export.csv?q=0655", annTok, "", &exported), 200)
		if !strings.Contains(exported, "'=cmd()") {
			t.Errorf("export:\n%s", exported)
		}

		// Lists: delete needs force.
		e.must(e.call("DELETE", fmt.Sprintf("/api/v1/contact-lists/%d", otherID), e.admin, nil, &fail), 422)
		if fail.Error.Field != "force" {
			t.Errorf("delete without force: %+v", fail)
		}
		e.must(e.call("DELETE", fmt.Sprintf("/api/v1/contact-lists/%d?force=true", otherID), e.admin, nil, nil), 204)
		e.must(e.call("DELETE", fmt.Sprintf("/api/v1/contacts/%d", id(jane)), annTok, nil, nil), 204)
	})
}

// callRaw sends body as text and decodes a JSON answer into out, or stores
// any other answer in out when it is a *string.
func (e *env) callRaw(method, path, token, body string, out any) int {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "text/csv")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if sp, ok := out.(*string); ok {
		*sp = string(raw)
	} else if out != nil {
		_ = json.Unmarshal(raw, out)
	}
	return res.StatusCode
}

// newEnvMounts is newEnv with extra mounts.
func newEnvMounts(t *testing.T, db *store.DB, mounts ...func(*api.Router)) *env {
	t.Helper()
	dir := directory.New(db, directory.Options{ExtensionLow: 1000, ExtensionHigh: 1999, SecuritySuite: true, BcryptCost: 4})
	if _, _, err := dir.EnsureAdmin(t.Context(), adminPassword); err != nil {
		t.Fatal(err)
	}
	authn := auth.New(db, dir, auth.Options{LockoutThreshold: 5})
	s, err := api.New(api.Options{DB: db, Directory: dir, Auth: authn, PublicURL: "https://cc.example.com", MaxBodyBytes: 64 << 10, Mounts: mounts})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: httptest.NewServer(s.Handler()), api: s, dir: dir}
	t.Cleanup(e.srv.Close)
	e.admin = e.login("admin", adminPassword)
	return e
}
