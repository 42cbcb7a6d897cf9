package whatsapp_test

import (
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"omnicc/channels/whatsapp"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestParseMetaEveryTypeAndEntry(t *testing.T) {
	d, err := whatsapp.ParseMeta(readTestdata(t, "meta_batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ id, from, name, kind, body, payload, replyTo string }{
		{"wamid.IMG1", "16505551234", "Sheena Nelson", "image", "the broken part", "", ""},
		{"wamid.AUD1", "16505551234", "Sheena Nelson", "audio", "", "", ""},
		{"wamid.VID1", "16505551234", "Sheena Nelson", "video", "", "", ""},
		{"wamid.DOC1", "16505551234", "Sheena Nelson", "document", "invoice.pdf", "", ""},
		{"wamid.STK1", "16505551234", "Sheena Nelson", "sticker", "", "", ""},
		{"wamid.LOC1", "14155550199", "Pablo Morales", "location", "Location: Main office, 1 Hacker Way, Menlo Park, CA 94025, 37.483307,-122.148981", "", ""},
		{"wamid.CON1", "14155550199", "Pablo Morales", "contacts", "Contact: Barbara Johnson +1 (940) 555-1234", "", ""},
		{"wamid.BTR1", "14155550199", "Pablo Morales", "interactive", "Change", "change-button", "wamid.OUT1"},
		{"wamid.LST1", "14155550199", "Pablo Morales", "interactive", "Express Shipping", "priority_express", ""},
		{"wamid.BTN1", "14155550199", "Pablo Morales", "button", "Stop promotions", "STOP_PROMOS", "wamid.TPL1"},
		{"wamid.RCT1", "14155550199", "Pablo Morales", "reaction", "Reaction: 👍", "", "wamid.OUT1"},
		{"wamid.UNS1", "14155550199", "Pablo Morales", "unsupported", `[unsupported WhatsApp message type "unsupported"]: Message type unknown: Message type is currently not supported.`, "", ""},
		{"wamid.NEW1", "14155550199", "Pablo Morales", "unsupported", `[unsupported WhatsApp message type "hologram"]`, "", ""},
	}
	if len(d.Messages) != len(want) {
		t.Fatalf("%d messages, want %d (every entry and change)", len(d.Messages), len(want))
	}
	for i, w := range want {
		m := d.Messages[i]
		got := []string{m.ExternalID, m.From, m.Name, m.Kind, m.Body, m.Payload, m.ReplyTo}
		exp := []string{w.id, w.from, w.name, w.kind, w.body, w.payload, w.replyTo}
		if strings.Join(got, "|") != strings.Join(exp, "|") {
			t.Errorf("message %d:\n got %q\nwant %q", i, got, exp)
		}
		if m.RouteKey != "106540352242922" {
			t.Errorf("message %d route key %q", i, m.RouteKey)
		}
	}
	if m := d.Messages[0].Media; m == nil || m.ID != "1003383421387256" || m.MIMEType != "image/jpeg" || !strings.HasPrefix(m.SHA256, "5e8a") {
		t.Errorf("image media = %+v", m)
	}
	if !d.Messages[0].At.Equal(time.Unix(1749416400, 0)) {
		t.Errorf("timestamp %v", d.Messages[0].At)
	}
	if len(d.Statuses) != 1 || d.Statuses[0].Status != "delivered" || !strings.Contains(string(d.Statuses[0].Pricing), "PMP") {
		t.Errorf("statuses = %+v", d.Statuses)
	}
}

func TestParseMetaBusinessScopedUserID(t *testing.T) {
	d, err := whatsapp.ParseMeta(readTestdata(t, "meta_user_id.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Messages) != 1 || d.Messages[0].From != "US.13491208655302741918" || d.Messages[0].Name != "Private Person" {
		t.Fatalf("messages = %+v", d.Messages)
	}
}

// Other webhook fields share the URL with other shapes: skipped, not 400.
func TestParseMetaSkipsOtherFields(t *testing.T) {
	body := `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[
		{"field":"message_template_status_update","value":{"event":"APPROVED","message_template_id":594425479261596,"message_template_name":"recontact","message_template_language":"en_US","reason":"NONE"}},
		{"field":"account_update","value":{"phone_number":"15550783881","event":"VERIFIED_ACCOUNT","contacts":"not an array"}}]}]}`
	d, err := whatsapp.ParseMeta([]byte(body))
	if err != nil || len(d.Messages)+len(d.Statuses) != 0 {
		t.Fatalf("%+v %v", d, err)
	}
}

func TestParseMetaMalformed(t *testing.T) {
	for _, body := range []string{``, `{`, `[]`, `{"object":"page"}`,
		`{"entry":[{"changes":[{"value":{"messages":[{"from":"1","type":"text"}]}}]}]}`,
		`{"entry":[{"changes":[{"value":{"messages":[{"id":"w","type":"text"}]}}]}]}`,
		`{"entry":[{"changes":[{"value":{"statuses":[{"status":"read"}]}}]}]}`,
	} {
		if _, err := whatsapp.ParseMeta([]byte(body)); !errors.Is(err, whatsapp.ErrMalformed) {
			t.Errorf("ParseMeta(%q) = %v, want ErrMalformed", body, err)
		}
	}
}

func TestMetaSignature(t *testing.T) {
	body := readTestdata(t, "meta_text.json")
	sig := whatsapp.SignMeta("made-up-app-secret", body)
	if err := whatsapp.VerifyMetaSignature("made-up-app-secret", sig, body); err != nil {
		t.Fatal(err)
	}
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-3] = ' '
	for _, c := range []struct {
		secret, header string
		body           []byte
	}{
		{"made-up-app-secret", "", body},
		{"made-up-app-secret", strings.TrimPrefix(sig, "sha256="), body},
		{"made-up-app-secret", "sha256=zz", body},
		{"another-secret", sig, body},
		{"made-up-app-secret", sig, tampered},
		{"", sig, body},
	} {
		if err := whatsapp.VerifyMetaSignature(c.secret, c.header, c.body); !errors.Is(err, whatsapp.ErrBadSignature) {
			t.Errorf("VerifyMetaSignature(%q, %q) = %v", c.secret, c.header, err)
		}
	}
}

func twilioForm(t testing.TB, name string) url.Values {
	form, err := url.ParseQuery(strings.TrimSpace(string(readTestdata(t, name))))
	if err != nil {
		t.Fatal(err)
	}
	return form
}

func TestTwilioSignature(t *testing.T) {
	form := twilioForm(t, "twilio_inbound.txt")
	u := "https://cc.example.com/api/v1/webhooks/twilio/1"
	sig := whatsapp.TwilioSignature("made-up-auth-token", u, form)
	if err := whatsapp.VerifyTwilioSignature("made-up-auth-token", u, form, sig); err != nil {
		t.Fatal(err)
	}
	if err := whatsapp.VerifyTwilioSignature("made-up-auth-token", "http://10.0.0.5:8080/api/v1/webhooks/twilio/1", form, sig); !errors.Is(err, whatsapp.ErrBadSignature) {
		t.Error("a signature over another URL passed")
	}
	form.Set("Body", "changed")
	if err := whatsapp.VerifyTwilioSignature("made-up-auth-token", u, form, sig); !errors.Is(err, whatsapp.ErrBadSignature) {
		t.Error("a changed parameter passed")
	}
}

func TestParseTwilio(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d, err := whatsapp.ParseTwilio(twilioForm(t, "twilio_inbound.txt"), now)
	if err != nil || len(d.Messages) != 1 {
		t.Fatal(d, err)
	}
	if m := d.Messages[0]; m.From != "16505551234" || m.Body != "Hello from Twilio" || m.Name != "Sheena Nelson" || m.Kind != "text" || m.ExternalID != "SM1f0e8ae6ade43cb3c0ce4525424e404f" {
		t.Errorf("inbound = %+v", m)
	}
	d, err = whatsapp.ParseTwilio(twilioForm(t, "twilio_media.txt"), now)
	if err != nil || len(d.Messages) != 2 {
		t.Fatal(d, err)
	}
	if d.Messages[0].Kind != "image" || d.Messages[1].Kind != "document" || d.Messages[1].ExternalID != "MM8a5c2d0f0e7b4d2a9c1e3f5a7b9c1d3e/1" || d.Messages[1].Media == nil {
		t.Errorf("media = %+v", d.Messages)
	}
	d, err = whatsapp.ParseTwilio(twilioForm(t, "twilio_button.txt"), now)
	if err != nil || d.Messages[0].Kind != "button" || d.Messages[0].Payload != "CLOSE_OK" {
		t.Errorf("button = %+v %v", d.Messages, err)
	}
	d, err = whatsapp.ParseTwilio(twilioForm(t, "twilio_status_failed.txt"), now)
	if err != nil || len(d.Statuses) != 1 || d.Statuses[0].Status != "failed" || d.Statuses[0].ErrorCode != 63016 {
		t.Errorf("status = %+v %v", d.Statuses, err)
	}
	if _, err := whatsapp.ParseTwilio(url.Values{"Body": {"x"}}, now); !errors.Is(err, whatsapp.ErrMalformed) {
		t.Errorf("no MessageSid: %v", err)
	}
}
