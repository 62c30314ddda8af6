package jsclient_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	jsclient "github.com/wsnode/wsnode/clients/js"
)

func TestHandlerServesTheModule(t *testing.T) {
	h := jsclient.Handler()
	for _, path := range []string{"/wsnode.js", "/static/js/wsnode.js"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
		if !bytes.Equal(rec.Body.Bytes(), jsclient.Module) || !bytes.Contains(jsclient.Module, []byte("export class Client")) {
			t.Errorf("GET %s: not the module", path)
		}
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/wsnode.d.ts", nil))
	if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), jsclient.Types) {
		t.Errorf("GET /wsnode.d.ts: %d", rec.Code)
	}
}

func TestHandlerRevalidatesWithETag(t *testing.T) {
	h := jsclient.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/wsnode.js", nil))
	etag := rec.Header().Get("ETag")
	if etag == "" || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q", etag, rec.Header().Get("Cache-Control"))
	}
	req := httptest.NewRequest(http.MethodGet, "/wsnode.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", rec.Code)
	}
}

func TestHandlerRefusesOtherPathsAndMethods(t *testing.T) {
	h := jsclient.Handler()
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/other.js", http.StatusNotFound},
		{http.MethodGet, "/", http.StatusNotFound},
		{http.MethodPost, "/wsnode.js", http.StatusMethodNotAllowed},
		{http.MethodHead, "/wsnode.js", http.StatusOK},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, rec.Code, tc.want)
		}
	}
}
