package whatsapp_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"omnicc/channels/whatsapp"
	"omnicc/clock"
	"omnicc/store"
	"omnicc/storetest"
)

func TestTwilioSendAndStatusCallback(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var forms []url.Values
		var auth []string
		fail := false
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			forms = append(forms, r.PostForm)
			u, p, _ := r.BasicAuth()
			auth = append(auth, r.URL.Path+" "+u+":"+p)
			w.Header().Set("Content-Type", "application/json")
			if fail {
				w.WriteHeader(400)
				w.Write([]byte(`{"code":63016,"message":"Failed to send freeform message because you are outside the allowed window.","more_info":"https://www.twilio.com/docs/errors/63016","status":400}`))
				return
			}
			w.WriteHeader(201)
			w.Write([]byte(`{"sid":"SMa1b2c3","status":"queued"}`))
		}))
		defer srv.Close()
		fc := clock.NewFake(t0)
		st := whatsapp.NewStore(db, fc)
		conn, err := whatsapp.New(whatsapp.Options{Store: st, Clock: fc, HTTP: srv.Client(), PublicURL: "https://cc.example.com/"})
		if err != nil {
			t.Fatal(err)
		}
		acct, err := st.CreateAccount(t.Context(), whatsapp.AccountInput{Name: ptr("T"), Provider: ptr("twilio"),
			AccountSID: ptr("ACmadeup"), AuthToken: ptr("made-up-twilio-token"), From: ptr("+14155238886"), APIBaseURL: ptr(srv.URL)})
		if err != nil {
			t.Fatal(err)
		}
		d, err := whatsapp.ParseTwilio(twilioForm(t, "twilio_inbound.txt"), t0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Receive(t.Context(), acct, d); err != nil {
			t.Fatal(err)
		}
		sent, err := conn.Send(t.Context(), whatsapp.Outbound{AccountID: acct.ID, To: "16505551234", Body: "Hi from Twilio"})
		if err != nil || sent.ExternalID != "SMa1b2c3" {
			t.Fatal(sent, err)
		}
		f := forms[0]
		if f.Get("From") != "whatsapp:+14155238886" || f.Get("To") != "whatsapp:+16505551234" || f.Get("Body") != "Hi from Twilio" ||
			!strings.HasPrefix(f.Get("StatusCallback"), "https://cc.example.com/api/v1/webhooks/twilio/") ||
			auth[0] != "/2010-04-01/Accounts/ACmadeup/Messages.json ACmadeup:made-up-twilio-token" {
			t.Fatalf("twilio got %v %v", f, auth)
		}
		cb, _ := url.Parse(f.Get("StatusCallback"))
		for _, s := range []string{"delivered", "sent", "read", "delivered"} {
			ev, err := whatsapp.ParseTwilio(url.Values{"MessageSid": {"SMa1b2c3"}, "MessageStatus": {s}, "ref": {cb.Query().Get("ref")}}, t0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Receive(t.Context(), acct, ev); err != nil {
				t.Fatal(err)
			}
		}
		if m, _ := st.Message(t.Context(), sent.MessageID); m.Status != "read" {
			t.Fatalf("status %s, want read", m.Status)
		}
		fail = true
		_, err = conn.Send(t.Context(), whatsapp.Outbound{AccountID: acct.ID, To: "16505551234", Body: "again"})
		var pe *whatsapp.ProviderError
		if !errors.As(err, &pe) || pe.Code != 63016 || pe.Retryable || len(forms) != 2 {
			t.Fatalf("63016: %v after %d calls", err, len(forms))
		}
	})
}
