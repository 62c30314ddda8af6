package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/protocol"
)

// Tests of the split reader (reader.go, pingpong.go, socket.Hijacker) on real
// sockets: frames that arrive together or in pieces, control frames the node
// consumes itself, and that a control frame leaves no goroutine behind.

const readerTestTimeout = 5 * time.Second

// mustReaderNode serves a node on the fuzz fakes over real TCP and returns
// its ws:// URL and a token for user "bob".
func mustReaderNode(tb testing.TB) (url, token string) {
	_, url, token = mustReaderNodeN(tb)
	return url, token
}

// mustReaderNodeN is mustReaderNode that also returns the node.
func mustReaderNodeN(tb testing.TB) (n *Node, url, token string) {
	tb.Helper()
	return mustReaderNodeWith(tb, fakeStats{})
}

// mustReaderNodeWith is mustReaderNodeN with the given Stats.
func mustReaderNodeWith(tb testing.TB, st Stats) (n *Node, url, token string) {
	tb.Helper()
	n = benchNodeWith(tb, nil, st)
	url = mustServe(tb, n)
	tok, err := n.cfg.Verifier.Mint("bob", "user", time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return n, url, tok
}

// mustServe serves n over real TCP, as if its first heartbeat had landed
// (before it, upgrades are refused), and returns its ws:// URL.
func mustServe(tb testing.TB, n *Node) string {
	tb.Helper()
	n.healthMu.Lock()
	n.lastHeartbeat = time.Now()
	n.healthMu.Unlock()
	srv := httptest.NewServer(n)
	tb.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// mustDial connects and reads the welcome frame.
func mustDial(tb testing.TB, url string) *websocket.Conn {
	tb.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	_ = resp.Body.Close()
	tb.Cleanup(func() { _ = ws.Close() })
	if got := mustReadType(tb, ws); got != protocol.TypeWelcome {
		tb.Fatalf("first frame %q, want welcome", got)
	}
	return ws
}

// mustReadType reads one text frame and returns its "type".
func mustReadType(tb testing.TB, ws *websocket.Conn) string {
	tb.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(readerTestTimeout))
	_, data, err := ws.ReadMessage()
	if err != nil {
		tb.Fatalf("read: %v", err)
	}
	var f struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		tb.Fatalf("frame %s: %v", data, err)
	}
	return f.Type
}

// clientFrame is a masked client frame with a 7-bit or 16-bit length.
func clientFrame(first byte, payload []byte) []byte {
	key := [4]byte{0x11, 0x22, 0x33, 0x44}
	var b []byte
	if len(payload) < 126 {
		b = []byte{first, 0x80 | byte(len(payload))}
	} else {
		b = []byte{first, 0x80 | 126, byte(len(payload) >> 8), byte(len(payload))}
	}
	b = append(b, key[:]...)
	for i, p := range payload {
		b = append(b, p^key[i&3])
	}
	return b
}

func textFrame(s string) []byte { return clientFrame(0x80|websocket.TextMessage, []byte(s)) }

// TestReaderServesFramesArrivingTogether: frames that reach the node in one
// TCP write sit in its read buffer after the first is read; the reader must
// serve them without waiting for the socket to become readable again.
func TestReaderServesFramesArrivingTogether(t *testing.T) {
	url, tok := mustReaderNode(t)
	ws := mustDial(t, url)
	var burst []byte
	burst = append(burst, textFrame(`{"type":"auth","token":"`+tok+`"}`)...)
	burst = append(burst, textFrame(`{"type":"join","room":"r1"}`)...)
	burst = append(burst, clientFrame(0x80|websocket.PongMessage, nil)...)
	burst = append(burst, textFrame(`{"type":"ping"}`)...)
	if _, err := ws.NetConn().Write(burst); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{protocol.TypeAuthenticated, protocol.TypeJoined, protocol.TypePong} {
		if got := mustReadType(t, ws); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

// TestReaderServesSplitFrames: a frame whose bytes arrive in pieces (header
// split, then payload split) is still served, both for data and control.
func TestReaderServesSplitFrames(t *testing.T) {
	url, _ := mustReaderNode(t)
	ws := mustDial(t, url)
	pongs := make(chan string, 1)
	ws.SetPongHandler(func(s string) error { pongs <- s; return nil })
	for _, frame := range [][]byte{
		clientFrame(0x80|websocket.PingMessage, []byte("split-ping")),
		textFrame(`{"type":"ping","id":7}`),
	} {
		for _, piece := range [][]byte{frame[:1], frame[1:5], frame[5:9], frame[9:]} {
			if _, err := ws.NetConn().Write(piece); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The client's read loop runs the pong handler before returning the pong frame.
	if got := mustReadType(t, ws); got != protocol.TypePong {
		t.Fatalf("got %q, want pong", got)
	}
	select {
	case p := <-pongs:
		if p != "split-ping" {
			t.Fatalf("pong payload %q, want the ping's", p)
		}
	default:
		t.Fatal("no WebSocket pong for the client's ping")
	}
}

// TestReaderAnswersPingAndKeepsOneGoroutine: after a pong and then a ping
// from every client, each socket is back to its one waiting reader
// goroutine. If gorilla handled the control frames, NextReader would keep a
// second, deep goroutine parked per socket until the next data frame.
func TestReaderAnswersPingAndKeepsOneGoroutine(t *testing.T) {
	const clients = 40
	n, url, _ := mustReaderNodeN(t)
	var conns []*websocket.Conn
	for range clients {
		conns = append(conns, mustDial(t, url))
	}
	before := settledGoroutines(n)
	for i, ws := range conns {
		payload := []byte{byte(i), 'x'}
		burst := append(clientFrame(0x80|websocket.PongMessage, []byte("unsolicited")),
			clientFrame(0x80|websocket.PingMessage, payload)...)
		if _, err := ws.NetConn().Write(burst); err != nil {
			t.Fatal(err)
		}
		// The server's pong, read raw: nothing else is in flight.
		want := append([]byte{0x80 | websocket.PongMessage, byte(len(payload))}, payload...)
		got := make([]byte, len(want))
		_ = ws.NetConn().SetReadDeadline(time.Now().Add(readerTestTimeout))
		if _, err := io.ReadFull(ws.NetConn(), got); err != nil {
			t.Fatalf("client %d: reading the pong: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("client %d: got frame % x, want pong % x", i, got, want)
		}
	}
	if after := settledGoroutines(n); after > before+clients/4 {
		t.Fatalf("goroutines: %d before the control frames, %d after (%d sockets)", before, after, clients)
	}
}

// settledGoroutines waits for short-lived goroutines (writers) to exit and
// returns the count, less the node's parked workers.
func settledGoroutines(n *Node) int {
	count := func() int { return runtime.NumGoroutine() - int(n.workers.idle.Load()) }
	c := count()
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		m := count()
		if m == c {
			return m
		}
		c = m
	}
	return c
}

// TestReaderLeavesMalformedControlToGorilla: a ping with a 16-bit length is
// not consumed by readControl; gorilla rejects it with 1002.
func TestReaderLeavesMalformedControlToGorilla(t *testing.T) {
	url, _ := mustReaderNode(t)
	ws := mustDial(t, url)
	if _, err := ws.NetConn().Write(clientFrame(0x80|websocket.PingMessage, make([]byte, 126))); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(readerTestTimeout))
	_, _, err := ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseProtocolError {
		t.Fatalf("got %v, want close 1002", err)
	}
}
