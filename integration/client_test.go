package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// token mints an HS256 client token the nodes accept.
func token(t *testing.T, user, connType string) string {
	t.Helper()
	return tokenWith(t, testJWTSecret, user, connType)
}

func tokenWith(t *testing.T, secret, user, connType string) string {
	t.Helper()
	claims := jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix()}
	if connType != "" {
		claims["conn_type"] = connType
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// frame is one server frame, decoded loosely.
type frame struct {
	Type   string          `json:"type"`
	ConnID string          `json:"conn_id"`
	NodeID string          `json:"node_id"`
	Room   string          `json:"room"`
	User   string          `json:"user"`
	Code   string          `json:"code"`
	Ref    json.RawMessage `json:"ref"`
	MsgID  string          `json:"msg_id"`
	Data   json.RawMessage `json:"data"`
	// History rooms: position of a message, or of the room in joined.
	Offset    uint64 `json:"offset"`
	Epoch     string `json:"epoch"`
	Recovered *bool  `json:"recovered"`
	From      struct {
		User   string `json:"user"`
		ConnID string `json:"conn_id"`
		System bool   `json:"system"`
	} `json:"from"`
	raw []byte
}

// wsClient is a test client: a reader goroutine queues every frame it
// receives (except the node's application pings) until the socket ends,
// then records the close code.
type wsClient struct {
	t      *testing.T
	name   string
	user   string
	ws     *websocket.Conn
	frames chan frame
	connID string
	nodeID string

	wmu       sync.Mutex
	pmu       sync.Mutex // guards pending and reading frames
	pending   []frame    // received, not yet consumed by expect
	done      chan struct{}
	closeCode int // valid after done
	closeErr  error
	// hold, when not nil, blocks the reader before it reads anything, so the
	// client looks like one that never reads; closing it lets it read.
	hold chan struct{}
}

type dialOpts struct {
	// smallRecvBuf gives the socket a 16 KiB receive buffer (no autotuning),
	// so a client that does not read fills up quickly.
	smallRecvBuf bool
	// hold starts the client without reading (see wsClient.hold).
	hold bool
}

// dial connects to url, reads the welcome frame and, if user is not
// empty, authenticates with a token of connType.
func dial(t *testing.T, url, name, user, connType string) *wsClient {
	t.Helper()
	c := dialWith(t, url, name, dialOpts{})
	if user != "" {
		c.auth(user, connType)
	}
	return c
}

func dialWith(t *testing.T, url, name string, o dialOpts) *wsClient {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	if o.smallRecvBuf {
		nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
			})
			return errors.Join(err, serr)
		}}
		d.NetDialContext = nd.DialContext
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		st := 0
		if resp != nil {
			st = resp.StatusCode
		}
		t.Fatalf("%s: dial %s: %v (HTTP %d)", name, url, err, st)
	}
	c := &wsClient{t: t, name: name, ws: ws, frames: make(chan frame, 100000), done: make(chan struct{})}
	if o.hold {
		c.hold = make(chan struct{})
	}
	go c.readLoop()
	t.Cleanup(c.close)
	if !o.hold {
		w := c.expect("welcome", 10*time.Second, nil)
		c.connID, c.nodeID = w.ConnID, w.NodeID
		if c.connID == "" || c.nodeID == "" {
			t.Fatalf("%s: welcome without conn_id or node_id: %s", name, w.raw)
		}
	}
	return c
}

func (c *wsClient) readLoop() {
	defer close(c.done)
	if c.hold != nil {
		<-c.hold
	}
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			c.closeErr = err
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.closeCode = ce.Code
			} else {
				c.closeCode = websocket.CloseAbnormalClosure
			}
			return
		}
		var f frame
		if err := json.Unmarshal(b, &f); err != nil {
			f = frame{Type: "<undecodable>"}
		}
		f.raw = b
		if f.Type == "ping" {
			continue
		}
		c.frames <- f
	}
}

// close closes the socket and waits for the reader (idempotent).
func (c *wsClient) close() {
	if c.hold != nil {
		select {
		case <-c.hold:
		default:
			close(c.hold)
		}
	}
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
		time.Now().Add(time.Second))
	c.wmu.Unlock()
	select {
	case <-c.done:
	case <-time.After(2 * time.Second):
	}
	_ = c.ws.Close()
	<-c.done
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatalf("%s: send %s: %v", c.name, b, err)
	}
}

