// Package web holds the browser pages that a wsnode binary serves, embedded
// (no CDN, no build step): the demo chat on the client listener (GET /,
// built on the JS client served at /wsnode.js) and the operator dashboard on
// the admin listener (GET /ui).
//
// Neither page holds data. The dashboard reads the admin API with the key
// the operator types, kept in the page's memory only; the demo page talks
// to GET /ws like any client.
package web

import (
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed demo ui
var files embed.FS

// Content-Security-Policy of both pages: scripts and styles from the same
// origin only, no inline script, no framing.
const (
	demoCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

// Demo serves the demo chat: GET / is the page, GET /demo/<file> its
// scripts and styles. Mount it on "GET /{$}" and "GET /demo/". The page
// loads the JS client from /wsnode.js, which the caller serves.
func Demo() http.Handler {
	return &site{dir: "demo", prefix: "/demo/", index: "/", csp: demoCSP}
}

// Dashboard serves the operator dashboard: GET /ui redirects to /ui/, the
// page, and GET /ui/<file> are its scripts and styles. Mount it on
// "GET /ui" and "GET /ui/" of the admin listener, outside the admin key:
// the page itself holds no data; every call it makes to the admin API
// carries the key the operator typed.
func Dashboard() http.Handler {
	return &site{dir: "ui", prefix: "/ui/", index: "/ui/", csp: dashboardCSP}
}

type site struct {
	dir, prefix, index, csp string
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if p+"/" == s.prefix { // "/ui" -> "/ui/"
		http.Redirect(w, r, s.prefix, http.StatusMovedPermanently)
		return
	}
	name := "index.html"
	if p != s.index {
		rest, ok := strings.CutPrefix(p, s.prefix)
		if !ok || rest == "" || rest == "index.html" || strings.Contains(rest, "/") || !fs.ValidPath(rest) {
			http.NotFound(w, r)
			return
		}
		name = rest
	}
	b, err := files.ReadFile(s.dir + "/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	ctype := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".js", ".mjs":
		ctype = "text/javascript; charset=utf-8"
	case ".html":
		ctype = "text/html; charset=utf-8"
		h.Set("Content-Security-Policy", s.csp)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
	case ".css":
		ctype = "text/css; charset=utf-8"
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h.Set("Content-Type", ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	// Small files, served from the binary: always revalidate so an
	// upgraded node never runs a stale page against its API.
	h.Set("Cache-Control", "no-cache")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(b)
}
