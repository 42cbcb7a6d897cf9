package ami

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzReadMessage feeds arbitrary bytes to the parser. It must never panic
// or exceed its limits, must fail only with the documented errors, and what
// it parses must survive a write/read round trip unchanged. The kept corpus
// in testdata/fuzz/FuzzReadMessage starts from real Asterisk 22 messages.
func FuzzReadMessage(f *testing.F) {
	f.Add([]byte("Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n"))
	f.Add([]byte("Event: X\nA:b:c\n\n:\n\r\r\nno colon\n\n"))
	lim := Limits{MaxLineBytes: 256, MaxFields: 32, MaxMessageBytes: 4096}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), lim)
		if bytes.HasPrefix(data, []byte(bannerPrefix)) {
			if _, err := r.ReadBanner(); err != nil {
				return
			}
		}
		for range 1000 {
			m, err := r.ReadMessage()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrMalformed) {
					t.Fatalf("unexpected error type: %v", err)
				}
				return
			}
			if m.Len() == 0 || m.Len() > lim.MaxFields {
				t.Fatalf("message with %d fields (limit %d)", m.Len(), lim.MaxFields)
			}
			for _, fl := range m.Fields() {
				if strings.ContainsAny(fl.Key, ":\n") || strings.Contains(fl.Value, "\n") {
					t.Fatalf("field %q holds a separator", fl)
				}
				if len(fl.Key)+len(fl.Value) > lim.MaxLineBytes {
					t.Fatalf("field of %d bytes passed the %d-byte line limit", len(fl.Key)+len(fl.Value), lim.MaxLineBytes)
				}
			}
			wire, err := AppendMessage(nil, m)
			if err != nil {
				t.Fatalf("cannot re-encode a parsed message %q: %v", m.Fields(), err)
			}
			again, err := NewReader(bytes.NewReader(wire), Limits{}).ReadMessage()
			if err != nil || !again.Equal(m) {
				t.Fatalf("round trip changed the message:\n%q\n%q (%v)", m.Fields(), again.Fields(), err)
			}
		}
	})
}
