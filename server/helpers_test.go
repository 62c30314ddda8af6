package server

import (
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
	"github.com/wsnode/wsnode/internal/wstest"
	"github.com/wsnode/wsnode/node"
)

const testSecret = "test-secret"

// testNode is one in-process node with its HTTP servers.
type testNode struct {
	srv    *Server
	client *httptest.Server
	admin  *httptest.Server
	node   *wstest.Node
}

func (tn *testNode) wsURL() string { return tn.node.WSURL() }

// MustCluster starts n nodes sharing one miniredis. tune may adjust each
// node's config before it starts.
func MustCluster(tb testing.TB, n int, tune func(*Config)) ([]*testNode, *miniredis.Miniredis) {
	tb.Helper()
	var nodes []*testNode
	_, m := wstest.Cluster(tb, n, func(tb testing.TB, id, addr string) *wstest.Node {
		tn := MustNode(tb, addr, id, tune)
		nodes = append(nodes, tn)
		return tn.node
	})
	return nodes, m
}

// MustNode starts one node against the Redis at addr.
func MustNode(tb testing.TB, addr, id string, tune func(*Config)) *testNode {
	tb.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	tb.Cleanup(func() { _ = rdb.Close() }) // after the node's shutdown (cleanups run last first)
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
	n := wstest.Serve(tb, id, srv, func() bool { return srv.Ready() == nil })
	return &testNode{srv: srv, client: n.Client, admin: n.Admin, node: n}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	wstest.WaitFor(tb, d, what, cond)
}

// frame is a decoded server frame.
type frame map[string]any

func (f frame) str(k string) string { s, _ := f[k].(string); return s }

// client is a test WebSocket client on a wstest.Conn (which drops the
// node's application pings); frames are taken strictly in order.
type client struct {
	*wstest.Conn
	tb     testing.TB
	ws     *websocket.Conn
	connID string
	nodeID string
}

// MustDial connects to a node and reads the welcome frame.
func MustDial(tb testing.TB, tn *testNode) *client {
	tb.Helper()
	conn := wstest.MustDial(tb, tn.wsURL(), wstest.Options{})
	c := &client{Conn: conn, tb: tb, ws: conn.WS()}
	w := c.expect("welcome")
	c.connID, c.nodeID = w.str("conn_id"), w.str("node_id")
	return c
}

func decodeFrame(tb testing.TB, m wstest.Msg) frame {
	tb.Helper()
	var f frame
	if err := m.Decode(&f); err != nil {
		tb.Fatalf("undecodable frame %s: %v", m.Data, err)
	}
	return f
}

func (c *client) send(v any) {
	c.tb.Helper()
	c.Send(v)
}

// expect returns the next frame, which must have the given type.
func (c *client) expect(typ string) frame {
	c.tb.Helper()
	return decodeFrame(c.tb, c.Expect(typ))
}

// expectEither returns the next two frames, one of type a and one of type
// b, in whichever order they arrive: a sender's echo comes through pub/sub
// and its ack from the PUBLISH reply, two connections with no order between
// them.
func (c *client) expectEither(a, b string) (fa, fb frame) {
	c.tb.Helper()
	for fa == nil || fb == nil {
		m, ok := c.Next()
		if !ok {
			c.tb.Fatalf("connection closed while waiting for %q and %q", a, b)
		}
		f := decodeFrame(c.tb, m)
		switch {
		case m.Type == a && fa == nil:
			fa = f
		case m.Type == b && fb == nil:
			fb = f
		default:
			c.tb.Fatalf("got frame %v, want %q and %q", f, a, b)
		}
	}
	return fa, fb
}

// expectNone asserts that no frame arrives within d.
func (c *client) expectNone(d time.Duration) {
	c.tb.Helper()
	c.ExpectNone(d)
}

// expectClose waits for the server's close code.
func (c *client) expectClose(want int) {
	c.tb.Helper()
	c.ExpectClose(want)
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
