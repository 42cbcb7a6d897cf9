package api_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	nurl "net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"omnicc/api"
	"omnicc/auth"
	"omnicc/channels/whatsapp"
	"omnicc/clock"
	"omnicc/directory"
	"omnicc/router"
	"omnicc/store"
	"omnicc/storetest"
)

// twilioFetch is what the fake Twilio found at a MediaUrl it fetched.
type twilioFetch struct {
	form        nurl.Values
	status      int
	contentType string
	body        []byte
}

// An agent's file on a Twilio account goes as MediaUrl: a signed, expiring
// link under OMNICC_PUBLIC_URL that the fake Twilio really fetches, getting
// the file's bytes and content type. A tampered or expired link is a 403,
// a validly signed link to a file that is gone a 404, and without a public
// URL the message fails naming OMNICC_PUBLIC_URL.
func TestTwilioFileSentAsSignedMediaURL(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
		var mu sync.Mutex
		var fetched []twilioFetch
		twilio := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			f := twilioFetch{form: r.PostForm}
			if link := r.PostForm.Get("MediaUrl"); link != "" {
				res, err := http.Get(link)
				if err != nil {
					t.Errorf("twilio fetching %s: %v", link, err)
				} else {
					f.status, f.contentType = res.StatusCode, res.Header.Get("Content-Type")
					f.body, _ = io.ReadAll(res.Body)
					res.Body.Close()
				}
			}
			mu.Lock()
			fetched = append(fetched, f)
			n := len(fetched)
			mu.Unlock()
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(201)
			fmt.Fprintf(rw, `{"sid":"SMfile%d","status":"queued"}`, n)
		}))
		t.Cleanup(twilio.Close)

		// omniccd's public side, whose URL the connector must know first.
		var handler atomic.Value
		pub := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			handler.Load().(http.Handler).ServeHTTP(rw, r)
		}))
		t.Cleanup(pub.Close)
		st := whatsapp.NewStore(db, clk)
		files := router.NewFiles(t.TempDir())
		conn, err := whatsapp.New(whatsapp.Options{Store: st, Clock: clk, PublicURL: pub.URL, Files: files})
		if err != nil {
			t.Fatal(err)
		}
		dir := directory.New(db, directory.Options{ExtensionLow: 1000, ExtensionHigh: 1999, BcryptCost: 4})
		s, err := api.New(api.Options{DB: db, Directory: dir, Auth: auth.New(db, dir, auth.Options{}), PublicURL: pub.URL,
			MaxBodyBytes: 1 << 20, Mounts: []func(*api.Router){api.NewWhatsApp(conn, nil).Mount}})
		if err != nil {
			t.Fatal(err)
		}
		handler.Store(s.Handler())

		str := func(s string) *string { return &s }
		acct, err := st.CreateAccount(ctx, whatsapp.AccountInput{Name: str("T"), Provider: str("twilio"),
			AccountSID: str("ACmadeup"), AuthToken: str("made-up-twilio-token"), From: str("+14155238886"), APIBaseURL: str(twilio.URL)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.SaveInbound(ctx, acct.ID, []whatsapp.InboundMessage{{ExternalID: "SMin1", From: "16505551234",
			Kind: whatsapp.KindText, Body: "photo please", At: clk.Now()}}); err != nil {
			t.Fatal(err)
		}
		send := func(conn *whatsapp.Connector, name string, data []byte, caption string) (string, error) {
			ref, _, err := files.Save(9, name, bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			return ref, whatsapp.RouterSender{Connector: conn, Files: files}.Send(ctx, router.Outbound{InteractionID: 9, MessageID: 77,
				Channel: whatsapp.Channel, Account: strconv.FormatInt(acct.ID, 10), Customer: "16505551234", Body: caption,
				Attachments: []string{router.AttachmentURL(9, ref)}})
		}
		png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 3000)...)
		if _, err := send(conn, "photo.png", png, "the damage"); err != nil {
			t.Fatal(err)
		}
		pdf := []byte("%PDF-1.4 a tiny invoice")
		if _, err := send(conn, "invoice", pdf, ""); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got := append([]twilioFetch(nil), fetched...)
		mu.Unlock()
		if len(got) != 2 {
			t.Fatalf("twilio got %d sends, want 2", len(got))
		}
		for i, want := range []struct {
			body        []byte
			contentType string
			caption     string
		}{{png, "image/png", "the damage"}, {pdf, "application/pdf", ""}} {
			f := got[i]
			link := f.form.Get("MediaUrl")
			if !strings.HasPrefix(link, pub.URL+"/api/v1/whatsapp-media/") || f.form.Get("Body") != want.caption {
				t.Fatalf("send %d: form %v", i, f.form)
			}
			if f.status != 200 || f.contentType != want.contentType || !bytes.Equal(f.body, want.body) {
				t.Fatalf("send %d: twilio fetched %d %q, %d bytes (want %s, %d bytes)", i, f.status, f.contentType, len(f.body),
					want.contentType, len(want.body))
			}
		}

		status := func(link string) int {
			t.Helper()
			res, err := http.Get(link)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		link := got[0].form.Get("MediaUrl")
		u, _ := nurl.Parse(link)
		q := u.Query()
		sig, exp := q.Get("sig"), q.Get("expires")
		other := got[1].form.Get("MediaUrl")
		otherPath, _, _ := strings.Cut(other, "?")
		flipped := "A"
		if sig[0] == 'A' {
			flipped = "B"
		}
		later, _ := strconv.ParseInt(exp, 10, 64)
		for name, tampered := range map[string]string{
			"signature":         strings.Replace(link, "sig="+sig, "sig="+flipped+sig[1:], 1),
			"no signature":      strings.Replace(link, "&sig="+sig, "", 1),
			"expiry pushed out": strings.Replace(link, "expires="+exp, "expires="+strconv.FormatInt(later+86400, 10), 1),
			"another file":      otherPath + "?" + u.RawQuery,
			"another account":   strings.Replace(link, fmt.Sprintf("/whatsapp-media/%d/", acct.ID), fmt.Sprintf("/whatsapp-media/%d/", acct.ID+1), 1),
		} {
			if st := status(tampered); st != 403 {
				t.Errorf("%s tampered: %d, want 403", name, st)
			}
		}
		gone, err := conn.MediaURL(acct, whatsapp.FileRef{InteractionID: 9, Ref: "0123456789abcdef-gone.png"})
		if err != nil {
			t.Fatal(err)
		}
		if st := status(gone); st != 404 {
			t.Errorf("signed link to a missing file: %d, want 404", st)
		}
		if st := status(link); st != 200 {
			t.Fatalf("the link before it expires: %d", st)
		}
		clk.Advance(whatsapp.DefaultMediaURLTTL + time.Second)
		if st := status(link); st != 403 {
			t.Errorf("expired link: %d, want 403", st)
		}

		// Without a public base URL, the message fails naming the key.
		bare, err := whatsapp.New(whatsapp.Options{Store: st, Clock: clk, Files: files})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := send(bare, "photo2.png", png, ""); err == nil || !strings.Contains(err.Error(), "OMNICC_PUBLIC_URL") {
			t.Fatalf("send without a public URL: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(fetched) != 2 {
			t.Fatalf("a provider call without a public URL")
		}
	})
}
