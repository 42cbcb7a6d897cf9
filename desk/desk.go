// Package desk serves the agent desktop: the page built from desk/ui (npm,
// esbuild) and embedded in the binary, at /desk/ beside the API it uses.
package desk

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// dist is desk/ui's `npm run build` output; `make web` writes it. Before a
// build it holds only .gitkeep, and Handler answers that the page is missing.
//
//go:embed all:ui/dist
var dist embed.FS

// Prefix is where the desktop is served.
const Prefix = "/desk/"

// Built reports whether the embedded page exists (`make web` ran before
// the binary was built).
func Built() bool {
	_, err := fs.Stat(dist, "ui/dist/index.html")
	return err == nil
}

// Handler serves the desktop under Prefix. Hashed assets (/desk/assets/…)
// are cached for a year; every other path is a client route and gets
// index.html, never cached, so a new binary's page is picked up at once.
func Handler() http.Handler {
	root, err := fs.Sub(dist, "ui/dist")
	if err != nil {
		panic("desk: " + err.Error()) // the embed pattern guarantees the folder
	}
	return serve(root)
}

// serve is Handler over any built page, so its rules are tested without a build.
func serve(root fs.FS) http.Handler {
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		rel := strings.TrimPrefix(path.Clean(r.URL.Path), strings.TrimSuffix(Prefix, "/"))
		rel = strings.TrimPrefix(rel, "/")
		if strings.HasPrefix(rel, "assets/") {
			if _, err := fs.Stat(root, rel); err != nil {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/" + rel
			files.ServeHTTP(w, r2)
			return
		}
		index, err := fs.ReadFile(root, "index.html")
		if err != nil {
			http.Error(w, "the agent desktop was not built into this binary: run `make build` (it runs `make web`, which needs Node.js >= 20 and npm)", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// The page may only talk to its own origin (the API) and to the SIP
		// websocket, which is on Asterisk's host: connect-src allows ws/wss.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; media-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
		w.Header().Set("Referrer-Policy", "no-referrer")
		_, _ = w.Write(index)
	})
}
