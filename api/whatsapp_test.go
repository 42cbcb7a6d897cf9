package api_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	nurl "net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"omnicc/api"
	"omnicc/auth"
	"omnicc/channels/whatsapp"
	"omnicc/directory"
	"omnicc/router"
	"omnicc/store"
	"omnicc/storetest"
)

const publicURL = "https://cc.example.com"

func whatsAppMount(t *testing.T, db *store.DB) func(*api.Router) {
	conn, err := whatsapp.New(whatsapp.Options{Store: whatsapp.NewStore(db, nil), PublicURL: publicURL})
	if err != nil {
		t.Fatal(err)
	}
	return api.NewWhatsApp(conn, router.New(router.Options{DB: db})).Mount
}

// waEnv is the API with the WhatsApp routes mounted and a fake provider
// that records every send.
type waEnv struct {
	*env
	db    *store.DB
	sends atomic.Int32
	fake  *httptest.Server
}

func newWAEnv(t *testing.T, db *store.DB) *waEnv {
	t.Helper()
	w := &waEnv{db: db}
	w.fake = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		n := w.sends.Add(1)
		rw.Header().Set("Content-Type", "application/json")
		if strings.Contains(r.URL.Path, "/Messages.json") {
			rw.WriteHeader(201)
			fmt.Fprintf(rw, `{"sid":"SMout%d","status":"queued"}`, n)
			return
		}
		fmt.Fprintf(rw, `{"messaging_product":"whatsapp","messages":[{"id":"wamid.out%d"}]}`, n)
	}))
	t.Cleanup(w.fake.Close)
	dir := directory.New(db, directory.Options{ExtensionLow: 1000, ExtensionHigh: 1999, BcryptCost: 4})
	if _, _, err := dir.EnsureAdmin(t.Context(), adminPassword); err != nil {
		t.Fatal(err)
	}
	authn := auth.New(db, dir, auth.Options{LockoutThreshold: 5})
	s, err := api.New(api.Options{DB: db, Directory: dir, Auth: authn, PublicURL: publicURL, MaxBodyBytes: 1 << 20,
		Mounts: []func(*api.Router){whatsAppMount(t, db)}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: httptest.NewServer(s.Handler()), api: s, dir: dir}
	t.Cleanup(e.srv.Close)
	e.admin = e.login("admin", adminPassword)
	w.env = e
	return w
}

func (w *waEnv) metaAccount() int64 {
	var a map[string]any
	w.must(w.call("POST", "/api/v1/whatsapp-accounts", w.admin, map[string]any{"name": "Meta", "provider": "meta",
		"phone_number_id": "106540352242922", "access_token": "made-up-access-token", "app_secret": "made-up-app-secret",
		"verify_token": "made-up-verify-token", "api_base_url": w.fake.URL + "/v21.0"}, &a), 201)
	return id(a)
}

