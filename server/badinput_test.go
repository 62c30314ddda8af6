package server

// The bad-input table of issue 4: every row runs against its own in-process
// node (miniredis, real HTTP servers, real sockets) and asserts the response,
// that the node stays ready, that no Redis key or set member is left behind
// for the rejected connection, that no token reaches the logs and that no
// goroutine leaks.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/node"
)

const (
	badSecret = "bad-input-secret"
	badPrefix = "bad"
	badWait   = 10 * time.Second
)

// ---- log capture ----------------------------------------------------------

// badLogRec is one captured log record with its attributes flattened.
type badLogRec struct {
	msg   string
	attrs map[string]string
}

type badLogSink struct {
	mu   sync.Mutex
	recs []badLogRec
}

type badLogHandler struct {
	sink  *badLogSink
	attrs []slog.Attr
}

func (h *badLogHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *badLogHandler) Handle(_ context.Context, r slog.Record) error {
	rec := badLogRec{msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.attrs[a.Key] = a.Value.Resolve().String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.Resolve().String()
		return true
	})
	h.sink.mu.Lock()
	h.sink.recs = append(h.sink.recs, rec)
	h.sink.mu.Unlock()
	return nil
}

func (h *badLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &badLogHandler{sink: h.sink, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h *badLogHandler) WithGroup(string) slog.Handler { return h }

// closeCode returns the close code the node logged for a connection, once it
// has cleaned the connection up.
func (s *badLogSink) closeCode(connID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.recs {
		if r.msg == "disconnected" && r.attrs["conn_id"] == connID {
			return r.attrs["code"], true
		}
	}
	return "", false
}

// contains reports whether any record (message or attribute) contains s.
func (s *badLogSink) contains(needle string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.recs {
		if strings.Contains(r.msg, needle) {
			return true
		}
		for k, v := range r.attrs {
			if strings.Contains(k, needle) || strings.Contains(v, needle) {
				return true
			}
		}
	}
	return false
}

// ---- one node --------------------------------------------------------------

// badNode is one in-process node with its HTTP servers.
type badNode struct {
	srv    *Server
	client *httptest.Server
	admin  *httptest.Server
}

func (n *badNode) wsURL() string { return "ws" + strings.TrimPrefix(n.client.URL, "http") + "/ws" }

// badEnv is the world of one table row.
type badEnv struct {
	t        *testing.T
	mr       *miniredis.Miniredis
	nodes    []*badNode
	verifier *auth.Verifier
	logs     *badLogSink
	httpc    *http.Client
	tune     func(*Config)
	baseline map[string]string
	mu       sync.Mutex
	clients  []*badConn
	tokens   []string // every token used; none may appear in a log
}

func badConfig(id string, logs *badLogSink, v *auth.Verifier) Config {
	return Config{
		Node: node.Config{NodeID: id, Verifier: v,
			AuthTimeout: 3 * time.Second, PingInterval: 2 * time.Second, PongTimeout: 2 * time.Second,
			HeartbeatInterval: 200 * time.Millisecond, ReapInterval: 200 * time.Millisecond,
			FlushInterval: 100 * time.Millisecond},
		Prefix: badPrefix, MaxConnsPerUser: 16,
		Logger: slog.New(&badLogHandler{sink: logs}),
	}
}

// badStart starts a node for one row. The goroutine check is registered
// first so that it runs last, after every node and socket is gone.
func badStart(t *testing.T, tune func(*Config)) *badEnv {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	v, err := auth.NewVerifier(0, badSecret)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	e := &badEnv{t: t, mr: miniredis.RunT(t), verifier: v, logs: &badLogSink{},
		httpc: &http.Client{Transport: tr, Timeout: 5 * time.Second}, tune: tune}
	e.addNode("bad-1")
	e.baseline = e.snapshot()
	return e
}

// addNode starts one more node on the row's Redis.
func (e *badEnv) addNode(id string) *badNode {
	t := e.t
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: e.mr.Addr()})
	cfg := badConfig(id, e.logs, e.verifier)
	if e.tune != nil {
		e.tune(&cfg)
	}
	srv, err := New(rdb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &badNode{srv: srv, client: httptest.NewServer(srv.ClientHandler()), admin: httptest.NewServer(srv.AdminHandler())}
	done := make(chan error, 1)
	go func() { done <- srv.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown %s: %v", id, err)
		}
		if err := <-done; err != nil {
			t.Errorf("run %s: %v", id, err)
		}
		n.client.Close()
		n.admin.Close()
		_ = rdb.Close()
	})
	e.nodes = append(e.nodes, n)
	badPoll(t, 5*time.Second, "node "+id+" ready", func() bool { return e.readyz(n) == http.StatusOK })
	return n
}

func (e *badEnv) node() *badNode { return e.nodes[0] }

