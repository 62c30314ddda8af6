package wstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Options configure Dial. The zero value reads at once, drops application
// pings and waits up to DefaultWait for a frame.
type Options struct {
	Header http.Header
	// Dialer replaces the default (10 s handshake timeout); RecvBuf, when
	// set, still applies.
	Dialer *websocket.Dialer
	// RecvBuf sets SO_RCVBUF before the connect (which turns off receive
	// buffer autotuning), so that a client that does not read fills up
	// quickly.
	RecvBuf int
	// Hold starts the client without its reader, like a client that
	// never reads, until Release; ReadOne reads meanwhile.
	Hold bool
	// KeepPings queues the node's {"type":"ping"} frames too.
	KeepPings bool
	// Wait is the timeout of Next, Expect and ExpectClose (DefaultWait).
	Wait time.Duration
	// Name prefixes failure messages.
	Name string
}

// DefaultWait is how long a Conn waits for a frame by default: generous,
// so that a busy machine does not fail a test.
const DefaultWait = 10 * time.Second

// Msg is one frame received.
type Msg struct {
	Op   int    // websocket.TextMessage or websocket.BinaryMessage
	Data []byte // the payload as received
	// Type is the "type" of a JSON object text frame, "!invalid" for
	// anything else.
	Type string
}

// Decode unmarshals the frame into v.
func (m Msg) Decode(v any) error { return json.Unmarshal(m.Data, v) }

func (m Msg) String() string { return string(m.Data) }

// Conn is a raw test client (see the package documentation).
type Conn struct {
	tb        testing.TB
	name      string
	ws        *websocket.Conn
	wait      time.Duration
	keepPings bool

	wmu sync.Mutex // serialises writes

	cmu    sync.Mutex // one consumer at a time
	mu     sync.Mutex
	queue  []Msg
	notify chan struct{}

	hold      chan struct{}
	holdOnce  sync.Once
	closeOnce sync.Once
	done      chan struct{}
	// set before done is closed
	code int
	text string
	err  error
}

// Dial opens a socket to url. On success the Conn is closed when the test
// ends. A refused handshake returns the response (body drained) and the
// error; nothing is registered then.
func Dial(tb testing.TB, url string, o Options) (*Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	if o.Dialer != nil {
		d = *o.Dialer
	}
	if o.RecvBuf > 0 {
		size := o.RecvBuf
		nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
			})
			return errors.Join(err, serr)
		}}
		d.NetDialContext = nd.DialContext
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*d.HandshakeTimeout+time.Second)
	defer cancel()
	ws, resp, err := d.DialContext(ctx, url, o.Header)
	if resp != nil && resp.Body != nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, resp, err
	}
	c := &Conn{tb: tb, name: o.Name, ws: ws, wait: o.Wait, keepPings: o.KeepPings,
		notify: make(chan struct{}, 1), done: make(chan struct{})}
	if c.wait <= 0 {
		c.wait = DefaultWait
	}
	if c.name == "" {
		c.name = "client"
	}
	if o.Hold {
		c.hold = make(chan struct{})
	}
	go c.read()
	tb.Cleanup(c.Close)
	return c, resp, nil
}

// MustDial is Dial that fails the test on error.
func MustDial(tb testing.TB, url string, o Options) *Conn {
	tb.Helper()
	c, resp, err := Dial(tb, url, o)
	if err != nil {
		st := 0
		if resp != nil {
			st = resp.StatusCode
		}
		tb.Fatalf("%s: dial %s: %v (HTTP %d)", o.Name, url, err, st)
	}
	return c
}

// WS returns the underlying socket, for tests that poke at it directly.
// Reading from it races with the reader unless the Conn is held.
func (c *Conn) WS() *websocket.Conn { return c.ws }

// Release starts the reader of a Conn dialled with Hold.
func (c *Conn) Release() {
	if c.hold != nil {
		c.holdOnce.Do(func() { close(c.hold) })
	}
}

