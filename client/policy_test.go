package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

var testBackoff = Backoff{Base: 100 * time.Millisecond, Max: time.Second, Factor: 2}

func half() float64 { return 0.5 }

// startFake starts a client against a fake node with the recording clock
// and a fixed jitter of 0.5, and plays the first handshake.
func startFake(t *testing.T, cfg Config) (*fakeServer, *Client, *fakeClock, *events, *fakeConn) {
	t.Helper()
	f := newFakeServer(t)
	clk, ev := &fakeClock{}, newEvents()
	if cfg.Clock == nil {
		cfg.Clock = clk
	}
	cfg.Rand, cfg.OnState, cfg.Backoff = half, ev.on, testBackoff
	if cfg.Token == "" && cfg.TokenProvider == nil {
		cfg.Token = "tok"
	}
	c := New(f.url(), cfg)
	c.Start()
	t.Cleanup(func() { _ = c.Close() })
	fc := f.accept()
	fc.handshake()
	ev.waitFor(t, StateConnected)
	return f, c, clk, ev, fc
}

// TestClosePolicy: each close code leads to the documented action: 1001
// reconnects with no delay, 1006 and 4000-4499 (and codes not listed)
// after a full-jitter delay, 1007/1008/1009 and 4500-4999 stop the client
// with a *CloseError carrying code and reason.
func TestClosePolicy(t *testing.T) {
	for _, tc := range []struct {
		code int
		want string
	}{
		{1001, "now"},
		{1006, "backoff"}, {1011, "backoff"}, {4000, "backoff"}, {4001, "backoff"}, {4003, "backoff"},
		{4004, "backoff"}, {4005, "backoff"}, {4006, "backoff"}, {4007, "backoff"}, {4499, "backoff"},
		{1007, "stop"}, {1008, "stop"}, {1009, "stop"}, {4500, "stop"}, {4501, "stop"}, {4999, "stop"},
	} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			f, c, clk, ev, fc := startFake(t, Config{})
			if tc.code == 1006 {
				fc.kill()
			} else {
				fc.closeWith(tc.code, "why")
			}
			switch tc.want {
			case "stop":
				select {
				case <-c.Done():
				case <-time.After(fakeWait):
					t.Fatal("client did not stop")
				}
				var ce *CloseError
				if err := c.Err(); !errors.As(err, &ce) || ce.Code != tc.code || ce.Reason != "why" {
					t.Fatalf("Err() = %v, want *CloseError{%d, why}", err, tc.code)
				}
				if e := ev.waitFor(t, StateStopped); e.Code != tc.code || e.Reason != "why" {
					t.Fatalf("stopped event %+v", e)
				}
				if len(clk.recorded()) != 0 || WillReconnect(tc.code) {
					t.Fatalf("stop code %d slept %v / WillReconnect", tc.code, clk.recorded())
				}
				// Calls on a stopped client fail with the reason.
				if _, err := c.Ping(context.Background()); !errors.As(err, &ce) {
					t.Fatalf("Ping after stop: %v", err)
				}
			case "now", "backoff":
				e := ev.waitFor(t, StateDisconnected)
				f.accept().handshake()
				ev.waitFor(t, StateConnected)
				var want []time.Duration
				if tc.want == "backoff" {
					want = []time.Duration{testBackoff.Delay(0, 0.5)}
				}
				if got := clk.recorded(); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("delays %v, want %v", got, want)
				}
				if e.Code != tc.code || (len(want) == 1 && e.Delay != want[0]) || (len(want) == 0 && e.Delay != 0) {
					t.Fatalf("disconnected event %+v", e)
				}
				if tc.code != 1006 && e.Reason != "why" {
					t.Fatalf("disconnected event reason %q", e.Reason)
				}
			}
		})
	}
}

// TestBackoffGrowsAndResets: refused handshakes back off with growing,
// capped delays; a connection that stayed up StableAfter starts over.
func TestBackoffGrowsAndResets(t *testing.T) {
	f := newFakeServer(t)
	f.refuse = http.StatusServiceUnavailable
	clk, ev := &fakeClock{now: time.Unix(1000, 0)}, newEvents()
	c := New(f.url(), Config{Token: "tok", Clock: clk, Rand: half, OnState: ev.on, Backoff: testBackoff})
	c.Start()
	defer c.Close()
	for range 7 {
		ev.waitFor(t, StateDisconnected)
	}
	f.mu.Lock()
	f.refuse = 0
	f.mu.Unlock()
	fc := f.accept()
	fc.handshake()
	ev.waitFor(t, StateConnected)
	got := clk.recorded()
	want := []time.Duration{50, 100, 200, 400, 500, 500, 500}
	for i := range want {
		if i >= len(got) || got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms first", got, want)
		}
	}
	// Up for StableAfter (by the fake clock), then lost: attempt 0 again.
	clk.mu.Lock()
	clk.now = clk.now.Add(2 * time.Second)
	n := len(clk.delays)
	clk.mu.Unlock()
	fc.kill()
	ev.waitFor(t, StateDisconnected)
	f.accept().handshake()
	if got := clk.recorded(); len(got) != n+1 || got[n] != 50*time.Millisecond {
		t.Fatalf("after a stable connection: delays %v, want a last one of 50ms", got)
	}
}

