package webchat_test

import (
	"encoding/json"
	"testing"

	"omnicc/channels/webchat"
	"omnicc/router"
)

// FuzzParseVisitorFrame: whatever bytes a visitor sends, the parser never
// panics, and a frame it accepts is within every limit and encodes back to
// a frame it accepts again. Seeds: testdata/fuzz/FuzzParseVisitorFrame.
func FuzzParseVisitorFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"send","client_id":"c-1","body":"hello"}`,
		`{"type":"send","client_id":"c-2","body":"","attachments":["/api/v1/chat/files/0123456789abcdef0123456789abcdef"]}`,
		`{"type":"typing"}`,
		`{"type":"ack","seq":3,"read":true}`,
		`{"type":"resume","after_seq":7}`,
		`{"type":"send","client_id":"c-1","body":"a"}{"type":"typing"}`,
		`{"type":"ack","seq":-1}`,
		"\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fr, err := webchat.ParseVisitorFrame(raw)
		if err != nil {
			return
		}
		switch fr.Type {
		case "send":
			if fr.ClientID == "" || len(fr.ClientID) > webchat.MaxClientID || len(fr.Body) > router.MaxBody || len(fr.Attachments) > webchat.MaxAttachments {
				t.Fatalf("accepted an out-of-limits send: %+v", fr)
			}
		case "typing", "ack", "resume":
			if fr.Seq < 0 || fr.AfterSeq < 0 {
				t.Fatalf("accepted a negative seq: %+v", fr)
			}
		default:
			t.Fatalf("accepted type %q", fr.Type)
		}
		again, err := json.Marshal(fr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := webchat.ParseVisitorFrame(again); err != nil {
			t.Fatalf("%s accepted, its re-encoding %s refused: %v", raw, again, err)
		}
	})
}