func (e *badEnv) readyz(n *badNode) int {
	resp, err := e.httpc.Get(n.admin.URL + "/readyz")
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// finish runs the checks every row shares: the nodes are ready, and once
// the row's sockets are closed Redis holds exactly what it held before the
// row (no orphaned key or set member), and no token was logged.
func (e *badEnv) finish() {
	t := e.t
	t.Helper()
	for _, n := range e.nodes {
		if got := e.readyz(n); got != http.StatusOK {
			t.Errorf("/readyz of %s = %d after the row, want 200", n.srv.Node.ID(), got)
		}
	}
	e.mu.Lock()
	clients := slices.Clone(e.clients)
	e.mu.Unlock()
	for _, c := range clients {
		_ = c.ws.Close()
	}
	e.expectBaseline()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, tok := range e.tokens {
		if tok != "" && e.logs.contains(tok) {
			t.Errorf("a token reached the logs")
		}
	}
}

// expectBaseline waits until Redis matches the state before the row.
func (e *badEnv) expectBaseline() {
	e.t.Helper()
	var got map[string]string
	deadline := time.Now().Add(badWait)
	for {
		got = e.snapshot()
		if badSameState(got, e.baseline) {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for k, v := range got {
		if e.baseline[k] != v {
			e.t.Errorf("Redis key %q = %q, before the row %q", k, v, e.baseline[k])
		}
	}
	for k, v := range e.baseline {
		if _, ok := got[k]; !ok {
			e.t.Errorf("Redis key %q (%q) disappeared", k, v)
		}
	}
}

func badSameState(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// snapshot describes every key under the prefix: its type and, for sets,
// its members. Counters (stats:*, peak) and heartbeat values change on their
// own and are compared by type only or skipped.
func (e *badEnv) snapshot() map[string]string {
	out := map[string]string{}
	for _, k := range e.mr.Keys() {
		rest, ok := strings.CutPrefix(k, badPrefix+":")
		if !ok {
			out[k] = "foreign"
			continue
		}
		if strings.HasPrefix(rest, "stats:") || rest == "peak" {
			continue
		}
		typ := e.mr.Type(k)
		if typ == "set" {
			m, _ := e.mr.Members(k)
			slices.Sort(m)
			out[k] = "set{" + strings.Join(m, ",") + "}"
			continue
		}
		out[k] = typ
	}
	return out
}

// traces lists the keys and set members that mention a connection id.
func (e *badEnv) traces(connID string) []string {
	var out []string
	for _, k := range e.mr.Keys() {
		if strings.Contains(k, connID) {
			out = append(out, k)
			continue
		}
		if e.mr.Type(k) == "set" {
			m, _ := e.mr.Members(k)
			if slices.Contains(m, connID) {
				out = append(out, k+" member")
			}
		}
	}
	return out
}

// noTraces waits until Redis holds nothing about connID.
func (e *badEnv) noTraces(connID string) {
	e.t.Helper()
	if connID == "" {
		e.t.Fatal("noTraces: empty connection id")
	}
	var left []string
	deadline := time.Now().Add(badWait)
	for {
		if left = e.traces(connID); len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Errorf("Redis still mentions rejected connection %s: %v", connID, left)
}

// unchanged asserts that Redis holds exactly the baseline now, with no peak
// recorded: nothing was ever registered.
func (e *badEnv) unchanged() {
	e.t.Helper()
	if got := e.snapshot(); !badSameState(got, e.baseline) {
		e.t.Errorf("Redis changed by a refused handshake:\n got %v\nwant %v", got, e.baseline)
	}
	if e.mr.Exists(badPrefix + ":peak") {
		e.t.Errorf("a refused handshake registered a connection (peak key exists)")
	}
}

// closeCode waits for the node to log the cleanup of connID and returns the
// close code it used.
func (e *badEnv) closeCode(connID string) string {
	e.t.Helper()
	var code string
	badPoll(e.t, badWait, "cleanup of "+connID, func() bool {
		c, ok := e.logs.closeCode(connID)
		code = c
		return ok
	})
	return code
}

// ---- tokens -----------------------------------------------------------------

func (e *badEnv) token(user, typ string, ttl time.Duration) string {
	e.t.Helper()
	tok, err := e.verifier.Mint(user, typ, ttl)
	if err != nil {
		e.t.Fatal(err)
	}
	e.addToken(tok)
	return tok
}

func (e *badEnv) addToken(tok string) {
	e.mu.Lock()
	e.tokens = append(e.tokens, tok)
	e.mu.Unlock()
}

func (e *badEnv) sign(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	e.t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		e.t.Fatal(err)
	}
	e.addToken(tok)
	return tok
}

// ---- a client ------------------------------------------------------------------

// badFrame is a decoded server frame.
type badFrame struct {
	Type     string          `json:"type"`
	Code     string          `json:"code"`
	Message  string          `json:"message"`
	Ref      json.RawMessage `json:"ref"`
	Room     string          `json:"room"`
	User     string          `json:"user"`
	ConnID   string          `json:"conn_id"`
	ConnType string          `json:"conn_type"`
	Data     json.RawMessage `json:"data"`
	raw      string
}

// badConn is a test WebSocket client. Its reader goroutine (when started)
// answers WebSocket pings and queues every frame, so an idle client is not
// mistaken for a dead one.
type badConn struct {
	t      *testing.T
	ws     *websocket.Conn
	id     string
	frames chan badFrame
	done   chan struct{}
	code   int // close code received (1006 when the socket just died)
	text   string
}

func (e *badEnv) track(ws *websocket.Conn) *badConn {
	c := &badConn{t: e.t, ws: ws, frames: make(chan badFrame, 16384), done: make(chan struct{})}
	e.mu.Lock()
	e.clients = append(e.clients, c)
	e.mu.Unlock()
	return c
}

// dial opens a socket on node n without reading anything.
func (e *badEnv) dial(n *badNode, d *websocket.Dialer, hdr http.Header) (*badConn, *http.Response, error) {
	if d == nil {
		d = &websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	}
	ws, resp, err := d.Dial(n.wsURL(), hdr)
	if resp != nil && resp.Body != nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, resp, err
	}
	return e.track(ws), resp, nil
}

// refused dials and expects an HTTP refusal with status want.
func (e *badEnv) refused(n *badNode, hdr http.Header, want int) {
	e.t.Helper()
	c, resp, err := e.dial(n, nil, hdr)
	if err == nil {
		_ = c.ws.Close()
		e.t.Fatalf("handshake accepted, want HTTP %d", want)
	}
	if resp == nil || resp.StatusCode != want {
		e.t.Fatalf("handshake: %v (response %v), want HTTP %d", err, resp, want)
	}
}

// connect opens a socket, starts its reader and reads the welcome frame.
func (e *badEnv) connect(n *badNode, hdr http.Header) *badConn {
	e.t.Helper()
	c, _, err := e.dial(n, nil, hdr)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	go c.read()
	w := c.expect("welcome")
	c.id = w.ConnID
	if c.id == "" {
		e.t.Fatalf("welcome without conn_id: %s", w.raw)
	}
	return c
}

// user connects to node n and authenticates.
func (e *badEnv) user(n *badNode, name, typ string) *badConn {
	e.t.Helper()
	c := e.connect(n, nil)
	c.send(map[string]any{"type": "auth", "token": e.token(name, typ, time.Hour)})
	if f := c.expect("authenticated"); f.User != name {
		e.t.Fatalf("authenticated as %q, want %q", f.User, name)
	}
	return c
}

func (c *badConn) read() {
	defer close(c.done)
	defer close(c.frames)
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			c.code = websocket.CloseAbnormalClosure
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.code, c.text = ce.Code, ce.Text
			}
			return
		}
		var f badFrame
		if typ != websocket.TextMessage || json.Unmarshal(data, &f) != nil {
			f.Type = "!invalid"
		}
		f.raw = string(data)
		c.frames <- f
	}
}