// A 503 with Retry-After (a node in a reconnect storm) delays the next
// attempt by at least that, plus jitter, whatever the backoff says.
func TestBusyNodeRetryAfter(t *testing.T) {
	f := newFakeServer(t)
	f.refuse, f.retryAfter = http.StatusServiceUnavailable, "2"
	clk, ev := &fakeClock{now: time.Unix(1000, 0)}, newEvents()
	c := New(f.url(), Config{Token: "tok", Clock: clk, Rand: half, OnState: ev.on, Backoff: testBackoff})
	c.Start()
	defer c.Close()
	for range 2 {
		ev.waitFor(t, StateDisconnected)
	}
	f.mu.Lock()
	f.refuse = 0
	f.mu.Unlock()
	f.accept().handshake()
	ev.waitFor(t, StateConnected)
	if got := clk.recorded(); len(got) < 2 || got[0] != 2500*time.Millisecond || got[1] != 2500*time.Millisecond {
		t.Fatalf("delays %v, want 2.5s (Retry-After 2s + half of 1s of jitter) twice", got)
	}
}

// TestHandshakeRefusedStops: HTTP 401 or 403 before the upgrade will not
// clear by retrying.
func TestHandshakeRefusedStops(t *testing.T) {
	f := newFakeServer(t)
	f.refuse = http.StatusUnauthorized
	ctx, cancel := context.WithTimeout(context.Background(), fakeWait)
	defer cancel()
	_, err := Dial(ctx, f.url(), Config{Clock: &fakeClock{}, Rand: half})
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Status != http.StatusUnauthorized {
		t.Fatalf("Dial: %v, want *CloseError with status 401", err)
	}
}

// TestAuthFailedStops: an auth error frame followed by 4500.
func TestAuthFailedStops(t *testing.T) {
	f := newFakeServer(t)
	go func() {
		fc := <-f.conns
		fc.welcome(25000)
		a := <-fc.frames
		_ = fc.ws.WriteJSON(map[string]any{"type": "error", "code": "auth_failed", "message": "bad token", "ref": a["id"]})
		fc.closeWith(4500, "auth failed")
	}()
	ctx, cancel := context.WithTimeout(context.Background(), fakeWait)
	defer cancel()
	_, err := Dial(ctx, f.url(), Config{Token: "bad", Clock: &fakeClock{}, Rand: half})
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 4500 || ce.Reason != "auth failed" {
		t.Fatalf("Dial: %v, want *CloseError 4500", err)
	}
}

// TestTokenRefreshOn4005: the token provider is asked again for the
// connection after a 4005 close, and that connection sends its token.
func TestTokenRefreshOn4005(t *testing.T) {
	calls := make(chan int, 10)
	n := 0
	provider := func(ctx context.Context) (string, error) {
		n++ // the reconnect loop calls it, one call at a time
		calls <- n
		return fmt.Sprintf("tok%d", n), nil
	}
	f := newFakeServer(t)
	ev := newEvents()
	c := New(f.url(), Config{TokenProvider: provider, Clock: &fakeClock{}, Rand: half, OnState: ev.on})
	c.Start()
	defer c.Close()
	fc := f.accept()
	if tok := fc.handshake(); tok != "tok1" {
		t.Fatalf("first token %q", tok)
	}
	ev.waitFor(t, StateConnected)
	fc.send(map[string]any{"type": "error", "code": "token_expired", "message": "token expired"})
	fc.closeWith(4005, "token expired")
	if e := ev.waitFor(t, StateDisconnected); e.Code != 4005 {
		t.Fatalf("disconnected %+v", e)
	}
	if tok := f.accept().handshake(); tok != "tok2" {
		t.Fatalf("token after 4005 = %q, want the fresh tok2", tok)
	}
	if got := len(calls); got != 2 {
		t.Fatalf("provider called %d times, want 2", got)
	}
}

// TestCloseDuringBackoff: Close returns while the loop waits to reconnect,
// and is idempotent.
func TestCloseDuringBackoff(t *testing.T) {
	_, c, _, ev, fc := startFake(t, Config{Clock: &fakeClock{block: true}})
	fc.kill()
	ev.waitFor(t, StateDisconnected)
	done := make(chan struct{})
	go func() { _ = c.Close(); _ = c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(fakeWait):
		t.Fatal("Close hung during backoff")
	}
	if !errors.Is(c.Err(), ErrClosed) || c.State() != StateStopped {
		t.Fatalf("after Close: %v %s", c.Err(), c.State())
	}
}

// TestCloseFromCallback: a callback may call Close; it returns and the
// client stops.
func TestCloseFromCallback(t *testing.T) {
	f := newFakeServer(t)
	var c *Client
	closed := make(chan struct{})
	c = New(f.url(), Config{Token: "tok", Clock: &fakeClock{}, Rand: half, OnState: func(e StateEvent) {
		if e.State == StateConnected {
			_ = c.Close()
			close(closed)
		}
	}})
	c.Start()
	f.accept().handshake()
	select {
	case <-closed:
	case <-time.After(fakeWait):
		t.Fatal("Close from a callback hung")
	}
	<-c.Done()
	_ = c.Close() // again, from the test: returns at once
	<-c.disp.done // the callback goroutine has ended
	if !errors.Is(c.Err(), ErrClosed) {
		t.Fatalf("Err() = %v", c.Err())
	}
}
