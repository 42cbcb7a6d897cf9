package whatsapp_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"omnicc/channels/whatsapp"
	"omnicc/clock"
	"omnicc/store"
	"omnicc/storetest"
)

// A fake Graph media API: GET /{media-id} → a short-lived URL needing the
// token; GET that URL → the bytes. corrupt makes the bytes differ from the
// announced sha256 until cleared.
func TestMediaDownloadedCheckedAndRetried(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		photo := []byte("\xff\xd8\xff\xe0 a made-up jpeg")
		sum := sha256.Sum256(photo)
		var corrupt atomic.Bool
		corrupt.Store(true)
		var srv *httptest.Server
		srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer made-up-token" {
				w.WriteHeader(401)
				return
			}
			switch r.URL.Path {
			case "/v21.0/9001":
				w.Write([]byte(`{"url":"` + srv.URL + `/lookaside/9001?ext=1","mime_type":"image/jpeg","file_size":25,"id":"9001","messaging_product":"whatsapp"}`))
			case "/lookaside/9001":
				if corrupt.Load() {
					w.Write([]byte("truncated"))
					return
				}
				w.Write(photo)
			default:
				w.WriteHeader(404)
			}
		}))
		defer srv.Close()
		fc := clock.NewFake(t0)
		st := whatsapp.NewStore(db, fc)
		inbox := recordingInbox{got: make(chan whatsapp.Inbound, 5)}
		mediaDir := t.TempDir()
		conn, err := whatsapp.New(whatsapp.Options{Store: st, Inbox: inbox, Clock: fc, HTTP: srv.Client(), MediaDir: mediaDir})
		if err != nil {
			t.Fatal(err)
		}
		acct, err := st.CreateAccount(t.Context(), whatsapp.AccountInput{Name: ptr("M"), Provider: ptr("meta"),
			PhoneNumberID: ptr("106540352242922"), AccessToken: ptr("made-up-token"), AppSecret: ptr("s"),
			VerifyToken: ptr("v"), APIBaseURL: ptr(srv.URL + "/v21.0")})
		if err != nil {
			t.Fatal(err)
		}
		body := strings.NewReplacer(`"id":"2001"`, `"id":"9001"`, `"sha256":"a1"`, `"sha256":"`+base64.StdEncoding.EncodeToString(sum[:])+`"`).
			Replace(string(readTestdata(t, "meta_images.json")))
		d, err := whatsapp.ParseMeta([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		d.Messages = d.Messages[:1]
		if _, err := conn.Receive(t.Context(), acct, d); err != nil {
			t.Fatal(err)
		}
		runConnector(t, conn)
		in := <-inbox.got
		// The message reaches the agent at once, its file marked failed.
		if in.Media == nil || in.Media.State != "failed" || !strings.Contains(in.Media.Error, "checksum") {
			t.Fatalf("media = %+v", in.Media)
		}
		corrupt.Store(false)
		deadline := time.Now().Add(10 * time.Second)
		for {
			fc.Advance(time.Minute) // the next poll retries failed downloads
			m, err := st.Message(t.Context(), in.MessageID)
			if err != nil {
				t.Fatal(err)
			}
			if m.MediaState == "stored" {
				path, mime, err := st.MediaFile(t.Context(), in.MessageID)
				if err != nil || mime != "image/jpeg" {
					t.Fatal(path, mime, err)
				}
				got, _ := os.ReadFile(path)
				if string(got) != string(photo) || !strings.HasPrefix(path, mediaDir) || m.MediaAttempts != 2 {
					t.Fatalf("stored %q at %s after %d attempts", got, path, m.MediaAttempts)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("media still %s: %s", m.MediaState, m.MediaError)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
