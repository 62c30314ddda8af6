package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/internal/wstest"
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

// wsClient is a test client on a wstest.Conn: its reader queues every
// frame it receives (except the node's application pings) until the socket
// ends, then records the close code. expect and next search the queue in
// arrival order and leave the frames they pass over for later calls.
type wsClient struct {
	*wstest.Conn
	t      *testing.T
	name   string
	user   string
	ws     *websocket.Conn
	connID string
	nodeID string
}

type dialOpts struct {
	// smallRecvBuf gives the socket a 16 KiB receive buffer (no autotuning),
	// so a client that does not read fills up quickly.
	smallRecvBuf bool
	// hold starts the client without reading (see wstest.Options.Hold);
	// release lets it read.
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
	wo := wstest.Options{Name: name, Hold: o.hold}
	if o.smallRecvBuf {
		wo.RecvBuf = 16 << 10
	}
	conn := wstest.MustDial(t, url, wo)
	c := &wsClient{Conn: conn, t: t, name: name, ws: conn.WS()}
	if !o.hold {
		w := c.expect("welcome", 10*time.Second, nil)
		c.connID, c.nodeID = w.ConnID, w.NodeID
		if c.connID == "" || c.nodeID == "" {
			t.Fatalf("%s: welcome without conn_id or node_id: %s", name, w.raw)
		}
	}
	return c
}

// release lets a client dialled with hold read.
func (c *wsClient) release() { c.Release() }

// closeCode returns the close code once the socket has ended (1006 when it
// ended without a close frame), and the read error.
func (c *wsClient) closeCode() (int, error) {
	code, _, err := c.Closed()
	return code, err
}

func toFrame(m wstest.Msg) frame {
	var f frame
	if err := m.Decode(&f); err != nil {
		f = frame{Type: "<undecodable>"}
	}
	f.raw = m.Data
	return f
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	c.Send(v)
}

// expect returns the first frame of type typ, in arrival order, for which
// match (may be nil) holds; frames it passes over stay for later calls.
func (c *wsClient) expect(typ string, timeout time.Duration, match func(frame) bool) frame {
	c.t.Helper()
	f, err := c.next(typ, timeout, match)
	if err != nil {
		c.t.Fatal(err)
	}
	return f
}

func (c *wsClient) next(typ string, timeout time.Duration, match func(frame) bool) (frame, error) {
	var mm func(wstest.Msg) bool
	if match != nil {
		mm = func(m wstest.Msg) bool { return match(toFrame(m)) }
	}
	m, err := c.Find(typ, timeout, mm)
	if err != nil {
		return frame{}, err
	}
	return toFrame(m), nil
}

// take returns every frame received and not consumed so far.
func (c *wsClient) take() []frame {
	var out []frame
	for _, m := range c.Drain() {
		out = append(out, toFrame(m))
	}
	return out
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
	return c.WaitClosed(timeout)
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
