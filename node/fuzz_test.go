package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/protocol"
	"github.com/wsnode/wsnode/socket"
)

// FuzzFrame feeds one client frame through what the reader does with it
// (protocol.Decode, then handle: rate limit, strikes, dispatch, permissions,
// membership, routing and local delivery) on a connection in one of several
// states, with a real WebSocket behind it. It must never panic or hang,
// and every frame the node writes back must be a well-formed server frame.
//
// mode picks the connection: see fzModes.
func FuzzFrame(f *testing.F) {
	h := newFzHarness(f)
	tok, err := h.verifier.Mint("alice", "user", 24*time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	sysTok, err := h.verifier.Mint("ops", "system", 24*time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	seeds := []string{
		`{"type":"auth","token":"` + tok + `","id":1}`,
		`{"type":"auth","token":"` + sysTok + `"}`,
		`{"type":"auth","token":"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}`,
		`{"type":"auth"}`,
		`{"type":"join","room":"lobby","id":"j1"}`,
		`{"type":"join","room":"a:b"}`,
		`{"type":"join","room":""}`,
		`{"type":"join","room":"` + strings.Repeat("r", 129) + `"}`,
		`{"type":"leave","room":"lobby"}`,
		`{"type":"leave","room":"nowhere"}`,
		`{"type":"message","room":"lobby","data":{"text":"hi","n":[1,2,3]}}`,
		`{"type":"message","room":"lobby","data":"x","echo":false}`,
		`{"type":"message","room":"other","data":1}`,
		`{"type":"direct","to_user":"bob","data":null}`,
		`{"type":"direct","to_user":"alice","data":[]}`,
		`{"type":"direct","to_conn":"` + fzConnID + `","data":{"self":true}}`,
		`{"type":"direct","to_conn":"` + fzOtherConnID + `","data":1}`,
		`{"type":"direct","to_conn":"not-a-uuid","data":1}`,
		`{"type":"direct","to_user":"bob","to_conn":"x"}`,
		`{"type":"broadcast","data":"all","echo":false}`,
		`{"type":"ping","id":"p"}`,
		`{"type":"pong"}`,
		`{"type":"subscribe"}`,
		`{"type":5}`,
		`{"type":"ping","id":{"a":1}}`,
		`{"type":"ping","id":-1.5e3}`,
		`{"type":"ping","id":"<&>"}`,
		`{"type":"ping"`,
		`{}`,
		`null`,
		`[]`,
		``,
		"{\"type\":\"ping\",\"data\":\"\xff\"}",
		`{"type":"ping","data":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
	}
	for _, s := range seeds {
		for mode := range byte(len(fzModes)) {
			f.Add(mode, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		h.iterate(t, mode, data)
	})
}

const (
	fzConnID      = "00000000-0000-4000-8000-00000000f022"
	fzOtherConnID = "00000000-0000-4000-8000-0000000000aa"
	fzSentinel    = "\x00fz-sentinel"
)

// fzMode is the state of the connection a fuzzed frame arrives on.
type fzMode struct {
	guests GuestPolicy
	typ    ConnType // "" = not authenticated
	inRoom bool     // member of "lobby"
}

var fzModes = []fzMode{
	{guests: GuestsOff},
	{guests: GuestsOff, typ: TypeUser, inRoom: true},
	{guests: GuestsOff, typ: TypeSystem, inRoom: true},
	{guests: GuestsOff, typ: TypeAIAssistant},
	{guests: GuestsWrite, inRoom: true},
	{guests: GuestsRead, inRoom: true},
}

// fzHarness holds one node per guest policy (all with fake cluster services
// whose broker delivers back to the node, like a one-node cluster) and one
// real WebSocket, reused until a frame gets the connection closed.
type fzHarness struct {
	verifier *auth.Verifier
	nodes    map[GuestPolicy]*Node
	srv      *httptest.Server
	accepted chan *fzSocket // the server's end of each dialled socket
	sock     *fzSocket
}

// fzSocket is one WebSocket: the node's end, upgraded as ServeHTTP does
// (ws, br, waitBytes, cork), and the client end (peer), which reads what the node
// writes.
type fzSocket struct {
	ws        *websocket.Conn
	br        *bufio.Reader
	waitBytes bool
	cork      *socket.Conn
	peer      *fzPeer
}

// fzPeer is the client end: it reads every frame the node writes.
type fzPeer struct {
	frames chan []byte // closed when the socket closes
	code   int         // close code, valid once frames is closed
}

// readFzPeer reads the frames the server sends on ws until the socket
// closes, and then closes ws.
func readFzPeer(ws *websocket.Conn) *fzPeer {
	p := &fzPeer{frames: make(chan []byte, 1024)}
	go func() {
		defer ws.Close()
		defer close(p.frames)
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				p.code = websocket.CloseAbnormalClosure
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					p.code = ce.Code
				}
				return
			}
			p.frames <- data
		}
	}()
	return p
}

func newFzHarness(f *testing.F) *fzHarness {
	v, err := auth.NewVerifier(0, "fuzz-secret")
	if err != nil {
		f.Fatal(err)
	}
	h := &fzHarness{verifier: v, nodes: map[GuestPolicy]*Node{}, accepted: make(chan *fzSocket, 1)}
	for _, g := range []GuestPolicy{GuestsOff, GuestsRead, GuestsWrite} {
		b := &fakeBroker{}
		n, err := New(Config{NodeID: "fz-node", Verifier: v, Guests: g,
			PingInterval: time.Hour, AuthTimeout: time.Hour, RedisTimeout: time.Second,
			Logger: slog.New(slog.DiscardHandler)}, Deps{Registry: fakeRegistry{}, Directory: fakeRegistry{}, Broker: b, Stats: fakeStats{}})
		if err != nil {
			f.Fatal(err)
		}
		b.n = n
		h.nodes[g] = n
	}
	up := h.nodes[GuestsOff].upgrader // the same for every node
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj := &socket.Hijacker{ResponseWriter: w} // as ServeHTTP does
		ws, err := up.Upgrade(hj, r, nil)
		if err != nil {
			return
		}
		// Hijack corked the 101 response for a welcome frame; there is none
		// here, and the dialler waits for it.
		if err := hj.Conn.Uncork(); err != nil {
			_ = ws.Close()
			return
		}
		// The socket is the harness's now: net/http leaves a hijacked
		// connection open when the handler returns.
		h.accepted <- &fzSocket{ws: ws, br: hj.Reader, waitBytes: socket.WaitsForBytes(ws.NetConn()), cork: hj.Conn}
	}))
	f.Cleanup(func() {
		if h.sock != nil {
			_ = h.sock.ws.Close()
			for range h.sock.peer.frames {
			}
		}
		h.srv.Close()
		for _, n := range h.nodes {
			n.cancel()
		}
	})
	return h
}

func (h *fzHarness) socket(t *testing.T) *fzSocket {
	if h.sock != nil {
		return h.sock
	}
	client, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(h.srv.URL, "http"), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	h.sock = <-h.accepted // the server end, handed over once the 101 is out
	h.sock.peer = readFzPeer(client)
	return h.sock
}

func (h *fzHarness) iterate(t *testing.T, modeByte byte, data []byte) {
	mode := fzModes[int(modeByte)%len(fzModes)]
	n := h.nodes[mode.guests]
	sock := h.socket(t)

	c := n.newConn(sock.ws, "192.0.2.1")
	c.br, c.waitBytes, c.cork = sock.br, sock.waitBytes, sock.cork
	c.id = fzConnID
	n.idx.add(c)
	ctx := context.Background()
	if mode.typ != "" {
		if err := c.authenticate(ctx, auth.Claims{User: "alice", ConnType: string(mode.typ)}); err != nil {
			t.Fatalf("setup auth: %v", err)
		}
	}
	if mode.inRoom {
		if err := c.join(ctx, "lobby"); err != nil {
			t.Fatalf("setup join: %v", err)
		}
	}

	// What readFrame does with one frame.
	req, decErr := protocol.Decode(data)
	handled := int64(len(data)) <= n.cfg.MaxMessageSize && utf8.Valid(data)
	if handled {
		c.handle(data)
	}

	var frames [][]byte
	if c.closing() {
		// The frame got the connection closed: the close frame ends the socket.
		close(c.readerDone)
		frames = fzDrain(t, sock.peer.frames, "")
		h.sock = nil
		if code := sock.peer.code; code < 1000 || code == websocket.CloseAbnormalClosure {
			t.Fatalf("connection closed without a valid close frame (code %d)", code)
		}
	} else {
		// Retire the connection without closing the socket: let the writer
		// flush the queue, then mark the end of this frame's output.
		c.closeOnce.Do(func() { close(c.done) })
		select {
		case <-c.seal():
		case <-time.After(5 * time.Second):
			t.Fatal("writer did not stop")
		}
		// The sentinel follows the node's frames on the wire; the deadline
		// fails a stuck write instead of hanging, and is cleared after, as
		// the writer sets none.
		_ = sock.cork.SetWriteDeadline(time.Now().Add(5 * time.Second))
		err := sock.cork.WriteFrame(socket.OpText, []byte(fzSentinel))
		_ = sock.cork.SetWriteDeadline(time.Time{})
		if err != nil {
			t.Fatalf("sentinel: %v", err)
		}
		frames = fzDrain(t, sock.peer.frames, fzSentinel)
	}
	n.cleanup(c)
	if n.idx.get(c.id) != nil {
		t.Fatal("connection still indexed after cleanup")
	}

	for _, fr := range frames {
		fzCheckFrame(t, fr, req)
	}
	if handled && decErr != nil {
		// A fresh connection answers a malformed frame with exactly one
		// bad_request error and stays open.
		if len(frames) != 1 || !strings.Contains(string(frames[0]), `"code":"bad_request"`) || c.closeCode != 0 {
			t.Fatalf("malformed frame (%v): got %q, close %d", decErr, frames, c.closeCode)
		}
	}
}

// fzDrain reads frames until the sentinel (or, with no sentinel, until the
// socket closes).
func fzDrain(t *testing.T, ch <-chan []byte, sentinel string) [][]byte {
	var out [][]byte
	timeout := time.After(10 * time.Second)
	for {
		select {
		case fr, ok := <-ch:
			if !ok {
				if sentinel != "" {
					t.Fatal("socket closed before the sentinel")
				}
				return out
			}
			if sentinel != "" && string(fr) == sentinel {
				return out
			}
			out = append(out, fr)
		case <-timeout:
			t.Fatal("no end of output within 10s (hang?)")
		}
	}
}

// fzCheckFrame checks one frame the node wrote in answer to req.
func fzCheckFrame(t *testing.T, fr []byte, req protocol.Request) {
	var out struct {
		Type    string          `json:"type"`
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Ref     json.RawMessage `json:"ref"`
	}
	if !utf8.Valid(fr) || json.Unmarshal(fr, &out) != nil || out.Type == "" {
		t.Fatalf("node wrote a malformed frame: %q", fr)
	}
	if out.Type == protocol.TypeError {
		if out.Code == "" || out.Message == "" || strings.ToLower(out.Code) != out.Code || strings.ContainsAny(out.Code, " -") {
			t.Fatalf("bad error frame: %s", fr)
		}
		if out.Code == "internal" {
			t.Fatalf("internal error for %q", fr)
		}
	}
	if len(out.Ref) > 0 {
		if len(req.ID) == 0 { // a request with an "id" keeps it even when another field is wrong
			t.Fatalf("frame %s carries a ref the request did not give", fr)
		}
		var got, want any
		_ = json.Unmarshal(out.Ref, &got)
		_ = json.Unmarshal(req.ID, &want)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ref %s, request id %s", out.Ref, req.ID)
		}
	}
}
