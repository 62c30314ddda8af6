package client

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeServer is a scripted node: every accepted socket is handed to the
// test as a fakeConn, and the test plays the node's side frame by frame.
type fakeServer struct {
	t     *testing.T
	srv   *httptest.Server
	conns chan *fakeConn
	// refuse, when not 0, answers the next upgrades with that status.
	mu         sync.Mutex
	refuse     int
	retryAfter string // Retry-After of a refusal
}

type fakeConn struct {
	t      *testing.T
	ws     *websocket.Conn
	frames chan map[string]any
	done   chan struct{}
	code   int // close code the client sent, valid after done
}

const fakeWait = 10 * time.Second

func newFakeServer(t *testing.T) *fakeServer {
	f := &fakeServer{t: t, conns: make(chan *fakeConn, 16)}
	up := websocket.Upgrader{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		st, after := f.refuse, f.retryAfter
		f.mu.Unlock()
		if st != 0 {
			if after != "" {
				w.Header().Set("Retry-After", after)
			}
			http.Error(w, "refused", st)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		fc := &fakeConn{t: t, ws: ws, frames: make(chan map[string]any, 64), done: make(chan struct{})}
		ws.SetCloseHandler(func(code int, _ string) error {
			fc.code = code
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
			return nil
		})
		go fc.read()
		f.conns <- fc
	}))
	t.Cleanup(func() {
		f.srv.Close()
		for {
			select {
			case fc := <-f.conns:
				fc.kill()
			default:
				return
			}
		}
	})
	return f
}

func (f *fakeServer) url() string { return "ws" + strings.TrimPrefix(f.srv.URL, "http") }

// accept returns the next socket the client opened.
func (f *fakeServer) accept() *fakeConn {
	f.t.Helper()
	select {
	case fc := <-f.conns:
		f.t.Cleanup(fc.kill)
		return fc
	case <-time.After(fakeWait):
		f.t.Fatal("the client did not connect")
	}
	return nil
}

func (fc *fakeConn) read() {
	defer close(fc.done)
	for {
		var m map[string]any
		if err := fc.ws.ReadJSON(&m); err != nil {
			return
		}
		fc.frames <- m
	}
}

func (fc *fakeConn) send(v any) {
	fc.t.Helper()
	if err := fc.ws.WriteJSON(v); err != nil {
		fc.t.Fatalf("fake node: write: %v", err)
	}
}

// expect returns the next frame the client sent, which must have type typ.
func (fc *fakeConn) expect(typ string) map[string]any {
	fc.t.Helper()
	select {
	case m, ok := <-fc.frames:
		if !ok {
			fc.t.Fatalf("fake node: socket closed, want %q", typ)
		}
		if m["type"] != typ {
			fc.t.Fatalf("fake node: got %v, want a %q frame", m, typ)
		}
		return m
	case <-fc.done:
		fc.t.Fatalf("fake node: socket closed while waiting for %q", typ)
	case <-time.After(fakeWait):
		fc.t.Fatalf("fake node: no %q frame", typ)
	}
	return nil
}

// welcome sends a welcome frame with the given ping interval.
func (fc *fakeConn) welcome(pingMS int) {
	fc.send(map[string]any{"type": "welcome", "conn_id": "c-1", "node_id": "fake", "ping_interval_ms": pingMS})
}

// handshake plays welcome and authenticated and returns the token the
// client sent.
func (fc *fakeConn) handshake() string {
	fc.t.Helper()
	fc.welcome(25000)
	a := fc.expect("auth")
	fc.send(map[string]any{"type": "authenticated", "ref": a["id"], "user": "alice", "conn_type": "user"})
	tok, _ := a["token"].(string)
	return tok
}

// closeWith sends a close frame and waits for the client's answer.
func (fc *fakeConn) closeWith(code int, reason string) {
	_ = fc.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	select {
	case <-fc.done:
	case <-time.After(fakeWait):
	}
	_ = fc.ws.Close()
}

// kill ends the socket without a close frame (the client sees 1006).
func (fc *fakeConn) kill() {
	_ = fc.ws.Close()
	<-fc.done
}

// ---- a clock whose After fires at once and records the delays ----

type fakeClock struct {
	mu     sync.Mutex
	delays []time.Duration
	now    time.Time
	block  bool // After never fires
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.delays = append(c.delays, d)
	ch := make(chan time.Time, 1)
	if !c.block {
		ch <- c.now
	}
	return ch
}

func (c *fakeClock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.delays...)
}

// events records state events in order.
type events struct {
	mu sync.Mutex
	ev []StateEvent
	ch chan StateEvent
}

func newEvents() *events { return &events{ch: make(chan StateEvent, 256)} }

func (e *events) on(ev StateEvent) {
	e.mu.Lock()
	e.ev = append(e.ev, ev)
	e.mu.Unlock()
	e.ch <- ev
}

// waitFor returns the next event in state s, skipping others.
func (e *events) waitFor(t *testing.T, s State) StateEvent {
	t.Helper()
	timeout := time.After(fakeWait)
	for {
		select {
		case ev := <-e.ch:
			if ev.State == s {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s state event", s)
		}
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
