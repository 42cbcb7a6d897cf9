package webchat_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"omnicc/channels/webchat"
	"omnicc/store"
	"omnicc/storetest"
)

// The widget is one file at the server's root and under the API's base,
// whichever BASE a site's snippet names.
func TestWidgetServedAtRootAndUnderAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, webchat.Limits{})
		get := func(path string) (int, []byte) {
			t.Helper()
			resp, err := http.Get(e.srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, b
		}
		rootStatus, root := get("/chat/widget.js")
		apiStatus, api := get("/api/v1/chat/widget.js")
		if rootStatus != apiStatus || !bytes.Equal(root, api) {
			t.Fatalf("/chat/widget.js answered %d (%d bytes), /api/v1/chat/widget.js %d (%d bytes); want the same file", rootStatus, len(root), apiStatus, len(api))
		}
		if rootStatus != http.StatusOK && rootStatus != http.StatusServiceUnavailable {
			t.Fatalf("/chat/widget.js: %d", rootStatus)
		}
	})
}
