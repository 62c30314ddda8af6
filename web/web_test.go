package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w
}

func TestDemoRoutes(t *testing.T) {
	h := Demo()
	w := get(t, h, "GET", "/")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `src="/demo/app.js"`) {
		t.Fatalf("GET /: %d %.200s", w.Code, w.Body.String())
	}
	csp := w.Header().Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "connect-src 'self' ws: wss:", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP allows inline code: %q", csp)
	}
	for path, ctype := range map[string]string{"/demo/app.js": "text/javascript", "/demo/style.css": "text/css"} {
		w := get(t, h, "GET", path)
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d %q", path, w.Code, w.Header().Get("Content-Type"))
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", path)
		}
	}
	for _, path := range []string{"/demo/", "/demo/nope.js", "/demo/index.html", "/demo/../ui/app.js", "/demo/%2e%2e/web.go", "/ui/app.js"} {
		if w := get(t, h, "GET", path); w.Code != 404 {
			t.Errorf("GET %s: %d, want 404", path, w.Code)
		}
	}
	if w := get(t, h, "POST", "/"); w.Code != 405 {
		t.Errorf("POST /: %d, want 405", w.Code)
	}
	if w := get(t, h, "HEAD", "/demo/app.js"); w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", w.Code, w.Body.Len())
	}
}

func TestDashboardRoutes(t *testing.T) {
	h := Dashboard()
	if w := get(t, h, "GET", "/ui"); w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "/ui/" {
		t.Errorf("GET /ui: %d -> %q", w.Code, w.Header().Get("Location"))
	}
	w := get(t, h, "GET", "/ui/")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `src="/ui/app.js"`) {
		t.Fatalf("GET /ui/: %d", w.Code)
	}
	csp := w.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "connect-src 'self';") || strings.Contains(csp, "unsafe") {
		t.Errorf("dashboard CSP %q", csp)
	}
	for _, path := range []string{"/ui/app.js", "/ui/chart.js", "/ui/style.css"} {
		if w := get(t, h, "GET", path); w.Code != 200 {
			t.Errorf("GET %s: %d", path, w.Code)
		}
	}
	if w := get(t, h, "GET", "/ui/demo.js"); w.Code != 404 {
		t.Errorf("GET /ui/demo.js: %d", w.Code)
	}
}

// The admin key must never be written anywhere but the Authorization
// header: a cheap guard against a later edit that stores it.
func TestDashboardKeepsKeyInMemory(t *testing.T) {
	for _, name := range []string{"ui/app.js", "ui/chart.js", "ui/index.html"} {
		b, err := files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"localStorage", "sessionStorage", "document.cookie", "indexedDB", "?key=", "&key="} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s mentions %s", name, bad)
			}
		}
	}
}
