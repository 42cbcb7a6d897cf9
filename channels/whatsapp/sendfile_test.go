package whatsapp_test

import (
	"bytes"
	"errors"
	"strconv"
	"testing"
	"time"

	"omnicc/channels/whatsapp"
	"omnicc/router"
	"omnicc/store"
	"omnicc/storetest"
)

// An agent's file goes to Meta's media store, then out by its media id as
// the type its MIME type calls for; a large image goes as a document; a
// file outside the window is refused before any provider call.
func TestAgentFileUploadedThenSent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		r := newRig(t, db, nil)
		r.receive(t, "meta_images.json")
		files := router.NewFiles(t.TempDir())
		rs := whatsapp.RouterSender{Connector: r.conn, Files: files}
		account := strconv.FormatInt(r.acct.ID, 10)
		send := func(name string, data []byte, caption string) error {
			ref, _, err := files.Save(9, name, bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			return rs.Send(ctx, router.Outbound{InteractionID: 9, MessageID: 77, Channel: whatsapp.Channel, Account: account,
				Customer: "16505551234", Body: caption, Attachments: []string{router.AttachmentURL(9, ref)}})
		}
		png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{1}, 1000)...)
		if err := send("photo.png", png, "the damage"); err != nil {
			t.Fatal(err)
		}
		bigPNG := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{2}, 6<<20)...)
		if err := send("scan.png", bigPNG, ""); err != nil {
			t.Fatal(err)
		}
		if err := send("notes", []byte("%PDF-1.4 tiny"), ""); err != nil {
			t.Fatal(err)
		}
		r.graph.mu.Lock()
		uploads, sends := r.graph.uploads, r.graph.sends
		r.graph.mu.Unlock()
		if len(uploads) != 3 || !bytes.Equal(uploads[0].data, png) || uploads[0].mime != "image/png" || uploads[2].mime != "application/pdf" {
			t.Fatalf("uploads %d: %+v", len(uploads), uploads[0].mime)
		}
		img := sends[0]["image"].(map[string]any)
		if sends[0]["type"] != "image" || img["id"] != "media-1" || img["caption"] != "the damage" {
			t.Fatalf("image send %v", sends[0])
		}
		if sends[1]["type"] != "document" || sends[2]["type"] != "document" ||
			sends[2]["document"].(map[string]any)["filename"] != "notes" {
			t.Fatalf("documents %v / %v", sends[1], sends[2])
		}
		// The window closes: refused, nothing uploaded.
		r.clock.Advance(48 * time.Hour)
		if err := send("late.png", png, ""); !errors.Is(err, whatsapp.ErrWindowClosed) {
			t.Fatalf("outside the window: %v", err)
		}
		r.graph.mu.Lock()
		defer r.graph.mu.Unlock()
		if len(r.graph.sends) != 3 || len(r.graph.uploads) != 3 {
			t.Fatalf("a provider call outside the window")
		}
	})
}
