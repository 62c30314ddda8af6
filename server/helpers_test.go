package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/node"
)

const testSecret = "test-secret"

// testNode is one in-process node with its HTTP servers.
type testNode struct {
	srv    *Server
	client *httptest.Server
	admin  *httptest.Server
}

// MustCluster starts n nodes sharing one miniredis. tune may adjust each
// node's config before it starts.
func MustCluster(tb testing.TB, n int, tune func(*Config)) ([]*testNode, *miniredis.Miniredis) {
	tb.Helper()
	m := miniredis.RunT(tb)
	nodes := make([]*testNode, n)
	for i := range nodes {
		nodes[i] = MustNode(tb, m.Addr(), "node-"+string(rune('a'+i)), tune)
	}
	return nodes, m
}

// MustNode starts one node against the Redis at addr.
func MustNode(tb testing.TB, addr, id string, tune func(*Config)) *testNode {
	tb.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	v, err := auth.NewVerifier(0, testSecret)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := Config{
		Node: node.Config{NodeID: id, Verifier: v, HeartbeatInterval: 100 * time.Millisecond,
			ReapInterval: 100 * time.Millisecond, FlushInterval: 100 * time.Millisecond},
		Prefix: "t", Logger: slog.New(slog.DiscardHandler),
	}
	if tune != nil {
		tune(&cfg)
	}
	srv, err := New(rdb, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tn := &testNode{srv: srv, client: httptest.NewServer(srv.ClientHandler()), admin: httptest.NewServer(srv.AdminHandler())}
	done := make(chan error, 1)
	go func() { done <- srv.Run(context.Background()) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown %s: %v", id, err)
		}
		if err := <-done; err != nil {
			tb.Errorf("run %s: %v", id, err)
		}
		tn.client.Close()
		tn.admin.Close()
		_ = rdb.Close()
	})
	waitFor(tb, 5*time.Second, "node ready", func() bool { return srv.node.Ready() == nil })
	return tn
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// frame is a decoded server frame.
type frame map[string]any

func (f frame) str(k string) string { s, _ := f[k].(string); return s }

// client is a test WebSocket client.
type client struct {
	tb      testing.TB
	ws      *websocket.Conn
	connID  string
	nodeID  string
	frames  chan frame
	closeCh chan int
}

// MustDial connects to a node and reads the welcome frame.
func MustDial(tb testing.TB, tn *testNode) *client {
	tb.Helper()
	url := "ws" + strings.TrimPrefix(tn.client.URL, "http") + "/ws"
	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	_ = resp.Body.Close()
	c := &client{tb: tb, ws: ws, frames: make(chan frame, 1024), closeCh: make(chan int, 1)}
	go c.read()
	tb.Cleanup(func() { _ = ws.Close() })
	w := c.expect("welcome")
	c.connID, c.nodeID = w.str("conn_id"), w.str("node_id")
	return c
}

func (c *client) read() {
	defer close(c.frames)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			code := 1006
			if ce, ok := err.(*websocket.CloseError); ok {
				code = ce.Code
			}
			c.closeCh <- code
			return
		}
		var f frame
		if json.Unmarshal(data, &f) == nil && f.str("type") != "ping" {
			c.frames <- f
		}
	}
}

func (c *client) send(v any) {
	c.tb.Helper()
	if err := c.ws.WriteJSON(v); err != nil {
		c.tb.Fatalf("write: %v", err)
	}
}

// expect returns the next frame, which must have the given type.
func (c *client) expect(typ string) frame {
	c.tb.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.tb.Fatalf("connection closed while waiting for %q", typ)
		}
		if f.str("type") != typ {
			c.tb.Fatalf("got frame %v, want type %q", f, typ)
		}
		return f
	case <-time.After(5 * time.Second):
		c.tb.Fatalf("timed out waiting for %q", typ)
	}
	return nil
}

// expectEither returns the next two frames, one of type a and one of type
// b, in whichever order they arrive: a sender's echo comes through pub/sub
// and its ack from the PUBLISH reply, two connections with no order between
// them.
func (c *client) expectEither(a, b string) (fa, fb frame) {
	c.tb.Helper()
	for fa == nil || fb == nil {
		select {
		case f, ok := <-c.frames:
			switch {
			case !ok:
				c.tb.Fatalf("connection closed while waiting for %q and %q", a, b)
			case f.str("type") == a && fa == nil:
				fa = f
			case f.str("type") == b && fb == nil:
				fb = f
			default:
				c.tb.Fatalf("got frame %v, want %q and %q", f, a, b)
			}
		case <-time.After(5 * time.Second):
			c.tb.Fatalf("timed out waiting for %q and %q", a, b)
		}
	}
	return fa, fb
}

// expectNone asserts that no frame arrives within d.
func (c *client) expectNone(d time.Duration) {
	c.tb.Helper()
	select {
	case f, ok := <-c.frames:
		if ok {
			c.tb.Fatalf("unexpected frame %v", f)
		}
	case <-time.After(d):
	}
}

// expectClose waits for the server's close code.
func (c *client) expectClose(want int) {
	c.tb.Helper()
	for {
		select {
		case _, ok := <-c.frames:
			if ok {
				continue
			}
			got := <-c.closeCh
			if got != want {
				c.tb.Fatalf("close code = %d, want %d", got, want)
			}
			return
		case <-time.After(10 * time.Second):
			c.tb.Fatalf("timed out waiting for close %d", want)
		}
	}
}

func mustToken(tb testing.TB, user, typ string) string {
	tb.Helper()
	v, err := auth.NewVerifier(0, testSecret)
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := v.Mint(user, typ, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// MustUser dials and authenticates as user.
func MustUser(tb testing.TB, tn *testNode, user string) *client {
	tb.Helper()
	c := MustDial(tb, tn)
	c.send(map[string]any{"type": "auth", "token": mustToken(tb, user, "user")})
	c.expect("authenticated")
	return c
}

func (c *client) join(room string) {
	c.tb.Helper()
	c.send(map[string]any{"type": "join", "room": room})
	c.expect("joined")
}

// adminJSON calls the admin API and decodes the answer into out (if non-nil).
func adminJSON(tb testing.TB, tn *testNode, method, path string, body any, out any) int {
	tb.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, tn.admin.URL+path, r)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			tb.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return resp.StatusCode
}
