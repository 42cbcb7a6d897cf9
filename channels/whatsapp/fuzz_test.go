package whatsapp_test

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"omnicc/channels/whatsapp"
)

// FuzzParseMeta: any signed body must either parse into messages that have
// an id and a sender, or fail with ErrMalformed — never panic.
func FuzzParseMeta(f *testing.F) {
	files, _ := filepath.Glob("testdata/meta_*.json")
	for _, p := range files {
		raw, _ := os.ReadFile(p)
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := whatsapp.ParseMeta(body)
		if err != nil {
			if !errors.Is(err, whatsapp.ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		for _, m := range d.Messages {
			if m.ExternalID == "" || m.From == "" || m.Kind == "" {
				t.Fatalf("message without id, sender or kind: %+v", m)
			}
		}
		for _, s := range d.Statuses {
			if s.ExternalID == "" {
				t.Fatalf("status without id: %+v", s)
			}
		}
	})
}

// FuzzParseTwilio: any form body parses or fails with ErrMalformed, and
// every message has a key and a sender.
func FuzzParseTwilio(f *testing.F) {
	files, _ := filepath.Glob("testdata/twilio_*.txt")
	for _, p := range files {
		raw, _ := os.ReadFile(p)
		f.Add(strings.TrimSpace(string(raw)))
	}
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		d, err := whatsapp.ParseTwilio(form, time.Unix(0, 0))
		if err != nil {
			if !errors.Is(err, whatsapp.ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		if len(d.Messages) > 10 {
			t.Fatalf("%d messages from one delivery", len(d.Messages))
		}
		for _, m := range d.Messages {
			if m.ExternalID == "" || m.From == "" {
				t.Fatalf("message without key or sender: %+v", m)
			}
		}
	})
}

// FuzzVerifyMetaSignature: only the exact HMAC passes.
func FuzzVerifyMetaSignature(f *testing.F) {
	f.Add([]byte(`{"object":"whatsapp_business_account"}`), "sha256=00")
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		err := whatsapp.VerifyMetaSignature("made-up-app-secret", header, body)
		if err == nil && header != whatsapp.SignMeta("made-up-app-secret", body) &&
			!strings.EqualFold(strings.TrimSpace(header), whatsapp.SignMeta("made-up-app-secret", body)) {
			t.Fatalf("header %q passed for body %q", header, body)
		}
	})
}
