package webchat

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"sync"
)

// The widget's bundle, built by `make web` (npm run build in widget/).
//
//go:embed all:widget/dist
var widgetDist embed.FS

var widgetOnce struct {
	sync.Once
	js      []byte
	version string
}

// WidgetJS is the built widget and its version (a hash of its bytes, for
// ETag and cache busting). Before `make web` has run it is a stub that
// says so in the browser's console.
func WidgetJS() (js []byte, version string) {
	widgetOnce.Do(func() {
		b, err := fs.ReadFile(widgetDist, "widget/dist/widget.js")
		if err != nil || len(b) == 0 {
			b = []byte(`console.error("omnicc: the chat widget was not built into this omniccd (run make web, then rebuild)");`)
		}
		sum := sha256.Sum256(b)
		widgetOnce.js, widgetOnce.version = b, hex.EncodeToString(sum[:8])
	})
	return widgetOnce.js, widgetOnce.version
}

// WidgetBuilt reports whether the real widget (not the stub) is embedded.
func WidgetBuilt() bool {
	_, err := fs.Stat(widgetDist, "widget/dist/widget.js")
	return err == nil
}
