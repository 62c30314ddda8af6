package server

import (
	"net/http"

	jsclient "github.com/wsnode/wsnode/clients/js"
	"github.com/wsnode/wsnode/web"
)

// mountDemo adds the demo chat (package web) to the client listener's mux:
// the page on GET /, its assets under /demo/, and the JS client it is
// built on at /wsnode.js (with its TypeScript declarations, /wsnode.d.ts).
func mountDemo(mux *http.ServeMux) {
	demo := web.Demo()
	mux.Handle("GET /{$}", demo)
	mux.Handle("GET /demo/", demo)
	mux.Handle("GET /wsnode.js", jsclient.Handler())
	mux.Handle("GET /wsnode.d.ts", jsclient.Handler())
}

// withDashboard serves the operator dashboard (package web) on GET /ui and
// /ui/… next to the admin API. The page and its assets need no admin key:
// they hold no data, and every call the page makes to the API carries the
// key the operator typed.
func withDashboard(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	ui := web.Dashboard()
	mux.Handle("GET /ui", ui)
	mux.Handle("GET /ui/", ui)
	mux.Handle("/", api)
	return mux
}
