// Package jsclient carries the JavaScript client library, wsnode.js, and its
// TypeScript declarations, wsnode.d.ts, inside the Go binary, so a node can
// serve the client that matches its own wire protocol without a separate
// deployment. The sources, tests and npm package live next to this file.
package jsclient

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"path"
	"time"
)

// Module is wsnode.js, the ES module.
//
//go:embed wsnode.js
var Module []byte

// Types is wsnode.d.ts, the TypeScript declarations of Module.
//
//go:embed wsnode.d.ts
var Types []byte

// file is one servable file with its precomputed validator.
type file struct {
	body        []byte
	contentType string
	etag        string
}

func newFile(body []byte, contentType string) file {
	sum := sha256.Sum256(body)
	return file{body, contentType, `"` + hex.EncodeToString(sum[:8]) + `"`}
}

var files = map[string]file{
	"wsnode.js":   newFile(Module, "text/javascript; charset=utf-8"),
	"wsnode.d.ts": newFile(Types, "application/typescript; charset=utf-8"),
}

// Handler serves GET and HEAD of any path whose last element is wsnode.js or
// wsnode.d.ts (so it works mounted at "/wsnode.js" as well as under a prefix
// such as "/js/"); anything else is 404. Responses carry an ETag and
// "Cache-Control: no-cache": browsers revalidate, so a node upgrade never
// leaves them on an old client, and an unchanged file costs a 304.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	f, ok := files[path.Base(r.URL.Path)]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	// ServeContent answers If-None-Match with 304 and handles Range and HEAD.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
