package node

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/protocol"
	"github.com/wsnode/wsnode/socket"
)

// Tests of how much one wake-up of a reader serves (readFrames): the
// budget that keeps a flooding socket from monopolising a processor, and
// the stop after a close for abuse. readFrames is called directly, on a
// real socket whose reader is not running.

// mustUnreadConn accepts one socket on n as ServeHTTP would, but starts no
// reader for it, and returns the node's conn and the client end.
func mustUnreadConn(t *testing.T, n *Node) (*conn, net.Conn) {
	t.Helper()
	accepted := make(chan *conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj := &socket.Hijacker{ResponseWriter: w}
		ws, err := n.upgrader.Upgrade(hj, r, nil)
		if err != nil {
			return
		}
		c := n.newConn(ws, "192.0.2.1")
		c.br, c.waitBytes, c.cork = hj.Reader, socket.WaitsForBytes(ws.NetConn()), hj.Conn
		c.uncork(c.cork) // the 101 response; there is no welcome here
		c.prepareRead()
		accepted <- c
	}))
	t.Cleanup(srv.Close)
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	c := <-accepted
	t.Cleanup(func() {
		_ = ws.Close()
		_ = c.ws.Close()
	})
	return c, ws.NetConn()
}

// mustFillBuffer waits until the node's read buffer holds n bytes.
func mustFillBuffer(t *testing.T, c *conn, n int) {
	t.Helper()
	_ = c.ws.NetConn().SetReadDeadline(time.Now().Add(readerTestTimeout))
	if _, err := c.br.Peek(n); err != nil {
		t.Fatalf("waiting for %d buffered bytes: %v", n, err)
	}
	c.extendRead()
}

// TestReadFramesStopsAtFrameBudget: with more frames buffered than one
// turn may serve, readFrames serves turnFrames of them and returns, leaving
// the rest for the reader's next turn.
func TestReadFramesStopsAtFrameBudget(t *testing.T) {
	n := benchNode(t, func(cfg *Config) { cfg.MessageRate = -1 })
	c, client := mustUnreadConn(t, n)
	var burst []byte
	for range 3 * turnFrames {
		burst = append(burst, textFrame(`{"type":"pong"}`)...) // accepted, unanswered
	}
	if _, err := client.Write(burst); err != nil {
		t.Fatal(err)
	}
	mustFillBuffer(t, c, socket.ReadBufferSize)
	if err := c.readFrames(); err != nil {
		t.Fatal(err)
	}
	if got := c.msgsIn.Load(); got != turnFrames {
		t.Fatalf("one turn served %d frames, want %d", got, turnFrames)
	}
	if c.br.Buffered() == 0 || !c.turnSpent() {
		t.Fatalf("%d bytes buffered, turn spent %v: want frames left over and the turn spent", c.br.Buffered(), c.turnSpent())
	}
	for c.msgsIn.Load() < 3*turnFrames {
		c.yieldIfSpent() // as readPump does between wake-ups
		if err := c.readFrames(); err != nil {
			t.Fatalf("after %d frames: %v", c.msgsIn.Load(), err)
		}
	}
}

// TestReadFramesStopsAtByteBudget: frames whose payloads add up to
// turnBytes end the turn, over as many wake-ups as the socket's pace makes.
func TestReadFramesStopsAtByteBudget(t *testing.T) {
	n := benchNode(t, func(cfg *Config) { cfg.MessageRate = -1 })
	c, client := mustUnreadConn(t, n)
	big := textFrame(`{"type":"pong","data":"` + strings.Repeat("z", turnBytes/2) + `"}`)
	go func() { _, _ = client.Write(bytes.Repeat(big, 4)) }() // the node's window may not take it at once
	for c.msgsIn.Load() < 2 {
		mustFillBuffer(t, c, 1)
		if err := c.readFrames(); err != nil {
			t.Fatal(err)
		}
		if c.msgsIn.Load() == 1 && c.turnSpent() {
			t.Fatal("turn spent after one frame of half the byte budget")
		}
	}
	if got := c.msgsIn.Load(); got != 2 || !c.turnSpent() {
		t.Fatalf("%d frames of %d KiB served, turn spent %v; want 2 and the turn spent (budget %d KiB)",
			got, turnBytes/2>>10, c.turnSpent(), turnBytes>>10)
	}
	c.yieldIfSpent()
	if c.turnSpent() {
		t.Fatal("yieldIfSpent did not start a new turn")
	}
}

// TestReadFramesStopsReadingAfterAbuseClose: the frame that gets a socket
// closed for abuse (one strike too many) is the last one read; frames
// behind it stay unread and every later wake-up reads none.
func TestReadFramesStopsReadingAfterAbuseClose(t *testing.T) {
	n := benchNode(t, func(cfg *Config) { cfg.MessageRate = -1; cfg.MaxStrikes = 3 })
	c, client := mustUnreadConn(t, n)
	var burst []byte
	for range 10 {
		burst = append(burst, textFrame(`nope`)...)
	}
	if _, err := client.Write(burst); err != nil {
		t.Fatal(err)
	}
	mustFillBuffer(t, c, len(burst))
	if err := c.readFrames(); !errors.Is(err, errReadStopped) {
		t.Fatalf("readFrames = %v, want errReadStopped", err)
	}
	if c.closeCode != protocol.ClosePolicy {
		t.Fatalf("close code %d, want %d", c.closeCode, protocol.ClosePolicy)
	}
	if got := c.msgsIn.Load(); got != 4 {
		t.Fatalf("%d frames read, want 4 (the fourth strike closes)", got)
	}
	left := c.br.Buffered()
	if err := c.readFrames(); !errors.Is(err, errReadStopped) || c.br.Buffered() != left {
		t.Fatalf("second wake-up: %v, %d bytes buffered (was %d); want errReadStopped and nothing read", err, c.br.Buffered(), left)
	}
}
