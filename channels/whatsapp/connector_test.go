package whatsapp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"omnicc/channels/whatsapp"
	"omnicc/clock"
	"omnicc/store"
	"omnicc/storetest"
)

var t0 = time.Date(2025, 6, 8, 22, 0, 0, 0, time.UTC) // after the testdata timestamps

// fakeGraph is a Graph API that records every send and answers from a
// script: one answer per call, the last repeated.
type fakeGraph struct {
	mu      sync.Mutex
	sends   []map[string]any
	forms   []url.Values
	answers []fakeAnswer
	uploads []upload
}

type fakeAnswer struct {
	status int
	body   string
}

func (f *fakeGraph) handler(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/media") && r.Method == http.MethodPost {
			f.upload(t, w, r)
			return
		}
		raw, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		n := len(f.sends) + len(f.forms)
		if r.Header.Get("Content-Type") == "application/json" {
			if r.Header.Get("Authorization") != "Bearer made-up-token" || r.URL.Path != "/v21.0/106540352242922/messages" {
				t.Errorf("graph call %s %s auth %q", r.Method, r.URL.Path, r.Header.Get("Authorization"))
			}
			var m map[string]any
			_ = json.Unmarshal(raw, &m)
			f.sends = append(f.sends, m)
		} else {
			form, _ := url.ParseQuery(string(raw))
			f.forms = append(f.forms, form)
		}
		a := fakeAnswer{200, fmt.Sprintf(`{"messaging_product":"whatsapp","contacts":[{"input":"16505551234","wa_id":"16505551234"}],"messages":[{"id":"wamid.SENT%d"}]}`, n)}
		if len(f.answers) > 0 {
			a = f.answers[min(n, len(f.answers)-1)]
		}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	})
}

