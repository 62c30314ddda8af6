package server

import (
	_ "embed"
	"net/http"
)

//go:embed demo.html
var demoHTML []byte

// demoPage serves a tiny browser client for trying a node by hand.
func demoPage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self' ws: wss:")
	_, _ = w.Write(demoHTML)
}
