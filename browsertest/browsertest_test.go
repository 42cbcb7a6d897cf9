package browsertest_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"omnicc/browsertest"
)

// The browser really runs a page's script: the text the script writes is
// what the test reads back.
func TestBrowserRunsScript(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<!doctype html><p id="out">static</p><script>document.getElementById("out").textContent = "from script " + (2+3)</script>`))
	}))
	defer srv.Close()
	ctx := browsertest.New(t)
	ctx, cancel := browsertest.Timeout(ctx, 30*time.Second)
	defer cancel()
	var got string
	if err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), chromedp.Text("#out", &got, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if got != "from script 5" {
		t.Fatalf("page text = %q, want %q", got, "from script 5")
	}
	if p := browsertest.Screenshot(t, ctx, "browsertest"); p == "" {
		t.Fatal("no screenshot path")
	}
}