// upload is Meta's media store: it keeps each file and answers its id.
func (f *fakeGraph) upload(t *testing.T, w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer made-up-token" || r.FormValue("messaging_product") != "whatsapp" {
		t.Errorf("media upload auth %q product %q", r.Header.Get("Authorization"), r.FormValue("messaging_product"))
	}
	file, hdr, err := r.FormFile("file")
	if err != nil {
		t.Errorf("media upload without a file: %v", err)
		http.Error(w, "no file", http.StatusBadRequest)
		return
	}
	data, _ := io.ReadAll(file)
	f.mu.Lock()
	f.uploads = append(f.uploads, upload{name: hdr.Filename, mime: r.FormValue("type"), data: data})
	n := len(f.uploads)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"media-%d"}`, n)
}

type upload struct {
	name, mime string
	data       []byte
}

func (f *fakeGraph) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sends) + len(f.forms)
}

type rig struct {
	st    *whatsapp.Store
	conn  *whatsapp.Connector
	clock *clock.Fake
	graph *fakeGraph
	acct  whatsapp.Account
	db    *store.DB
}

func newRig(t *testing.T, db *store.DB, inbox whatsapp.Inbox) *rig {
	t.Helper()
	r := &rig{clock: clock.NewFake(t0), graph: &fakeGraph{}, db: db}
	srv := httptest.NewServer(r.graph.handler(t))
	t.Cleanup(srv.Close)
	r.st = whatsapp.NewStore(db, r.clock)
	var err error
	r.conn, err = whatsapp.New(whatsapp.Options{Store: r.st, Inbox: inbox, Clock: r.clock, HTTP: srv.Client(), MaxAttempts: 4})
	if err != nil {
		t.Fatal(err)
	}
	s := func(v string) *string { return &v }
	r.acct, err = r.st.CreateAccount(t.Context(), whatsapp.AccountInput{Name: s("Sales"), Provider: s("meta"),
		PhoneNumberID: s("106540352242922"), AccessToken: s("made-up-token"), AppSecret: s("made-up-app-secret"),
		VerifyToken: s("made-up-verify"), APIBaseURL: s(srv.URL + "/v21.0")})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) receive(t *testing.T, name string) int {
	t.Helper()
	d, err := whatsapp.ParseMeta(readTestdata(t, name))
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.conn.Receive(t.Context(), r.acct, d)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDuplicateDeliveryIsOneMessage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db, nil)
		if n := r.receive(t, "meta_batch.json"); n != 13 {
			t.Fatalf("first delivery stored %d, want 13", n)
		}
		if n := r.receive(t, "meta_batch.json"); n != 0 {
			t.Fatalf("redelivery stored %d, want 0", n)
		}
		var count int
		if err := db.GetContext(t.Context(), &count, `SELECT COUNT(*) FROM whatsapp_messages`); err != nil || count != 13 {
			t.Fatalf("%d rows (%v), want 13", count, err)
		}
		// The database, not the code path, refuses the duplicate.
		_, err := db.ExecContext(t.Context(), `INSERT INTO whatsapp_messages (account_id, direction, external_id, wa_id, kind, status, sent_at, created_at)
			VALUES (?, 'in', 'wamid.IMG1', 'x', 'text', 'received', ?, ?)`, r.acct.ID, t0, t0)
		if !store.IsUniqueViolation(err) {
			t.Fatalf("a second wamid.IMG1 row: %v", err)
		}
	})
}

func TestWindowOpensOnlyForwardFromCustomerMessages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db, nil)
		ctx := t.Context()
		if exp, _ := r.st.WindowExpiresAt(ctx, r.acct.ID, "16505551234"); !exp.IsZero() {
			t.Fatalf("window before any message: %v", exp)
		}
		r.receive(t, "meta_images.json") // timestamp 1749416500
		want := time.Unix(1749416500, 0).UTC().Add(24 * time.Hour)
		exp, err := r.st.WindowExpiresAt(ctx, r.acct.ID, "16505551234")
		if err != nil || !exp.Equal(want) {
			t.Fatalf("window %v (%v), want %v", exp, err, want)
		}
		// An older message delivered late does not shorten it.
		r.receive(t, "meta_text.json") // timestamp 1749416383
		if exp, _ := r.st.WindowExpiresAt(ctx, r.acct.ID, "16505551234"); !exp.Equal(want) {
			t.Fatalf("late old message moved the window to %v", exp)
		}
		// Our own sends do not extend it.
		if _, err := r.conn.Send(ctx, whatsapp.Outbound{AccountID: r.acct.ID, To: "16505551234", Body: "hi"}); err != nil {
			t.Fatal(err)
		}
		if exp, _ := r.st.WindowExpiresAt(ctx, r.acct.ID, "16505551234"); !exp.Equal(want) {
			t.Fatalf("an outbound message moved the window to %v", exp)
		}
	})
}

func TestSendTextInsideWindow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db, nil)
		r.receive(t, "meta_images.json")
		sent, err := r.conn.Send(t.Context(), whatsapp.Outbound{AccountID: r.acct.ID, To: "16505551234", Body: "We will fix it"})
		if err != nil {
			t.Fatal(err)
		}
		if sent.ExternalID != "wamid.SENT0" {
			t.Fatalf("sent = %+v", sent)
		}
		got := r.graph.sends[0]
		if got["messaging_product"] != "whatsapp" || got["to"] != "16505551234" || got["type"] != "text" ||
			got["biz_opaque_callback_data"] != fmt.Sprintf("omnicc:%d", sent.MessageID) {
			t.Fatalf("graph got %v", got)
		}
		if got["text"].(map[string]any)["body"] != "We will fix it" {
			t.Fatalf("text = %v", got["text"])
		}
		m, err := r.st.Message(t.Context(), sent.MessageID)
		if err != nil || m.Direction != "out" || m.ExternalID.String != "wamid.SENT0" || m.Status != "pending" || m.Attempts != 1 {
			t.Fatalf("stored %+v %v", m, err)
		}
	})
}

func TestFreeTextOutsideWindowRefusedWithoutProviderCall(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db, nil)
		_, err := r.conn.Send(t.Context(), whatsapp.Outbound{AccountID: r.acct.ID, To: "16505551234", Body: "hello?"})
		if !errors.Is(err, whatsapp.ErrWindowClosed) {
			t.Fatalf("never opened: %v", err)
		}
		r.receive(t, "meta_images.json")
		r.clock.Set(time.Unix(1749416500, 0).Add(24*time.Hour + time.Second))
		_, err = r.conn.Send(t.Context(), whatsapp.Outbound{AccountID: r.acct.ID, To: "16505551234", Body: "hello?"})
		if !errors.Is(err, whatsapp.ErrWindowClosed) {
			t.Fatalf("expired: %v", err)
		}
		if n := r.graph.calls(); n != 0 {
			t.Fatalf("the provider was called %d times", n)
		}
		// A template still goes.
		tpl, err := r.st.CreateTemplate(t.Context(), whatsapp.TemplateInput{AccountID: &r.acct.ID, Name: ptr("recontact"), Language: ptr("en_US"),
			Components: json.RawMessage(`[{"type":"body","parameters":[{"type":"text","text":"{{1}}"}]}]`), Recontact: ptr(true)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.conn.SendTemplate(t.Context(), tpl.ID, "16505551234", []string{"Sheena"}); err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(r.graph.sends[0]["template"])
		if string(got) != `{"components":[{"parameters":[{"text":"Sheena","type":"text"}],"type":"body"}],"language":{"code":"en_US"},"name":"recontact"}` {
			t.Fatalf("template = %s", got)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// A provider 131047 (the window closed as Meta sees it, e.g. clocks apart)
// is final: no retry, the message failed with Meta's code and title.
func TestProvider131047NotRetried(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db, nil)
		r.receive(t, "meta_images.json")
		r.graph.answers = []fakeAnswer{{400, `{"error":{"message":"Re-engagement message","type":"OAuthException","code":131047,"error_data":{"messaging_product":"whatsapp","details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."},"fbtrace_id":"AbCd"}}`}}
		sent, err := r.conn.Send(t.Context(), whatsapp.Outbound{AccountID: r.acct.ID, To: "16505551234", Body: "late"})
		if !errors.Is(err, whatsapp.ErrRejected) {
			t.Fatalf("err = %v", err)
		}
		if n := r.graph.calls(); n != 1 {
			t.Fatalf("%d calls, want 1", n)
		}
		m, _ := r.st.Message(t.Context(), sent.MessageID)
		if m.Status != "failed" || m.ErrorCode != 131047 || m.ErrorTitle == "" {
			t.Fatalf("stored %+v", m)
		}
	})
}

// 130429 (throughput) is retried with backoff on the fake clock.
func TestProvider130429RetriedWithBackoff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db, nil)
		r.receive(t, "meta_images.json")
		limited := fakeAnswer{400, `{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,"error_data":{"messaging_product":"whatsapp","details":"Cloud API message throughput has been reached."}}}`}
		r.graph.answers = []fakeAnswer{limited, {503, `{"error":{"message":"Service temporarily unavailable","code":2}}`},
			{200, `{"messaging_product":"whatsapp","messages":[{"id":"wamid.AFTERRETRY"}]}`}}
		type result struct {
			sent whatsapp.Sent
			err  error
		}
		done := make(chan result, 1)
		go func() {
			s, err := r.conn.Send(context.WithoutCancel(t.Context()), whatsapp.Outbound{AccountID: r.acct.ID, To: "16505551234", Body: "retry me"})
			done <- result{s, err}
		}()
		waited := []time.Duration{}
		for len(waited) < 2 {
			select {
			case res := <-done:
				t.Fatalf("finished early: %+v", res)
			default:
			}
			if r.clock.Waiters() > 0 {
				before := r.clock.Now()
				r.clock.Advance(time.Second << len(waited))
				waited = append(waited, r.clock.Now().Sub(before))
				continue
			}
			time.Sleep(time.Millisecond) // yield to the sender; time itself is fake
		}
		res := <-done
		if res.err != nil || res.sent.ExternalID != "wamid.AFTERRETRY" {
			t.Fatalf("%+v", res)
		}
		if n := r.graph.calls(); n != 3 {
			t.Fatalf("%d calls, want 3", n)
		}
		m, _ := r.st.Message(t.Context(), res.sent.MessageID)
		if m.Attempts != 3 || m.Status != "pending" {
			t.Fatalf("stored %+v", m)
		}
	})
}

func TestStatusesOnlyMoveForward(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db, nil)
		r.receive(t, "meta_images.json")
		sent, err := r.conn.Send(t.Context(), whatsapp.Outbound{AccountID: r.acct.ID, To: "16505551234", Body: "status me"})
		if err != nil {
			t.Fatal(err)
		}
		ref := fmt.Sprintf("omnicc:%d", sent.MessageID)
		apply := func(status string, withRef bool) {
			ev := whatsapp.StatusEvent{ExternalID: sent.ExternalID, Status: status}
			if withRef {
				ev.Ref = ref
			}
			if _, err := r.conn.Receive(t.Context(), r.acct, whatsapp.Delivery{Statuses: []whatsapp.StatusEvent{ev}}); err != nil {
				t.Fatal(err)
			}
		}
		status := func() string {
			m, _ := r.st.Message(t.Context(), sent.MessageID)
			return m.Status
		}
		apply("read", true) // delivered skipped, read first
		apply("delivered", false)
		apply("sent", true)
		if s := status(); s != "read" {
			t.Fatalf("status %s after read, delivered, sent; want read", s)
		}
		// failed with code and title, through the documented payload.
		body := []byte(strings.NewReplacer("WAMID", sent.ExternalID, "REF", ref).Replace(string(readTestdata(t, "meta_status_failed.json"))))
		d, err := whatsapp.ParseMeta(body)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.conn.Receive(t.Context(), r.acct, d); err != nil {
			t.Fatal(err)
		}
		m, _ := r.st.Message(t.Context(), sent.MessageID)
		if m.Status != "failed" || m.ErrorCode != 131026 || m.ErrorTitle != "Message undeliverable: Message Undeliverable." {
			t.Fatalf("stored %+v", m)
		}
		apply("delivered", true)
		if s := status(); s != "failed" {
			t.Fatalf("failed moved to %s", s)
		}
	})
}
