// Package browsertest starts a headless Chromium for the tests of the pages
// omniccd serves (the web chat widget, the agent desktop). It drives Debian's
// chromium through the DevTools protocol (chromedp); `.ci/run` and `make test`
// install chromium when it is missing.
//
// Without a browser the tests skip, unless CI=true, where a missing browser
// fails the run: a green CI must mean the pages were really exercised.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ExecPath finds the browser: OMNICC_CHROMIUM, then chromium on PATH.
func ExecPath() string {
	if p := os.Getenv("OMNICC_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// New starts a fresh headless browser (its own empty profile) and returns a
// context for chromedp actions on its first tab. The browser is closed when
// the test ends. Each call is a separate browser, so two calls are two
// independent visitors (separate storage, separate cookies). extra adds
// Chromium options (e.g. chromedp.Flag("ignore-certificate-errors", true)
// for a server with a self-signed certificate).
func New(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := ExecPath()
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("browsertest: no chromium found (apt-get install chromium, or set OMNICC_CHROMIUM); CI=true needs the browser tests to run")
		}
		t.Skip("browsertest: no chromium found (apt-get install chromium, or set OMNICC_CHROMIUM)")
	}
	// Not t.TempDir: Chromium's helpers may still write to the profile for
	// a moment after the browser exits, and TempDir fails the test on that.
	profile, err := os.MkdirTemp("", "omnicc-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// WebRTC tests: a fake microphone instead of a permission prompt.
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.WindowSize(1280, 800),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	// Start the browser now so a broken install fails here, named.
	if err := chromedp.Run(ctx); err != nil {
		cancelTab()
		cancelAlloc()
		_ = os.RemoveAll(profile)
		t.Fatalf("browsertest: start %s: %v", path, err)
	}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		for i := 0; i < 20 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(50 * time.Millisecond)
		}
	})
	return ctx
}

// Timeout bounds a group of browser actions; a page that never reaches the
// state a test waits for fails the test instead of hanging it.
func Timeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

// Screenshot saves a PNG of the page under OMNICC_SCREENSHOTS (when set,
// for a human to look at) or the test's temp dir, and returns its path.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatalf("browsertest: screenshot %s: %v", name, err)
	}
	dir := os.Getenv("OMNICC_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	safe := strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' {
			return '_'
		}
		return r
	}, name)
	p := filepath.Join(dir, safe+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