func (c *badConn) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(websocket.TextMessage, b)
}

func (c *badConn) sendRaw(typ int, b []byte) {
	c.t.Helper()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := c.ws.WriteMessage(typ, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next returns the next frame other than an application ping.
func (c *badConn) next() (badFrame, bool) {
	c.t.Helper()
	timeout := time.After(badWait)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				return badFrame{}, false
			}
			if f.Type == "ping" {
				continue
			}
			return f, true
		case <-timeout:
			c.t.Fatalf("timed out waiting for a frame")
		}
	}
}

func (c *badConn) expect(typ string) badFrame {
	c.t.Helper()
	f, ok := c.next()
	if !ok {
		c.t.Fatalf("closed (%d %q) while waiting for %q", c.code, c.text, typ)
	}
	if f.Type != typ {
		c.t.Fatalf("got %s, want a %q frame", f.raw, typ)
	}
	return f
}

func (c *badConn) expectError(code string) badFrame {
	c.t.Helper()
	f := c.expect("error")
	if f.Code != code {
		c.t.Fatalf("error code %q (%s), want %q", f.Code, f.raw, code)
	}
	if f.Message == "" {
		c.t.Fatalf("error frame without a message: %s", f.raw)
	}
	return f
}

// expectClose waits for the close and checks its code; frames still queued
// before it are skipped and returned.
func (c *badConn) expectClose(want int) []badFrame {
	c.t.Helper()
	var skipped []badFrame
	for {
		f, ok := c.next()
		if !ok {
			break
		}
		skipped = append(skipped, f)
	}
	if c.code != want {
		c.t.Fatalf("close code %d (%q), want %d; frames before it: %v", c.code, c.text, want, skipped)
	}
	return skipped
}

// alive proves the connection still works: a ping gets its pong.
func (c *badConn) alive() {
	c.t.Helper()
	c.send(map[string]any{"type": "ping", "id": "alive"})
	f := c.expect("pong")
	if string(f.Ref) != `"alive"` {
		c.t.Fatalf("pong ref %s, want \"alive\"", f.Ref)
	}
}

