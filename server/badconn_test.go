package server

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/internal/wstest"
)

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

// badConn is a test WebSocket client on a wstest.Conn. Its reader (once
// started) answers WebSocket pings and queues every frame, so an idle
// client is not mistaken for a dead one.
type badConn struct {
	*wstest.Conn
	t  *testing.T
	ws *websocket.Conn
	id string
}

// dial opens a socket on node n without reading anything: its reader
// starts with read (tests may first read the socket themselves or change
// its handlers).
func (e *badEnv) dial(n *badNode, d *websocket.Dialer, hdr http.Header) (*badConn, *http.Response, error) {
	return e.dialURL(n.wsURL(), d, hdr)
}

func (e *badEnv) dialURL(url string, d *websocket.Dialer, hdr http.Header) (*badConn, *http.Response, error) {
	if d == nil {
		d = &websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	}
	conn, resp, err := wstest.Dial(e.t, url, wstest.Options{Dialer: d, Header: hdr, Hold: true, Wait: badWait})
	if err != nil {
		return nil, resp, err
	}
	c := &badConn{Conn: conn, t: e.t, ws: conn.WS()}
	e.mu.Lock()
	e.clients = append(e.clients, c)
	e.mu.Unlock()
	return c, resp, nil
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
	c.read()
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

// read starts the reader.
func (c *badConn) read() { c.Release() }

func toBadFrame(m wstest.Msg) badFrame {
	var f badFrame
	if m.Type == "!invalid" || m.Decode(&f) != nil {
		f = badFrame{Type: "!invalid"}
	}
	f.raw = string(m.Data)
	return f
}

// closed returns the close code (1006 when the socket just died) and
// reason, once the socket has ended.
func (c *badConn) closed() (int, string) {
	code, text, _ := c.Closed()
	return code, text
}

func (c *badConn) send(v any) {
	c.t.Helper()
	c.Send(v)
}

func (c *badConn) sendRaw(typ int, b []byte) {
	c.t.Helper()
	c.SendRaw(typ, b)
}

// nextWithin returns the next frame other than an application ping: ok is false when the socket ended,
// err set when d passed first.
func (c *badConn) nextWithin(d time.Duration) (f badFrame, ok bool, err error) {
	m, ok, err := c.NextWithin(d)
	return toBadFrame(m), ok, err
}

func (c *badConn) expect(typ string) badFrame {
	c.t.Helper()
	return toBadFrame(c.Expect(typ))
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
	for _, m := range c.ExpectClose(want) {
		skipped = append(skipped, toBadFrame(m))
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

// ---- the table -------------------------------------------------------------------

type badRow struct {
	name string
	tune func(*Config)
	run  func(t *testing.T, e *badEnv)
}