func (w *waEnv) post(path string, body []byte, header ...string) (int, string) {
	w.t.Helper()
	req, _ := http.NewRequestWithContext(w.t.Context(), "POST", w.srv.URL+path, bytes.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(raw)
}

func (w *waEnv) count(q string, args ...any) int {
	var n int
	if err := w.db.GetContext(w.t.Context(), &n, q, args...); err != nil {
		w.t.Fatal(err)
	}
	return n
}

func waTestdata(t *testing.T, name string) []byte {
	raw, err := os.ReadFile("../channels/whatsapp/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(raw)
}

func TestWhatsAppAccountsMaskSecrets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWAEnv(t, db)
		aid := w.metaAccount()
		var a map[string]any
		w.must(w.call("GET", fmt.Sprintf("/api/v1/whatsapp-accounts/%d", aid), w.admin, nil, &a), 200)
		if a["access_token"] != "****oken" || a["app_secret"] != "****cret" || a["provider"] != "meta" {
			t.Fatalf("account = %v", a)
		}
		var list struct{ Items []map[string]any }
		w.must(w.call("GET", "/api/v1/whatsapp-accounts", w.admin, nil, &list), 200)
		if len(list.Items) != 1 || strings.Contains(fmt.Sprint(list.Items), "made-up") {
			t.Fatalf("list leaks secrets: %v", list.Items)
		}
		var fail apiErr
		w.must(w.call("POST", "/api/v1/whatsapp-accounts", w.admin, map[string]any{"name": "T", "provider": "twilio", "account_sid": "ACx"}, &fail), 422)
		if fail.Error.Field != "auth_token" {
			t.Fatalf("error names %q", fail.Error.Field)
		}
		w.must(w.call("POST", "/api/v1/whatsapp-accounts", w.admin, map[string]any{"name": "X", "provider": "telegram"}, &fail), 422)
		w.must(w.call("POST", "/api/v1/whatsapp-accounts", w.admin, map[string]any{"name": "T", "provider": "twilio", "account_sid": "ACx",
			"auth_token": "made-up-twilio-token", "from": "+14155238886"}, &a), 201)
		if a["api_base_url"] != whatsapp.DefaultTwilioBaseURL {
			t.Fatalf("default base = %v", a["api_base_url"])
		}
		w.must(w.call("PATCH", fmt.Sprintf("/api/v1/whatsapp-accounts/%d", aid), w.admin, map[string]any{"name": "Meta 2"}, &a), 200)
		if a["name"] != "Meta 2" || a["verify_token"] != "****oken" {
			t.Fatalf("patched = %v", a)
		}
		w.must(w.call("DELETE", fmt.Sprintf("/api/v1/whatsapp-accounts/%d", aid), w.admin, nil, nil), 204)
		w.must(w.call("GET", fmt.Sprintf("/api/v1/whatsapp-accounts/%d", aid), w.admin, nil, &fail), 404)
	})
}

func TestMetaWebhookVerifySignatureAndDuplicates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWAEnv(t, db)
		aid := w.metaAccount()
		hook := fmt.Sprintf("/api/v1/webhooks/whatsapp/%d", aid)

		res, err := http.Get(w.srv.URL + hook + "?hub.mode=subscribe&hub.verify_token=made-up-verify-token&hub.challenge=1158201444")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(raw) != "1158201444" {
			t.Fatalf("handshake %d %q", res.StatusCode, raw)
		}
		res, _ = http.Get(w.srv.URL + hook + "?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1")
		res.Body.Close()
		if res.StatusCode != 403 {
			t.Fatalf("wrong verify token: %d", res.StatusCode)
		}

		body := waTestdata(t, "meta_batch.json")
		if st, _ := w.post(hook, body); st != 401 {
			t.Fatalf("unsigned: %d", st)
		}
		if st, _ := w.post(hook, body, "X-Hub-Signature-256", whatsapp.SignMeta("wrong-secret", body)); st != 403 {
			t.Fatalf("mis-signed: %d", st)
		}
		if n := w.count(`SELECT COUNT(*) FROM whatsapp_messages`); n != 0 {
			t.Fatalf("%d messages stored from bad signatures", n)
		}
		if st, _ := w.post("/api/v1/webhooks/whatsapp/999", body, "X-Hub-Signature-256", whatsapp.SignMeta("made-up-app-secret", body)); st != 404 {
			t.Fatalf("unknown account: %d", st)
		}
		bad := []byte(`{"object":"whatsapp_business_account","entry":[`)
		if st, _ := w.post(hook, bad, "X-Hub-Signature-256", whatsapp.SignMeta("made-up-app-secret", bad)); st != 400 {
			t.Fatalf("malformed: %d", st)
		}
		sig := whatsapp.SignMeta("made-up-app-secret", body)
		for range 2 {
			if st, msg := w.post(hook, body, "X-Hub-Signature-256", sig); st != 200 {
				t.Fatalf("signed: %d %s", st, msg)
			}
		}
		if n := w.count(`SELECT COUNT(*) FROM whatsapp_messages WHERE account_id = ?`, aid); n != 13 {
			t.Fatalf("%d messages after a duplicate delivery, want 13", n)
		}
		var win map[string]any
		w.must(w.call("GET", fmt.Sprintf("/api/v1/whatsapp-accounts/%d/conversations/14155550199", aid), w.admin, nil, &win), 200)
		if win["window_expires_at"] != "2025-06-09T21:00:17Z" {
			t.Fatalf("window = %v", win)
		}
		// Media not downloaded (no worker here) and unknown messages: 404.
		var fail apiErr
		img := w.count(`SELECT id FROM whatsapp_messages WHERE external_id = 'wamid.IMG1'`)
		w.must(w.call("GET", fmt.Sprintf("/api/v1/whatsapp-messages/%d/media", img), w.admin, nil, &fail), 404)
		w.must(w.call("GET", "/api/v1/whatsapp-messages/99999/media", w.admin, nil, &fail), 404)
	})
}