func (c *Conn) read() {
	defer close(c.done)
	if c.hold != nil {
		<-c.hold
	}
	for {
		op, b, err := c.ws.ReadMessage()
		if err != nil {
			c.err = err
			c.code = websocket.CloseAbnormalClosure
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.code, c.text = ce.Code, ce.Text
			}
			c.signal()
			return
		}
		m := toMsg(op, b)
		if m.Type == "ping" && !c.keepPings {
			continue
		}
		c.mu.Lock()
		c.queue = append(c.queue, m)
		c.mu.Unlock()
		c.signal()
	}
}

func toMsg(op int, b []byte) Msg {
	m := Msg{Op: op, Data: b, Type: "!invalid"}
	var head struct {
		Type string `json:"type"`
	}
	if op == websocket.TextMessage && json.Unmarshal(b, &head) == nil {
		m.Type = head.Type
	}
	return m
}

func (c *Conn) signal() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// ReadOne reads one frame straight from the socket, for a Conn dialled
// with Hold that has not been released (nothing else reads then).
func (c *Conn) ReadOne(timeout time.Duration) (Msg, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(timeout))
	defer func() { _ = c.ws.SetReadDeadline(time.Time{}) }()
	op, b, err := c.ws.ReadMessage()
	if err != nil {
		return Msg{}, err
	}
	return toMsg(op, b), nil
}

// Write sends one frame of type op (websocket.TextMessage, BinaryMessage,
// or a control type), with a 10 s deadline.
func (c *Conn) Write(op int, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	if op == websocket.CloseMessage || op == websocket.PingMessage || op == websocket.PongMessage {
		return c.ws.WriteControl(op, b, deadline)
	}
	_ = c.ws.SetWriteDeadline(deadline)
	return c.ws.WriteMessage(op, b)
}

// SendRaw writes one frame and fails the test on error.
func (c *Conn) SendRaw(op int, b []byte) {
	c.tb.Helper()
	if err := c.Write(op, b); err != nil {
		c.tb.Fatalf("%s: write %.200s: %v", c.name, b, err)
	}
}

// Send writes v as a JSON text frame and fails the test on error.
func (c *Conn) Send(v any) {
	c.tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.tb.Fatal(err)
	}
	c.SendRaw(websocket.TextMessage, b)
}

// Done is closed when the socket has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Closed returns the close code (1006 when the socket ended without a
// close frame), its reason and the read error; valid once Done is closed.
func (c *Conn) Closed() (code int, text string, err error) {
	<-c.done
	return c.code, c.text, c.err
}

// WaitClosed waits up to timeout for the socket to end and returns its
// close code.
func (c *Conn) WaitClosed(timeout time.Duration) (int, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.done:
		return c.code, nil
	case <-t.C:
		return 0, fmt.Errorf("%s still open after %s", c.name, timeout)
	}
}

// Kill closes the socket without a close frame.
func (c *Conn) Kill() { _ = c.ws.Close() }

// Close sends a close frame (1000), waits up to 2 s for the node's answer,
// closes the socket and waits for the reader. It is idempotent.
func (c *Conn) Close() {
	c.closeOnce.Do(func() {
		c.Release()
		select {
		case <-c.done:
		default:
			_ = c.Write(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			t := time.NewTimer(2 * time.Second)
			select {
			case <-c.done:
			case <-t.C:
			}
			t.Stop()
		}
		_ = c.ws.Close()
		<-c.done
	})
}

// Drain takes every frame queued so far.
func (c *Conn) Drain() []Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queue
	c.queue = nil
	return q
}

// take removes and returns the first queued frame for which ok holds,
// scanning from index from; n is the queue length it scanned to.
func (c *Conn) take(from int, ok func(Msg) bool) (m Msg, found bool, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if from > len(c.queue) {
		from = 0 // drained meanwhile
	}
	for i := from; i < len(c.queue); i++ {
		if ok(c.queue[i]) {
			m = c.queue[i]
			c.queue = append(c.queue[:i], c.queue[i+1:]...)
			return m, true, i
		}
	}
	return Msg{}, false, len(c.queue)
}

// errClosed and errTimeout are what find returns when it gives up.
var (
	errClosed  = errors.New("socket closed")
	errTimeout = errors.New("timed out")
)