func badPoll(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ---- the table -------------------------------------------------------------------

type badRow struct {
	name string
	tune func(*Config)
	run  func(t *testing.T, e *badEnv)
}

func TestBadInput(t *testing.T) {
	for _, row := range badRows() {
		t.Run(row.name, func(t *testing.T) {
			e := badStart(t, row.tune)
			row.run(t, e)
			if !t.Failed() {
				e.finish()
			}
		})
	}
}

func badRows() []badRow {
	var rows []badRow
	rows = append(rows, badHandshakeRows()...)
	rows = append(rows, badTokenRows()...)
	rows = append(rows, badFrameRows()...)
	rows = append(rows, badLimitRows()...)
	rows = append(rows, badTransportRows()...)
	return rows
}

func badHandshakeRows() []badRow {
	origin := func(o string) http.Header { return http.Header{"Origin": {o}} }
	return []badRow{
		{name: "origin not in allow-list gets 403 and no Redis write",
			tune: func(c *Config) { c.Node.AllowedOrigins = []string{"https://app.example"} },
			run: func(t *testing.T, e *badEnv) {
				for _, o := range []string{"https://evil.example", "https://app.example.evil.example",
					"https://APP.example", "http://app.example", "null", e.node().client.URL} {
					e.refused(e.node(), origin(o), http.StatusForbidden)
				}
				e.unchanged()
				e.connect(e.node(), origin("https://app.example")).alive()
			}},
		{name: "cross-origin with an empty allow-list gets 403",
			run: func(t *testing.T, e *badEnv) {
				e.refused(e.node(), origin("https://evil.example"), http.StatusForbidden)
				e.unchanged()
				e.connect(e.node(), origin(e.node().client.URL)).alive() // same origin
				e.connect(e.node(), nil).alive()                         // no Origin: not a browser
			}},
		{name: "bad bearer token on the upgrade gets 401 and no Redis write",
			run: func(t *testing.T, e *badEnv) {
				bad := e.sign(jwt.SigningMethodHS256, []byte("other"), jwt.MapClaims{"sub": "eve", "exp": time.Now().Add(time.Hour).Unix()})
				for _, h := range []string{"Bearer " + bad, "Bearer ", "Basic " + bad, bad} {
					e.refused(e.node(), http.Header{"Authorization": {h}}, http.StatusUnauthorized)
				}
				e.unchanged()
				c := e.connect(e.node(), http.Header{"Authorization": {"Bearer " + e.token("bob", "user", time.Hour)}})
				if f := c.expect("authenticated"); f.User != "bob" {
					t.Fatalf("header auth: %s", f.raw)
				}
			}},
		{name: "max connections per node gets 503 before the upgrade",
			tune: func(c *Config) { c.Node.MaxConns = 2 },
			run: func(t *testing.T, e *badEnv) {
				a, b := e.connect(e.node(), nil), e.connect(e.node(), nil)
				before := e.snapshot()
				e.refused(e.node(), nil, http.StatusServiceUnavailable)
				if got := e.snapshot(); !badSameState(got, before) {
					t.Fatalf("refused handshake changed Redis:\n got %v\nwant %v", got, before)
				}
				_ = a.ws.Close()
				e.noTraces(a.id)
				badPoll(t, badWait, "slot freed", func() bool {
					c, _, err := e.dial(e.node(), nil, nil)
					if err == nil {
						_ = c.ws.Close()
					}
					return err == nil
				})
				b.alive()
			}},
		{name: "max connections per IP gets 429, X-Forwarded-For ignored from untrusted peers",
			tune: func(c *Config) { c.Node.MaxConnsPerIP = 1 },
			run: func(t *testing.T, e *badEnv) {
				e.connect(e.node(), http.Header{"X-Forwarded-For": {"203.0.113.1"}})
				e.refused(e.node(), http.Header{"X-Forwarded-For": {"203.0.113.2"}}, http.StatusTooManyRequests)
				e.refused(e.node(), nil, http.StatusTooManyRequests)
			}},
		{name: "max connections per IP counts the X-Forwarded-For client behind a trusted proxy",
			tune: func(c *Config) {
				c.Node.MaxConnsPerIP = 1
				c.Node.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
			},
			run: func(t *testing.T, e *badEnv) {
				a := e.connect(e.node(), http.Header{"X-Forwarded-For": {"203.0.113.1"}})
				// A client-supplied entry left of the proxy's own is not believed.
				b := e.connect(e.node(), http.Header{"X-Forwarded-For": {"203.0.113.1, 203.0.113.2"}})
				e.refused(e.node(), http.Header{"X-Forwarded-For": {"198.51.100.7, 203.0.113.1"}}, http.StatusTooManyRequests)
				for c, ip := range map[*badConn]string{a: "203.0.113.1", b: "203.0.113.2"} {
					if got := e.mr.HGet(badPrefix+":conn:"+c.id, "ip"); got != ip {
						t.Errorf("registered ip %q, want %q", got, ip)
					}
				}
			}},
		{name: "permessage-deflate is not negotiated even when offered",
			run: func(t *testing.T, e *badEnv) {
				c, resp, err := e.dial(e.node(), &websocket.Dialer{EnableCompression: true, HandshakeTimeout: 5 * time.Second}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
					t.Fatalf("server negotiated %q", ext)
				}
				go c.read()
				c.expect("welcome")
				c.alive()
			}},
	}
}

func badTokenRows() []badRow {
	exp := func() int64 { return time.Now().Add(time.Hour).Unix() }
	key := []byte(badSecret)
	rows := []struct {
		name  string
		token func(e *badEnv) any // nil: no "token" field
		msg   string
	}{
		{"missing token", func(*badEnv) any { return nil }, "invalid token"},
		{"empty token", func(*badEnv) any { return "" }, "invalid token"},
		{"token of the wrong JSON type", func(*badEnv) any { return 42 }, ""},
		{"garbage token", func(*badEnv) any { return "not.a.jwt" }, "invalid token"},
		{"expired token", func(e *badEnv) any {
			return e.sign(jwt.SigningMethodHS256, key, jwt.MapClaims{"sub": "eve", "exp": time.Now().Add(-time.Minute).Unix()})
		}, "token expired"},
		{"bad signature", func(e *badEnv) any {
			return e.sign(jwt.SigningMethodHS256, []byte("not-the-secret"), jwt.MapClaims{"sub": "eve", "exp": exp()})
		}, "invalid token"},
		{"alg none", func(e *badEnv) any {
			return e.sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "eve", "exp": exp()})
		}, "invalid token"},
		{"alg HS512 with the right secret", func(e *badEnv) any {
			return e.sign(jwt.SigningMethodHS512, key, jwt.MapClaims{"sub": "eve", "exp": exp()})
		}, "invalid token"},
		{"missing sub", func(e *badEnv) any {
			return e.sign(jwt.SigningMethodHS256, key, jwt.MapClaims{"exp": exp()})
		}, "invalid token"},
		{"missing exp", func(e *badEnv) any {
			return e.sign(jwt.SigningMethodHS256, key, jwt.MapClaims{"sub": "eve"})
		}, "invalid token"},
		{"guest conn_type", func(e *badEnv) any {
			return e.sign(jwt.SigningMethodHS256, key, jwt.MapClaims{"sub": "eve", "exp": exp(), "conn_type": "guest"})
		}, "invalid token"},
		{"sub with the key separator", func(e *badEnv) any {
			return e.sign(jwt.SigningMethodHS256, key, jwt.MapClaims{"sub": "eve:admin", "exp": exp()})
		}, "user name"},
	}
	var out []badRow
	for _, r := range rows {
		out = append(out, badRow{name: "token: " + r.name, run: func(t *testing.T, e *badEnv) {
			c := e.connect(e.node(), nil)
			req := map[string]any{"type": "auth", "id": 1}
			if tok := r.token(e); tok != nil {
				req["token"] = tok
			}
			c.send(req)
			if r.msg == "" { // wrong JSON type: a malformed frame, then the auth timeout does the rest
				c.expectError("bad_request")
				c.alive()
				return
			}
			f := c.expectError("auth_failed")
			if !strings.Contains(f.Message, r.msg) || string(f.Ref) != "1" {
				t.Errorf("error frame %s, want message containing %q and ref 1", f.raw, r.msg)
			}
			c.expectClose(node.CloseAuthFailed)
			e.noTraces(c.id)
		}})
	}
	out = append(out,
		badRow{name: "silence after connect closes 4501 at the auth timeout",
			tune: func(c *Config) { c.Node.AuthTimeout = 300 * time.Millisecond },
			run: func(t *testing.T, e *badEnv) {
				start := time.Now()
				c := e.connect(e.node(), nil)
				c.expectError("auth_timeout")
				c.expectClose(node.CloseAuthTimeout)
				if d := time.Since(start); d < 250*time.Millisecond {
					t.Errorf("closed after %v, before the auth timeout", d)
				}
				e.noTraces(c.id)
			}},
		badRow{name: "token expiring mid-session closes 4005",
			run: func(t *testing.T, e *badEnv) {
				// exp has one-second precision: this token expires 0.5-1.5 s from now.
				c := e.connect(e.node(), nil)
				c.send(map[string]any{"type": "auth", "token": e.token("erin", "user", 1500*time.Millisecond)})
				c.expect("authenticated")
				c.send(map[string]any{"type": "join", "room": "lobby"})
				c.expect("joined")
				start := time.Now()
				c.expectClose(node.CloseTokenExpired)
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("closed %v after auth, want at expiry", d)
				}
				e.noTraces(c.id)
			}},
		badRow{name: "re-authentication on an authenticated connection is refused",
			run: func(t *testing.T, e *badEnv) {
				c := e.user(e.node(), "fay", "user")
				c.send(map[string]any{"type": "auth", "token": e.token("mallory", "system", time.Hour)})
				c.expectError("already_authenticated")
				c.send(map[string]any{"type": "broadcast", "data": 1})
				c.expectError("forbidden") // still fay, a user
				c.alive()
			}},
	)
	return out
}