// expect returns the first frame of type typ, in arrival order, for which
// match (may be nil) holds; frames it passes over stay for later calls.
func (c *wsClient) expect(typ string, timeout time.Duration, match func(frame) bool) frame {
	c.t.Helper()
	f, err := c.next(typ, timeout, match)
	if err != nil {
		c.t.Fatalf("%s: %v", c.name, err)
	}
	return f
}

func (c *wsClient) next(typ string, timeout time.Duration, match func(frame) bool) (frame, error) {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	ok := func(f frame) bool { return f.Type == typ && (match == nil || match(f)) }
	for i, f := range c.pending {
		if ok(f) {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return f, nil
		}
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case f := <-c.frames:
			if ok(f) {
				return f, nil
			}
			c.pending = append(c.pending, f)
		case <-c.done:
			// take what is left before giving up
			select {
			case f := <-c.frames:
				if ok(f) {
					return f, nil
				}
				c.pending = append(c.pending, f)
				continue
			default:
			}
			return frame{}, fmt.Errorf("socket closed (code %d, %v) while waiting for %q; unconsumed %s", c.closeCode, c.closeErr, typ, c.pendingSummary())
		case <-deadline.C:
			return frame{}, fmt.Errorf("no %q frame within %s; unconsumed %s", typ, timeout, c.pendingSummary())
		}
	}
}

func (c *wsClient) pendingSummary() string {
	var b strings.Builder
	for i, f := range c.pending {
		if i == 5 {
			fmt.Fprintf(&b, " ... (%d in all)", len(c.pending))
			break
		}
		raw := string(f.raw)
		if len(raw) > 300 {
			raw = raw[:300] + "..."
		}
		b.WriteString(raw + " ")
	}
	return b.String()
}

// noFrame fails if a frame of type typ arrives within d.
func (c *wsClient) noFrame(typ string, d time.Duration, match func(frame) bool) {
	c.t.Helper()
	if f, err := c.next(typ, d, match); err == nil {
		c.t.Fatalf("%s: unexpected frame %s", c.name, f.raw)
	}
}

// request sends a frame with an id and waits for the reply of type want.
func (c *wsClient) request(v map[string]any, want string) frame {
	c.t.Helper()
	id := fmt.Sprintf("r%d", time.Now().UnixNano())
	v["id"] = id
	c.send(v)
	ref, _ := json.Marshal(id)
	f, err := c.next(want, 10*time.Second, func(f frame) bool { return string(f.Ref) == string(ref) })
	if err != nil {
		c.t.Fatalf("%s: %v: %v", c.name, v, err)
	}
	return f
}

func (c *wsClient) auth(user, connType string) {
	c.t.Helper()
	c.user = user
	f := c.request(map[string]any{"type": "auth", "token": token(c.t, user, connType)}, "authenticated")
	if f.User != user {
		c.t.Fatalf("%s: authenticated as %q, want %q", c.name, f.User, user)
	}
}

func (c *wsClient) join(room string) {
	c.t.Helper()
	c.request(map[string]any{"type": "join", "room": room}, "joined")
}

func (c *wsClient) leave(room string) {
	c.t.Helper()
	c.request(map[string]any{"type": "leave", "room": room}, "left")
}

// waitClosed waits for the socket to end and returns its close code.
func (c *wsClient) waitClosed(timeout time.Duration) (int, error) {
	select {
	case <-c.done:
		return c.closeCode, nil
	case <-time.After(timeout):
		return 0, fmt.Errorf("%s still open after %s", c.name, timeout)
	}
}

// dataString decodes a frame's data as a JSON string.
func dataString(f frame) string {
	var s string
	_ = json.Unmarshal(f.Data, &s)
	return s
}

func hasData(s string) func(frame) bool {
	return func(f frame) bool { return dataString(f) == s }
}

// tryDial reports whether a WebSocket handshake to url succeeds.
func tryDial(url string) (int, error) {
	d := websocket.Dialer{HandshakeTimeout: 3 * time.Second}
	ws, resp, err := d.Dial(url, nil)
	if err != nil {
		if resp != nil {
			return resp.StatusCode, err
		}
		return 0, err
	}
	_ = ws.Close()
	return 101, nil
}

// firstClose opens a socket and reads until it is closed, returning the
// close code; any frame before the close is an error.
func firstClose(url string, timeout time.Duration) (int, error) {
	d := websocket.Dialer{HandshakeTimeout: timeout}
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		return 0, err
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(timeout))
	_, b, err := ws.ReadMessage()
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code, nil
	}
	if err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("got frame %s before the close", b)
}
