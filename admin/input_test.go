package admin

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wsnode/wsnode/node"
	"github.com/wsnode/wsnode/registry"
)

// A close reason must be valid UTF-8 (RFC 6455, 5.5.1) and fit the node's
// limit; the admin API says so before anything reaches the cluster.
func TestDisconnectReason(t *testing.T) {
	long := strings.Repeat("a", node.MaxCloseReason)
	for _, tc := range []struct {
		name, query string
		msg         string // substring of the 400's message; "" means 202
		reason      string // the reason passed on, for a 202
	}{
		{"invalid UTF-8", "code=4100&reason=%FF%FE", "UTF-8", ""},
		{"truncated rune", "reason=ok%C3", "UTF-8", ""},
		{"surrogate half", "reason=%ED%A0%80", "UTF-8", ""},
		{"one byte too long", "reason=" + long + "a", "longer than 120 bytes", ""},
		{"multi-byte over the limit", "reason=" + strings.Repeat("%C3%BC", node.MaxCloseReason/2+1), "longer than", ""},
		{"at the limit", "reason=" + long, "", long},
		{"multi-byte", "reason=gr%C3%BC%C3%9F+%E2%82%AC", "", "grüß €"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			rec := do(t, Handler(f, Config{}), http.MethodDelete, "/connections/c1?"+tc.query, "", nil)
			if tc.msg == "" {
				if rec.Code != http.StatusAccepted {
					t.Fatalf("status = %d (body %s)", rec.Code, rec.Body.String())
				}
				wantCalls(t, f, call{"Disconnect", []any{"c1", 0, tc.reason}})
				return
			}
			if msg := wantError(t, rec, http.StatusBadRequest, "bad_request"); !strings.Contains(msg, tc.msg) {
				t.Fatalf("message = %q, want it to contain %q", msg, tc.msg)
			}
			wantCalls(t, f)
		})
	}
}

// Every route that takes a name answers an invalid one with 400
// invalid_name, whichever way it is spelled in the path, and never calls
// the cluster. A segment that unescapes to "/" alone used to miss the mux
// and answer 404 "no such route".
func TestInvalidNameInPath(t *testing.T) {
	for _, tc := range []struct {
		method, path, kind, name string
	}{
		{http.MethodGet, "/users/%2F", "user", "/"},
		{http.MethodGet, "/users/%2f", "user", "/"},
		{http.MethodHead, "/users/%2F", "user", "/"},
		{http.MethodGet, "/users/a%2Fb", "user", "a/b"},
		{http.MethodGet, "/users/a%20b", "user", "a b"},
		{http.MethodGet, "/users/a:b", "user", "a:b"},
		{http.MethodGet, "/users/%00", "user", "\x00"},
		{http.MethodGet, "/users/" + strings.Repeat("u", registry.MaxNameLen+1), "user", strings.Repeat("u", registry.MaxNameLen+1)},
		{http.MethodGet, "/rooms/%2F", "room", "/"},
		{http.MethodGet, "/rooms/a%2Fb", "room", "a/b"},
		{http.MethodGet, "/rooms/%2A", "room", "*"},
		{http.MethodGet, "/connections/%2F", "conn", "/"},
		{http.MethodGet, "/connections/a%2Fb", "conn", "a/b"},
		{http.MethodGet, "/connections/c%7B1%7D", "conn", "c{1}"},
		{http.MethodDelete, "/connections/%2F", "conn", "/"},
		{http.MethodDelete, "/connections/a%2Fb", "conn", "a/b"},
		{http.MethodDelete, "/connections/a:b?code=4006", "conn", "a:b"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			f := newFake()
			rec := do(t, Handler(f, Config{Key: "k"}), tc.method, tc.path, "", map[string]string{"Authorization": "Bearer k"})
			want := registry.ValidateName(tc.kind, tc.name)
			if want == nil {
				t.Fatalf("test bug: %q is a valid %s name", tc.name, tc.kind)
			}
			if tc.method == http.MethodHead {
				// No body to check; the status must still say it.
				if rec.Code != http.StatusBadRequest {
					t.Fatalf("status = %d, want 400", rec.Code)
				}
			} else if msg := wantError(t, rec, http.StatusBadRequest, "invalid_name"); msg != want.Error() {
				t.Fatalf("message = %q, want %q", msg, want.Error())
			}
			wantCalls(t, f)
		})
	}
}

// Paths that are not one name segment of a known route stay 404, and so
// do methods a name route does not serve.
func TestNotANameStays404(t *testing.T) {
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/users/"},
		{http.MethodGet, "/users/a/b"},
		{http.MethodGet, "/users/%2F/x"},
		{http.MethodPost, "/users/%2F"},
		{http.MethodPut, "/connections/%2F"},
		{http.MethodDelete, "/rooms/%2F"},
		{http.MethodGet, "/nodes/%2F"},
		{http.MethodGet, "/%2F"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			f := newFake()
			rec := do(t, Handler(f, Config{}), tc.method, tc.path, "", nil)
			if msg := wantError(t, rec, http.StatusNotFound, "not_found"); msg != "no such route" {
				t.Fatalf("message = %q", msg)
			}
			wantCalls(t, f)
		})
	}
}