func badFrameRows() []badRow {
	deep := func(n int, open, close string) string {
		return `{"type":"ping","data":` + strings.Repeat(open, n) + strings.Repeat(close, n) + `}`
	}
	malformed := []struct{ frame, msg string }{
		{``, "not a valid JSON object"},
		{`not json`, "not a valid JSON object"},
		{`{"type":"ping"`, "not a valid JSON object"}, // truncated
		{`{"type":"join","room":"lob`, "not a valid JSON object"},
		{`{"type":"ping"}}`, "not a valid JSON object"},
		{`null`, "not a valid JSON object"},
		{`{}`, `missing "type"`},
		{`[]`, "not a valid JSON object"},
		{`"ping"`, "not a valid JSON object"},
		{`12`, "not a valid JSON object"},
		{`{"type":5}`, `field "type" has the wrong type`},
		{`{"type":"join","room":["lobby"]}`, `field "room" has the wrong type`},
		{`{"type":"message","room":"lobby","echo":"no"}`, `field "echo" has the wrong type`},
		{`{"type":"direct","to_user":{"a":1}}`, `field "to_user" has the wrong type`},
		{`{"type":"ping","id":{"a":1}}`, `"id" must be`},
		{`{"type":"ping","id":true}`, `"id" must be`},
		{`{"type":"ping","id":"` + strings.Repeat("x", 200) + `"}`, `"id" must be`},
		{deep(20000, "[", "]"), "not a valid JSON object"}, // deeper than encoding/json allows
		{deep(10500, `{"a":`, "}"), "not a valid JSON object"},
		{`{"type":"direct","to_user":"bob","to_conn":"x","data":1}`, `exactly one of`},
		{`{"type":"direct","data":1}`, `exactly one of`},
	}
	return []badRow{
		{name: "frame at the size limit passes, one byte more closes 1009",
			run: func(t *testing.T, e *badEnv) {
				c := e.user(e.node(), "gus", "user")
				limit := int(e.node().srv.Node.Config().MaxMessageSize)
				if limit != 64<<10 {
					t.Fatalf("default MaxMessageSize %d, want 64 KiB", limit)
				}
				frame := func(size int) []byte {
					head, tail := `{"type":"ping","id":"big","data":"`, `"}`
					return []byte(head + strings.Repeat("x", size-len(head)-len(tail)) + tail)
				}
				c.sendRaw(websocket.TextMessage, frame(limit))
				c.expect("pong")
				c.sendRaw(websocket.TextMessage, frame(limit+1))
				c.expectClose(node.CloseTooBig)
				e.noTraces(c.id)
			}},
		{name: "invalid UTF-8 closes 1007",
			run: func(t *testing.T, e *badEnv) {
				c := e.user(e.node(), "hal", "user")
				c.sendRaw(websocket.TextMessage, []byte("{\"type\":\"ping\",\"data\":\"\xff\xfe\"}"))
				c.expectClose(node.CloseInvalidUTF8)
				e.noTraces(c.id)
			}},
		{name: "malformed, truncated, deeply nested and wrong-typed JSON get error frames and the connection stays",
			run: func(t *testing.T, e *badEnv) {
				c := e.user(e.node(), "ida", "user")
				c.send(map[string]any{"type": "join", "room": "lobby"})
				c.expect("joined")
				for _, m := range malformed {
					c.sendRaw(websocket.TextMessage, []byte(m.frame))
					f := c.expectError("bad_request")
					if !strings.Contains(f.Message, m.msg) {
						t.Errorf("frame %.40q: message %q, want it to contain %q", m.frame, f.Message, m.msg)
					}
					c.alive()
				}
				// Deep but within encoding/json's limit is just data.
				c.sendRaw(websocket.TextMessage, []byte(deep(5000, "[", "]")))
				c.expect("pong")
				c.sendRaw(websocket.BinaryMessage, []byte(`{"type":"ping"}`))
				c.expectError("unsupported_frame")
				c.alive()
			}},
		{name: "unknown type gets unknown_type with the ref",
			run: func(t *testing.T, e *badEnv) {
				c := e.user(e.node(), "jo", "user")
				for _, typ := range []string{"subscribe", "PING", "", "error", "welcome", "authenticated", "\u0000"} {
					c.send(map[string]any{"type": typ, "id": "q-" + typ})
					want := "unknown_type"
					if typ == "" {
						want = "bad_request"
					}
					f := c.expectError(want)
					var ref string
					if want == "unknown_type" && (json.Unmarshal(f.Ref, &ref) != nil || ref != "q-"+typ) {
						t.Errorf("ref %s for type %q", f.Ref, typ)
					}
					c.alive()
				}
			}},
		{name: "repeated bad frames close 1008 after max strikes",
			tune: func(c *Config) { c.Node.MaxStrikes = 3 },
			run: func(t *testing.T, e *badEnv) {
				c := e.user(e.node(), "kai", "user")
				for range 4 {
					c.sendRaw(websocket.TextMessage, []byte(`{`))
				}
				skipped := c.expectClose(node.ClosePolicy)
				if len(skipped) != 4 {
					t.Errorf("got %d frames before the close, want 4 error frames: %v", len(skipped), skipped)
				}
				e.noTraces(c.id)
			}},
		{name: "bad names get invalid_name naming the rule and create no key",
			run: func(t *testing.T, e *badEnv) {
				c := e.user(e.node(), "lea", "user")
				long := strings.Repeat("r", 129)
				bad := map[string]string{
					"":              "must be 1-128 characters",
					long:            "must be 1-128 characters",
					"a\x01b":        "may contain only",
					"a\nb":          "may contain only",
					"a\x7fb":        "may contain only",
					"a*":            "may contain only",
					"a?b":           "may contain only",
					"[ab]":          "may contain only",
					"a:b":           "may contain only",
					"a b":           "may contain only",
					"{a}":           "may contain only",
					"a/b":           "may contain only",
					"\u00e9t\u00e9": "may contain only",
				}
				for name, rule := range bad {
					c.send(map[string]any{"type": "join", "room": name, "id": 7})
					f := c.expectError("invalid_name")
					if !strings.Contains(f.Message, "room name: "+rule) || string(f.Ref) != "7" {
						t.Errorf("join %q: %s, want rule %q", name, f.raw, rule)
					}
					c.send(map[string]any{"type": "direct", "to_user": name, "data": 1})
					if name == "" { // empty to_user means "not given"
						c.expectError("bad_request")
					} else if f := c.expectError("invalid_name"); !strings.Contains(f.Message, "user name: "+rule) {
						t.Errorf("direct to %q: %s, want rule %q", name, f.raw, rule)
					}
					c.alive()
				}
				c.send(map[string]any{"type": "direct", "to_conn": "a:b", "data": 1})
				c.expectError("not_found")
				ok := strings.Repeat("r", 128)
				c.send(map[string]any{"type": "join", "room": ok})
				c.expect("joined")
				for _, k := range e.mr.Keys() {
					if strings.HasPrefix(k, badPrefix+":room:") && k != badPrefix+":room:"+ok {
						t.Errorf("unexpected room key %q", k)
					}
				}
			}},
		{name: "guests may do nothing by default",
			run: func(t *testing.T, e *badEnv) {
				c := e.connect(e.node(), nil)
				for _, req := range []map[string]any{
					{"type": "join", "room": "lobby"}, {"type": "leave", "room": "lobby"},
					{"type": "message", "room": "lobby", "data": 1}, {"type": "direct", "to_user": "bob", "data": 1},
					{"type": "broadcast", "data": 1},
				} {
					c.send(req)
					c.expectError("unauthorized")
				}
				c.alive()
				if e.mr.Exists(badPrefix + ":room:lobby") {
					t.Error("a guest created a room")
				}
			}},
		{name: "only system connections may broadcast",
			run: func(t *testing.T, e *badEnv) {
				u := e.user(e.node(), "uma", "user")
				ai := e.user(e.node(), "bot", "ai_assistant")
				sys := e.user(e.node(), "ops", "system")
				for _, c := range []*badConn{u, ai} {
					c.send(map[string]any{"type": "broadcast", "data": 1})
					c.expectError("forbidden")
					c.send(map[string]any{"type": "join", "room": "lobby"})
					c.expect("joined")
				}
				for _, c := range []*badConn{u, ai} {
					c.send(map[string]any{"type": "message", "room": "lobby", "data": 1, "echo": false})
				}
				u.expect("message")  // from ai
				ai.expect("message") // from u
				u.send(map[string]any{"type": "message", "room": "elsewhere", "data": 1})
				u.expectError("not_member")
				sys.send(map[string]any{"type": "broadcast", "data": "all"})
				for _, c := range []*badConn{u, ai, sys} {
					c.expect("broadcast")
				}
			}},
	}
}