// find returns the first frame, in arrival order, for which ok holds,
// waiting up to timeout; the frames it passes over stay queued.
func (c *Conn) find(timeout time.Duration, ok func(Msg) bool) (Msg, error) {
	c.cmu.Lock()
	defer c.cmu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	scanned := 0
	for {
		m, found, n := c.take(scanned, ok)
		if found {
			return m, nil
		}
		scanned = n
		select {
		case <-c.notify:
		case <-c.done:
			if m, found, _ := c.take(scanned, ok); found {
				return m, nil
			}
			return Msg{}, errClosed
		case <-t.C:
			return Msg{}, errTimeout
		}
	}
}

// Find returns the first frame of type typ (any type if typ is "") for
// which match (may be nil) holds, in arrival order, waiting up to timeout;
// frames it passes over stay for later calls.
func (c *Conn) Find(typ string, timeout time.Duration, match func(Msg) bool) (Msg, error) {
	m, err := c.find(timeout, func(m Msg) bool {
		return (typ == "" || m.Type == typ) && (match == nil || match(m))
	})
	switch {
	case errors.Is(err, errClosed):
		return m, fmt.Errorf("%s: socket closed (code %d, %v) while waiting for %q; unconsumed %s", c.name, c.code, c.err, typ, c.Summary())
	case errors.Is(err, errTimeout):
		return m, fmt.Errorf("%s: no %q frame within %s; unconsumed %s", c.name, typ, timeout, c.Summary())
	}
	return m, err
}

// NextWithin returns the next frame; ok is false when the socket ended
// first, err set when timeout passed first.
func (c *Conn) NextWithin(timeout time.Duration) (m Msg, ok bool, err error) {
	m, err = c.find(timeout, func(Msg) bool { return true })
	switch {
	case errors.Is(err, errClosed):
		return m, false, nil
	case errors.Is(err, errTimeout):
		return m, false, fmt.Errorf("%s: no frame within %s", c.name, timeout)
	}
	return m, true, nil
}

// Next returns the next frame, or false when the socket ended; it fails
// the test after the Conn's wait.
func (c *Conn) Next() (Msg, bool) {
	c.tb.Helper()
	m, ok, err := c.NextWithin(c.wait)
	if err != nil {
		c.tb.Fatal(err)
	}
	return m, ok
}

// Expect returns the next frame, which must have type typ.
func (c *Conn) Expect(typ string) Msg {
	c.tb.Helper()
	m, ok := c.Next()
	if !ok {
		c.tb.Fatalf("%s: closed (%d %q) while waiting for %q", c.name, c.code, c.text, typ)
	}
	if m.Type != typ {
		c.tb.Fatalf("%s: got %s, want a %q frame", c.name, m.Data, typ)
	}
	return m
}

// ExpectNone fails the test if a frame arrives within d.
func (c *Conn) ExpectNone(d time.Duration) {
	c.tb.Helper()
	if m, ok, _ := c.NextWithin(d); ok {
		c.tb.Fatalf("%s: unexpected frame %s", c.name, m.Data)
	}
}

// ExpectClose waits for the socket to end and checks its close code; the
// frames still queued before the close are returned.
func (c *Conn) ExpectClose(want int) []Msg {
	c.tb.Helper()
	var skipped []Msg
	for {
		m, ok := c.Next()
		if !ok {
			break
		}
		skipped = append(skipped, m)
	}
	if c.code != want {
		c.tb.Fatalf("%s: close code %d (%q), want %d; frames before it: %v", c.name, c.code, c.text, want, skipped)
	}
	return skipped
}

// Summary describes the first queued frames, for failure messages.
func (c *Conn) Summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for i, m := range c.queue {
		if i == 5 {
			fmt.Fprintf(&b, " ... (%d in all)", len(c.queue))
			break
		}
		raw := string(m.Data)
		if len(raw) > 300 {
			raw = raw[:300] + "..."
		}
		b.WriteString(raw + " ")
	}
	return b.String()
}
