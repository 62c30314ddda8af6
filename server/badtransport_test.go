package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsnode/wsnode/protocol"
)

// badSilentMember authenticates and joins a room over a socket with a tiny
// receive buffer, then never reads again.
func badSilentMember(t *testing.T, e *badEnv, user, room string) string {
	t.Helper()
	c, _, err := e.dial(e.node(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws := c.ws
	if tc, ok := ws.UnderlyingConn().(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	var welcome badFrame
	if err := ws.ReadJSON(&welcome); err != nil {
		t.Fatal(err)
	}
	for _, req := range []map[string]any{{"type": "auth", "token": e.token(user, "user", time.Hour)}, {"type": "join", "room": room}} {
		if err := ws.WriteJSON(req); err != nil {
			t.Fatal(err)
		}
		var f badFrame
		if err := ws.ReadJSON(&f); err != nil || f.Type == "error" {
			t.Fatalf("setup %v: %+v %v", req, f, err)
		}
	}
	return welcome.ConnID
}

func badTransportRows() []badRow {
	return []badRow{
		{name: "no pong closes 4004 while a ponging client stays",
			tune: func(c *Config) { c.Node.PingInterval, c.Node.PongTimeout = 300*time.Millisecond, 300*time.Millisecond },
			run: func(t *testing.T, e *badEnv) {
				good := e.user(e.node(), "pat", "user")
				mute, _, err := e.dial(e.node(), nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				mute.ws.SetPingHandler(func(string) error { return nil }) // never pong
				mute.read()
				mute.id = mute.expect("welcome").ConnID
				mute.send(map[string]any{"type": "auth", "token": e.token("quinn", "user", time.Hour)})
				mute.expect("authenticated")
				start := time.Now()
				mute.expectClose(protocol.ClosePingTimeout)
				if d := time.Since(start); d < 500*time.Millisecond || d > 3*time.Second {
					t.Errorf("closed after %v, want about ping interval + pong timeout (600ms)", d)
				}
				e.noTraces(mute.id)
				good.alive() // silent too, but it answers pings
			}},
		{name: "slow request headers are dropped at ReadHeaderTimeout",
			run: func(t *testing.T, e *badEnv) {
				addr, stop := badHTTPServer(t, e.node().srv.ClientHandler(), 300*time.Millisecond)
				defer stop()
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				start := time.Now()
				if _, err := io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\n"); err != nil {
					t.Fatal(err)
				}
				stopDribble, dribbled := make(chan struct{}), make(chan struct{})
				go func() { // dribble a header byte every 50 ms: the deadline is absolute
					defer close(dribbled)
					for {
						select {
						case <-stopDribble:
							return
						case <-time.After(50 * time.Millisecond):
						}
						if _, err := conn.Write([]byte("X")); err != nil {
							return
						}
					}
				}()
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
				d := time.Since(start)
				close(stopDribble)
				<-dribbled
				if err == nil { // net/http answers 400 to a half-received header line
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusRequestTimeout {
						t.Fatalf("slow headers answered %d", resp.StatusCode)
					}
				} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatal("server kept the slow connection open")
				}
				if d < 250*time.Millisecond || d > 2*time.Second {
					t.Errorf("dropped after %v, want about 300ms", d)
				}
				e.unchanged()
			}},
		{name: "server read and write timeouts do not cut an upgraded socket",
			run: func(t *testing.T, e *badEnv) {
				addr, stop := badHTTPServer(t, e.node().srv.ClientHandler(), 300*time.Millisecond)
				defer stop()
				c, _, err := e.dialURL("ws://"+addr+"/ws", nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				c.read()
				c.id = c.expect("welcome").ConnID
				c.send(map[string]any{"type": "auth", "token": e.token("rae", "user", time.Hour)})
				c.expect("authenticated")
				time.Sleep(1500 * time.Millisecond) // > ReadTimeout, WriteTimeout, IdleTimeout
				c.alive()
			}},
		{name: "concurrent frames of every kind to one socket",
			tune: func(c *Config) {
				c.Node.MessageRate, c.Node.SendQueueSize, c.Node.MaxQueuedBytes = -1, 8192, 64<<20
			},
			run: badConcurrentRow},
	}
}

// badHTTPServer serves h like cmd/wsnode's newHTTPServer does, with every
// timeout scaled down to d (ReadTimeout, WriteTimeout, IdleTimeout: 2d).
func badHTTPServer(t *testing.T, h http.Handler, d time.Duration) (string, func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: d, ReadTimeout: 2 * d, WriteTimeout: 2 * d,
		IdleTimeout: 2 * d, MaxHeaderBytes: 16 << 10}
	done := make(chan struct{})
	go func() { defer close(done); _ = hs.Serve(l) }()
	return l.Addr().String(), func() { _ = hs.Close(); <-done }
}

func badConcurrentRow(t *testing.T, e *badEnv) {
	nd := e.node().srv.node
	target := e.user(e.node(), "tina", "user")
	target.send(map[string]any{"type": "join", "room": "r"})
	target.expect("joined")
	sys := e.user(e.node(), "sys", "system")
	sys.send(map[string]any{"type": "join", "room": "r"})
	sys.expect("joined")
	// sys only has to be drained: its reader queues whatever arrives.

	const n = 40
	ctx := context.Background()
	data := json.RawMessage(`{"k":1}`)
	var wg sync.WaitGroup
	errs := make(chan error, 16*n)
	api := []func() error{
		func() error { return nd.BroadcastRoom(ctx, "r", data, sys.id) },
		func() error { return nd.SendToConn(ctx, target.id, data) },
		func() error { return nd.SendToUser(ctx, "tina", data) },
		func() error { return nd.BroadcastAll(ctx, data, sys.id) },
		func() error { nd.Ping(); return nil },
		func() error {
			body := strings.NewReader(`{"conn_id":"` + target.id + `","data":{"k":2}}`)
			resp, err := e.httpc.Post(e.node().admin.URL+"/publish", "application/json", body)
			if err != nil {
				return err
			}
			_ = resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				return fmt.Errorf("admin publish: %d", resp.StatusCode)
			}
			return nil
		},
	}
	for _, f := range api {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				if err := f(); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Add(2)
	go func() { // sys writes room messages, directs and broadcasts
		defer wg.Done()
		for range n {
			for _, req := range []map[string]any{
				{"type": "message", "room": "r", "data": 1, "echo": false},
				{"type": "direct", "to_user": "tina", "data": 2},
				{"type": "direct", "to_conn": target.id, "data": 3},
				{"type": "broadcast", "data": 4, "echo": false},
			} {
				if err := sys.ws.WriteJSON(req); err != nil {
					errs <- err
				}
			}
		}
	}()
	go func() { // the target itself pings, joins and leaves
		defer wg.Done()
		for i := range n {
			for _, req := range []map[string]any{
				{"type": "ping", "id": i}, {"type": "join", "room": "side"}, {"type": "leave", "room": "side"},
			} {
				if err := target.ws.WriteJSON(req); err != nil {
					errs <- err
				}
			}
		}
	}()
	want := map[string]int{"message": 2 * n, "direct": 5 * n, "broadcast": 2 * n, "pong": n, "joined": n, "left": n}
	got := map[string]int{}
	deadline := time.Now().Add(20 * time.Second)
	for !maps.Equal(got, want) {
		f, ok, err := target.nextWithin(time.Until(deadline))
		switch {
		case err != nil:
			t.Fatalf("got %v, want %v", got, want)
		case !ok:
			code, text := target.closed()
			t.Fatalf("target closed (%d %q); got %v, want %v", code, text, got, want)
		}
		if f.Type != "ping" {
			got[f.Type]++
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := nd.Disconnect(ctx, target.id, 0, "bye"); err != nil {
		t.Fatal(err)
	}
	target.expectClose(protocol.CloseKicked)
	e.noTraces(target.id)
}

func badSorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestBadAdminKey: with a key set, everything but health and readiness needs
// "Authorization: Bearer <key>".
func TestBadAdminKey(t *testing.T) {
	e := badStart(t, func(c *Config) { c.AdminKey = "s3cret-admin-key" })
	get := func(path, authz string) int {
		req, _ := http.NewRequest(http.MethodGet, e.node().admin.URL+path, nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := e.httpc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if got := get(p, ""); got != http.StatusOK {
			t.Errorf("%s without key: %d, want 200", p, got)
		}
	}
	for _, authz := range []string{"", "Bearer", "Bearer ", "Bearer s3cret-admin-ke", "Bearer s3cret-admin-key2",
		"Basic s3cret-admin-key", "s3cret-admin-key", "Bearer  s3cret-admin-key"} {
		for _, p := range []string{"/stats", "/rooms", "/nodes", "/metrics", "/nope"} {
			if got := get(p, authz); got != http.StatusUnauthorized {
				t.Errorf("GET %s with %q: %d, want 401", p, authz, got)
			}
		}
	}
	if got := get("/stats", "Bearer s3cret-admin-key"); got != http.StatusOK {
		t.Errorf("GET /stats with the key: %d, want 200", got)
	}
	e.finish()
}

// TestBadDrainingRefuses: a draining node answers new handshakes 503.
func TestBadDrainingRefuses(t *testing.T) {
	e := badStart(t, nil)
	c := e.user(e.node(), "zed", "user")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	drained := make(chan error, 1)
	go func() { drained <- e.node().srv.node.Shutdown(ctx) }()
	c.expectClose(protocol.CloseGoingAway)
	e.refused(e.node(), nil, http.StatusServiceUnavailable)
	e.noTraces(c.id)
	if err := <-drained; err != nil { // before cancel() ends the drain early
		t.Fatalf("drain: %v", err)
	}
}