func badLimitRows() []badRow {
	return []badRow{
		{name: "flood over the rate gets rate_limited frames, then close 4002; others unaffected",
			tune: func(c *Config) { c.Node.MessageRate, c.Node.MessageBurst, c.Node.MaxStrikes = 5, 5, 5 },
			run: func(t *testing.T, e *badEnv) {
				other := e.user(e.node(), "calm", "user")
				c := e.user(e.node(), "flood", "user")
				for range 40 {
					if c.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)) != nil {
						break
					}
				}
				frames := c.expectClose(node.CloseRateLimited)
				pongs, limited := 0, 0
				for _, f := range frames {
					switch {
					case f.Type == "pong":
						pongs++
					case f.Type == "error" && f.Code == "rate_limited":
						limited++
					default:
						t.Errorf("unexpected frame %s", f.raw)
					}
				}
				if pongs == 0 || limited < 5 {
					t.Errorf("%d pongs and %d rate_limited frames, want some pongs, then >= 5 rate_limited", pongs, limited)
				}
				other.alive()
				e.noTraces(c.id)
			}},
		{name: "rooms over the cap get room_limit and the connection stays",
			tune: func(c *Config) { c.Node.MaxRoomsPerConn = 3 },
			run: func(t *testing.T, e *badEnv) {
				c := e.user(e.node(), "max", "user")
				for _, r := range []string{"r1", "r2", "r3", "r2"} { // re-joining is free
					c.send(map[string]any{"type": "join", "room": r})
					c.expect("joined")
				}
				c.send(map[string]any{"type": "join", "room": "r4"})
				c.expectError("room_limit")
				if e.mr.Exists(badPrefix + ":room:r4") {
					t.Error("room over the cap reached Redis")
				}
				c.send(map[string]any{"type": "leave", "room": "r1"})
				c.expect("left")
				c.send(map[string]any{"type": "join", "room": "r4"})
				c.expect("joined")
				if m, _ := e.mr.Members(badPrefix + ":connrooms:" + c.id); !slices.Equal(badSorted(m), []string{"r2", "r3", "r4"}) {
					t.Errorf("rooms in Redis %v", m)
				}
			}},
		{name: "one connection over the per-user limit closes 4502",
			tune: func(c *Config) { c.MaxConnsPerUser = 2 },
			run: func(t *testing.T, e *badEnv) {
				a, b := e.user(e.node(), "ned", "user"), e.user(e.node(), "ned", "user")
				c := e.connect(e.node(), nil)
				c.send(map[string]any{"type": "auth", "token": e.token("ned", "user", time.Hour)})
				c.expectError("connection_limit")
				c.expectClose(node.CloseUserLimit)
				e.noTraces(c.id)
				if m, _ := e.mr.Members(badPrefix + ":user:ned"); !slices.Equal(badSorted(m), badSorted([]string{a.id, b.id})) {
					t.Errorf("user set %v, want %v", m, []string{a.id, b.id})
				}
				_ = a.ws.Close()
				e.noTraces(a.id)
				e.user(e.node(), "ned", "user").alive() // the count went down again
				b.alive()
			}},
		{name: "the per-user limit is cluster-wide",
			tune: func(c *Config) { c.MaxConnsPerUser = 2 },
			run: func(t *testing.T, e *badEnv) {
				second := e.addNode("bad-2")
				e.baseline = e.snapshot()
				e.user(e.node(), "ola", "user")
				e.user(second, "ola", "user")
				for _, n := range []*badNode{e.node(), second} {
					c := e.connect(n, nil)
					c.send(map[string]any{"type": "auth", "token": e.token("ola", "user", time.Hour)})
					c.expectError("connection_limit")
					c.expectClose(node.CloseUserLimit)
					e.noTraces(c.id)
				}
			}},
		{name: "a client that never reads is closed 4001 while another keeps receiving",
			tune: func(c *Config) {
				c.Node.SendQueueSize, c.Node.MessageRate = 64, -1 // MaxQueuedBytes: default 1 MiB
			},
			run: func(t *testing.T, e *badEnv) {
				fast := e.user(e.node(), "fast", "user")
				fast.send(map[string]any{"type": "join", "room": "feed"})
				fast.expect("joined")
				slow := badSilentMember(t, e, "slow", "feed")
				pad := strings.Repeat("x", 16<<10)
				sent := 0
				for ; sent < 3000; sent++ {
					if sent >= 50 && e.node().srv.Stats.Local().ErrorsByKind["slow_consumer"] > 0 {
						break
					}
					data, _ := json.Marshal(map[string]any{"seq": sent, "pad": pad})
					if err := e.node().srv.Node.BroadcastRoom(context.Background(), "feed", data, ""); err != nil {
						t.Fatal(err)
					}
					time.Sleep(500 * time.Microsecond) // ~30 MB/s: a reading client keeps up
				}
				for want := range sent {
					f := fast.expect("message")
					var d struct{ Seq int }
					if err := json.Unmarshal(f.Data, &d); err != nil || d.Seq != want {
						t.Fatalf("fast client got seq %d (%v), want %d", d.Seq, err, want)
					}
				}
				if code := e.closeCode(slow); code != fmt.Sprint(node.CloseSlowConsumer) {
					t.Errorf("slow client closed with %s, want %d", code, node.CloseSlowConsumer)
				}
				if got := e.node().srv.Stats.Local().ErrorsByKind["slow_consumer"]; got != 1 {
					t.Errorf("slow_consumer count %d, want 1", got)
				}
				e.noTraces(slow)
				fast.alive()
			}},
	}
}

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
				go mute.read()
				mute.id = mute.expect("welcome").ConnID
				mute.send(map[string]any{"type": "auth", "token": e.token("quinn", "user", time.Hour)})
				mute.expect("authenticated")
				start := time.Now()
				mute.expectClose(node.ClosePingTimeout)
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
				ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
				if err != nil {
					t.Fatal(err)
				}
				c := e.track(ws)
				go c.read()
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
	nd := e.node().srv.Node
	target := e.user(e.node(), "tina", "user")
	target.send(map[string]any{"type": "join", "room": "r"})
	target.expect("joined")
	sys := e.user(e.node(), "sys", "system")
	sys.send(map[string]any{"type": "join", "room": "r"})
	sys.expect("joined")
	go func() { // sys only has to be drained
		for range sys.frames {
		}
	}()

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
	deadline := time.After(20 * time.Second)
	for !maps.Equal(got, want) {
		select {
		case f, ok := <-target.frames:
			if !ok {
				t.Fatalf("target closed (%d %q); got %v, want %v", target.code, target.text, got, want)
			}
			if f.Type != "ping" {
				got[f.Type]++
			}
		case <-deadline:
			t.Fatalf("got %v, want %v", got, want)
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
	target.expectClose(node.CloseKicked)
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
	go func() { drained <- e.node().srv.Node.Shutdown(ctx) }()
	c.expectClose(node.CloseGoingAway)
	e.refused(e.node(), nil, http.StatusServiceUnavailable)
	e.noTraces(c.id)
	if err := <-drained; err != nil { // before cancel() ends the drain early
		t.Fatalf("drain: %v", err)
	}
}