func TestTwilioWebhookSignedOverPublicURL(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWAEnv(t, db)
		var a map[string]any
		w.must(w.call("POST", "/api/v1/whatsapp-accounts", w.admin, map[string]any{"name": "T", "provider": "twilio", "account_sid": "ACmadeup",
			"auth_token": "made-up-twilio-token", "from": "+14155238886", "api_base_url": w.fake.URL}, &a), 201)
		hook := fmt.Sprintf("/api/v1/webhooks/twilio/%d", id(a))
		raw := waTestdata(t, "twilio_inbound.txt")
		form, _ := nurl.ParseQuery(string(raw))
		ct := "application/x-www-form-urlencoded"
		// Signed over the address the test server listens on, not the
		// public URL Twilio was given: refused.
		if st, _ := w.post(hook, raw, "Content-Type", ct, "X-Twilio-Signature", whatsapp.TwilioSignature("made-up-twilio-token", w.srv.URL+hook, form)); st != 403 {
			t.Fatalf("signed over the private URL: %d", st)
		}
		if st, _ := w.post(hook, raw, "Content-Type", ct); st != 401 {
			t.Fatalf("unsigned: %d", st)
		}
		sig := whatsapp.TwilioSignature("made-up-twilio-token", publicURL+hook, form)
		for range 2 {
			if st, msg := w.post(hook, raw, "Content-Type", ct, "X-Twilio-Signature", sig); st != 200 {
				t.Fatalf("signed: %d %s", st, msg)
			}
		}
		if n := w.count(`SELECT COUNT(*) FROM whatsapp_messages WHERE external_id = 'SM1f0e8ae6ade43cb3c0ce4525424e404f'`); n != 1 {
			t.Fatalf("%d rows for one MessageSid delivered twice", n)
		}
	})
}

func TestWhatsAppTemplatesAndSendOutsideWindow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWAEnv(t, db)
		aid := w.metaAccount()
		var tpl map[string]any
		w.must(w.call("POST", "/api/v1/whatsapp-templates", w.admin, map[string]any{"account_id": aid, "name": "recontact",
			"language": "en_US", "components": []any{}, "recontact": true, "close_on_quick_reply": true}, &tpl), 201)
		var fail apiErr
		w.must(w.call("POST", "/api/v1/whatsapp-templates", w.admin, map[string]any{"account_id": aid, "name": "x"}, &fail), 422)
		if fail.Error.Field != "language" {
			t.Fatalf("field %q", fail.Error.Field)
		}
		w.must(w.call("POST", "/api/v1/whatsapp-templates", w.admin, map[string]any{"account_id": 999, "name": "x", "language": "en"}, &fail), 422)
		var out map[string]any
		w.must(w.call("POST", fmt.Sprintf("/api/v1/whatsapp-templates/%d/send", id(tpl)), w.admin, map[string]any{"to": "+16505551234", "parameters": []string{"Sheena"}}, &out), 201)
		if out["external_id"] != "wamid.out1" || w.sends.Load() != 1 {
			t.Fatalf("send = %v (%d calls)", out, w.sends.Load())
		}
		var list struct{ Items []map[string]any }
		w.must(w.call("GET", fmt.Sprintf("/api/v1/whatsapp-templates?account_id=%d", aid), w.admin, nil, &list), 200)
		if len(list.Items) != 1 || list.Items[0]["close_on_quick_reply"] != true {
			t.Fatalf("templates = %v", list.Items)
		}
	})
}
