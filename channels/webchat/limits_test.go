package webchat_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"omnicc/api"
	"omnicc/channels/webchat"
	"omnicc/contacts"
	"omnicc/store"
	"omnicc/storetest"
)

// closeReason reads until the server closes the socket and answers the
// close code and text.
func closeReason(t *testing.T, ws *websocket.Conn) (int, string) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		if err != nil {
			t.Fatalf("the socket ended without a close frame: %v", err)
		}
	}
}

// Malformed, oversize and too-fast frames close the visitor socket with a
// reason; the daemon goes on serving.
func TestVisitorSocketLimits(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t), webchat.Limits{FrameBytes: 4096, MessagesPerSecond: 1, Burst: 3, NewVisitorsBurst: 25})
	w := e.website(origin)
	s := e.startSession(t, w.Token, "")
	for _, tc := range []struct {
		name   string
		frame  []byte
		binary bool
		reason string
	}{
		{"not JSON", []byte("hello"), false, "not a JSON frame"},
		{"unknown type", []byte(`{"type":"rm -rf"}`), false, "unknown type"},
		{"unknown field", []byte(`{"type":"typing","admin":true}`), false, "unknown field"},
		{"no client id", []byte(`{"type":"send","body":"x"}`), false, "client_id"},
		{"binary", []byte{0, 1, 2}, true, "text frames only"},
	} {
		ws := e.visitorWS(s.Session, origin, 0)
		typ := websocket.TextMessage
		if tc.binary {
			typ = websocket.BinaryMessage
		}
		if err := ws.WriteMessage(typ, tc.frame); err != nil {
			t.Fatal(err)
		}
		code, text := closeReason(t, ws)
		if code != websocket.ClosePolicyViolation || !strings.Contains(text, tc.reason) {
			t.Errorf("%s: closed %d %q, want 1008 with %q", tc.name, code, text, tc.reason)
		}
	}
	// Over the read limit, gorilla closes with 1009 (message too big).
	ws := e.visitorWS(s.Session, origin, 0)
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"send","client_id":"x","body":"`+strings.Repeat("a", 5000)+`"}`))
	if code, _ := closeReason(t, ws); code != websocket.CloseMessageTooBig {
		t.Fatalf("oversize: closed %d, want 1009", code)
	}
	ws = e.visitorWS(s.Session, origin, 0)
	for i := 0; i < 10; i++ {
		_ = ws.WriteJSON(map[string]any{"type": "ack", "seq": 0})
	}
	if code, text := closeReason(t, ws); code != websocket.ClosePolicyViolation || !strings.Contains(text, "rate limit") {
		t.Fatalf("flood: %d %q", code, text)
	}
	// One address creates at most NewVisitorsBurst visitors at once (the
	// session above was one of them).
	var fail struct{ Error api.ErrorDetail }
	for i := 0; ; i++ {
		st := e.visit("POST", "/chat/sessions", origin, map[string]string{"website": w.Token}, &fail)
		if st == 429 {
			if i < 20 {
				t.Fatalf("new visitors refused after %d", i)
			}
			break
		}
		if i > 40 {
			t.Fatal("new visitors are not rate-limited")
		}
	}
	// ...while a known visitor still resumes.
	if st := e.visit("POST", "/chat/sessions", origin, map[string]string{"website": w.Token, "session": s.Session}, nil); st != 200 {
		t.Fatalf("resume under the limit: %d", st)
	}
	// A socket from a page of another origin is never opened.
	url := "ws" + strings.TrimPrefix(e.base, "http") + "/chat/ws?session=" + s.Session
	if _, resp, err := websocket.DefaultDialer.DialContext(e.ctx, url, http.Header{"Origin": {"https://evil.example.net"}}); err == nil || resp.StatusCode != 403 {
		t.Fatalf("foreign origin socket: %v", err)
	}
	if e.chat.Connected() > 1 {
		// every closed socket left the index (the last may be closing)
		time.Sleep(100 * time.Millisecond)
	}
	if n := e.chat.Connected(); n != 0 {
		t.Fatalf("%d sockets still indexed", n)
	}
}

func upload(t *testing.T, e *env, session, name string, content []byte, out any) int {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write(content)
	_ = mw.Close()
	req, _ := http.NewRequestWithContext(e.ctx, "POST", e.base+"/chat/files?session="+session, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", origin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(out)
	return resp.StatusCode
}

// Uploads within max_file_bytes and of the allowed types only; the stored
// file is attached to a message by its URL and served back.
func TestVisitorUpload(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, webchat.Limits{})
		w := e.website(origin) // max_file_bytes 1024
		s := e.startSession(t, w.Token, "")
		var fail struct{ Error api.ErrorDetail }
		png := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 100)...)
		if st := upload(t, e, s.Session, "big.png", append(png, make([]byte, 2000)...), &fail); st != 413 || !strings.Contains(fail.Error.Message, "1024") {
			t.Fatalf("oversize: %d %+v", st, fail)
		}
		if st := upload(t, e, s.Session, "x.html", []byte("<html><script>alert(1)</script></html>"), &fail); st != 415 || !strings.Contains(fail.Error.Message, "image/png") {
			t.Fatalf("html: %d %+v", st, fail)
		}
		var f webchat.File
		if st := upload(t, e, s.Session, "../../etc/shot.png", png, &f); st != 201 || f.ContentType != "image/png" || f.Name != "shot.png" || f.Size != int64(len(png)) {
			t.Fatalf("png: %d %+v", st, f)
		}
		// An upload is bounded by max_file_bytes, not by the server's body
		// limit (64 KiB in these tests).
		if st := e.call("PATCH", "/chat-websites/"+itoa(w.ID), e.admin, map[string]any{"max_file_bytes": 200000}, nil); st != 200 {
			t.Fatalf("raise max_file_bytes: %d", st)
		}
		var bigFile webchat.File
		if st := upload(t, e, s.Session, "big.png", append(png, make([]byte, 100000)...), &bigFile); st != 201 || bigFile.Size != int64(len(png)+100000) {
			t.Fatalf("a 100 kB file under a 200 kB limit: %d %+v", st, bigFile)
		}
		var sent api.ChatSent
		if st := e.visit("POST", "/chat/messages", origin, map[string]any{"session": s.Session, "client_id": "f-1", "body": "shot.png", "attachments": []string{f.URL}}, &sent); st != 201 || len(sent.Message.Attachments) != 1 {
			t.Fatalf("send with the file: %d %+v", st, sent)
		}
		// Another visitor may not attach this visitor's file.
		other := e.startSession(t, w.Token, "")
		if st := e.visit("POST", "/chat/messages", origin, map[string]any{"session": other.Session, "client_id": "f-2", "body": "x", "attachments": []string{f.URL}}, &fail); st != 422 {
			t.Fatalf("someone else's file: %d", st)
		}
		resp, err := http.Get(e.srv.URL + f.URL)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, png) || resp.Header.Get("Content-Type") != "image/png" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("download: %d %q", resp.StatusCode, resp.Header)
		}
		resp, err = http.Get(e.base + "/chat/files/" + strings.Repeat("0", 32))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("unknown file: %d", resp.StatusCode)
		}
	})
}

// identify() with a valid user_hash links the conversation to the contact
// with that external user id; a wrong hash is ignored.
func TestIdentify(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, webchat.Limits{})
		list, err := e.people.CreateList(e.ctx, contacts.ListInput{Name: "Web"})
		if err != nil {
			t.Fatal(err)
		}
		w := e.website(origin)
		if st := e.call("PATCH", "/chat-websites/"+itoa(w.ID), e.admin, map[string]any{"contact_list_id": list.ID}, nil); st != 200 {
			t.Fatalf("patch: %d", st)
		}
		s := e.startSession(t, w.Token, "")
		var sent api.ChatSent
		e.visit("POST", "/chat/messages", origin, map[string]any{"session": s.Session, "client_id": "i-1", "body": "hi"}, &sent)
		var out struct{ Verified bool }
		if st := e.visit("POST", "/chat/identify", origin, map[string]string{"session": s.Session, "user_id": "u-42", "user_hash": strings.Repeat("ab", 32), "name": "Eve"}, &out); st != 200 || out.Verified {
			t.Fatalf("wrong hash: %d %+v", st, out)
		}
		m := hmac.New(sha256.New, []byte("site-secret-0123456789"))
		m.Write([]byte("u-42"))
		hash := hex.EncodeToString(m.Sum(nil))
		if hash != webchat.UserHash("site-secret-0123456789", "u-42") {
			t.Fatal("UserHash is not hex HMAC-SHA256(secret, user_id)")
		}
		if st := e.visit("POST", "/chat/identify", origin, map[string]string{"session": s.Session, "user_id": "u-42", "user_hash": hash, "name": "Bob Smith", "email": "bob@example.com"}, &out); st != 200 || !out.Verified {
			t.Fatalf("good hash: %d %+v", st, out)
		}
		var h history
		e.visit("GET", "/chat/messages?session="+s.Session, origin, nil, &h)
		var it struct {
			ContactID *int64 `json:"contact_id"`
		}
		e.call("GET", "/interactions/"+itoa(h.Conversation.InteractionID), e.admin, nil, &it)
		if it.ContactID == nil {
			t.Fatal("the interaction is not linked to a contact")
		}
		c, err := e.people.Get(e.ctx, *it.ContactID)
		if err != nil || c.ExternalIDs[webchat.Channel] != "u-42" || c.FirstName != "Bob" {
			t.Fatalf("contact: %+v %v", c, err)
		}
	})
}
