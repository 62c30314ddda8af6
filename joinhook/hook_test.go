package joinhook

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// backend is a scripted join hook endpoint.
type backend struct {
	*httptest.Server
	calls atomic.Int64
	mu    sync.Mutex
	last  request
}

func newBackend(t *testing.T, answer func(w http.ResponseWriter, req request)) *backend {
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.calls.Add(1)
		var req request
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" ||
			json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, "bad hook request", http.StatusTeapot)
			return
		}
		b.mu.Lock()
		b.last = req
		b.mu.Unlock()
		answer(w, req)
	}))
	t.Cleanup(b.Close)
	return b
}

func newHook(t *testing.T, cfg Config) *Hook {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	cfg.Client = &http.Client{Transport: tr}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestDecisions(t *testing.T) {
	b := newBackend(t, func(w http.ResponseWriter, req request) {
		switch req.Room {
		case "open":
			w.WriteHeader(http.StatusNoContent)
		case "closed":
			http.Error(w, "no", http.StatusForbidden)
		case "broken":
			http.Error(w, "oops", http.StatusInternalServerError)
		case "huge":
			_, _ = w.Write([]byte(strings.Repeat("x", MaxResponseBytes+1)))
		case "slow":
			time.Sleep(300 * time.Millisecond)
		case "redirect":
			w.WriteHeader(http.StatusMultipleChoices)
		}
	})
	h := newHook(t, Config{URL: b.URL, NodeID: "n1", Timeout: 150 * time.Millisecond, CacheTTL: -1})
	ctx := context.Background()
	for room, want := range map[string]struct {
		ok  bool
		err error
	}{
		"open": {true, nil}, "closed": {false, nil}, "broken": {false, ErrAnswer}, "huge": {false, ErrAnswer},
		"slow": {false, context.DeadlineExceeded}, "redirect": {false, ErrAnswer},
	} {
		ok, err := h.AuthorizeJoin(ctx, "alice", "user", "c-1", room)
		if ok != want.ok || (want.err == nil) != (err == nil) || (want.err != nil && !errors.Is(err, want.err)) {
			t.Errorf("room %s: (%v, %v), want (%v, %v)", room, ok, err, want.ok, want.err)
		}
	}
	b.mu.Lock()
	last := b.last
	b.mu.Unlock()
	if last.User != "alice" || last.ConnType != "user" || last.ConnID != "c-1" || last.NodeID != "n1" || last.Room == "" {
		t.Errorf("the backend received %+v", last)
	}
}

// A backend that is down, or that answers with something other than HTTP,
// gives no decision.
func TestBackendDownOrGarbage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Read(make([]byte, 4096)) // the request
			_, _ = c.Write([]byte("\x00\x01garbage, not HTTP\r\n\r\n"))
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	h := newHook(t, Config{URL: "http://" + ln.Addr().String() + "/join", Timeout: time.Second})
	if ok, err := h.AuthorizeJoin(context.Background(), "a", "user", "c", "r"); ok || err == nil {
		t.Errorf("garbage answer: (%v, %v), want an error", ok, err)
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.Addr().String()
	_ = closed.Close() // nothing listens there now
	down := newHook(t, Config{URL: "http://" + addr + "/join", Timeout: time.Second})
	if ok, err := down.AuthorizeJoin(context.Background(), "a", "user", "c", "r"); ok || err == nil {
		t.Errorf("unreachable backend: (%v, %v), want an error", ok, err)
	}
}

func TestCacheAllowsOnlyUntilExpiry(t *testing.T) {
	b := newBackend(t, func(w http.ResponseWriter, req request) {
		if req.Room == "closed" {
			w.WriteHeader(http.StatusForbidden)
		}
	})
	h := newHook(t, Config{URL: b.URL, CacheTTL: time.Minute})
	now := time.Now()
	h.cache.now = func() time.Time { return now }
	ctx := context.Background()
	for range 3 {
		if ok, err := h.AuthorizeJoin(ctx, "alice", "user", "c", "room"); !ok || err != nil {
			t.Fatalf("(%v, %v)", ok, err)
		}
		if ok, _ := h.AuthorizeJoin(ctx, "alice", "user", "c", "closed"); ok {
			t.Fatal("denied room allowed")
		}
		// Guests have no user to key the cache by: always asked.
		if ok, _ := h.AuthorizeJoin(ctx, "", "guest", "g", "room"); !ok {
			t.Fatal("guest refused")
		}
	}
	if got := b.calls.Load(); got != 1+3+3 {
		t.Fatalf("%d backend calls, want 7 (one allow cached, denials and guests never)", got)
	}
	now = now.Add(time.Minute)
	if ok, _ := h.AuthorizeJoin(ctx, "alice", "user", "c", "room"); !ok || b.calls.Load() != 8 {
		t.Fatalf("after expiry: ok=%v, %d calls; want the backend asked again", ok, b.calls.Load())
	}
}

func TestCacheIsBounded(t *testing.T) {
	c := newCache(time.Minute, 3)
	for _, r := range []string{"a", "b", "c", "d"} {
		c.allow("u", r)
	}
	if len(c.entries) > 3 || !c.allowed("u", "d") {
		t.Fatalf("cache %v: must hold at most 3 and the newest", c.entries)
	}
}

// No more than MaxConcurrent requests are in flight; a join that finds no
// slot within the timeout fails with ErrBusy.
func TestConcurrencyBound(t *testing.T) {
	release := make(chan struct{})
	var inFlight, peak atomic.Int64
	b := newBackend(t, func(w http.ResponseWriter, req request) {
		n := inFlight.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release
		inFlight.Add(-1)
	})
	h := newHook(t, Config{URL: b.URL, MaxConcurrent: 2, Timeout: 10 * time.Second, CacheTTL: -1})
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() { _, _ = h.AuthorizeJoin(context.Background(), "u", "user", "c", string(rune('a'+i))) })
	}
	for deadline := time.Now().Add(10 * time.Second); inFlight.Load() < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the two requests never reached the backend")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := h.AuthorizeJoin(ctx, "u", "user", "c", "third"); !errors.Is(err, ErrBusy) {
		t.Errorf("third request: %v, want ErrBusy", err)
	}
	close(release)
	wg.Wait()
	if p := peak.Load(); p != 2 {
		t.Errorf("peak in flight %d, want 2", p)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{{}, {URL: "ftp://x"}, {URL: "/join"}, {URL: "http://"}, {URL: "http://x", Timeout: -1}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) = nil error", cfg)
		}
	}
}
