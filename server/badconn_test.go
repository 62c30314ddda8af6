package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
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

// ---- the table -------------------------------------------------------------------

type badRow struct {
	name string
	tune func(*Config)
	run  func(t *testing.T, e *badEnv)
}
