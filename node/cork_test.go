package node

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// recConn records each Write call; it fails them once failWith is set.
type recConn struct {
	net.Conn
	mu       sync.Mutex
	writes   [][]byte
	failWith error
}

func (r *recConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failWith != nil {
		return 0, r.failWith
	}
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recConn) calls() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writes
}

func TestCorkGathersIntoOneWrite(t *testing.T) {
	rc := &recConn{}
	c := &corkConn{Conn: rc}
	if _, err := c.Write([]byte("a")); err != nil { // not corked: straight through
		t.Fatal(err)
	}
	c.cork()
	for _, s := range []string{"b", "cd", "e"} {
		if n, err := c.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("corked Write = %d, %v", n, err)
		}
	}
	if got := len(rc.calls()); got != 1 {
		t.Fatalf("%d writes reached the socket while corked, want only the first", got)
	}
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	if err := c.uncork(); err != nil { // not corked: nothing to do
		t.Fatal(err)
	}
	got := fmt.Sprintf("%q", rc.calls())
	if want := `["a" "bcde"]`; got != want {
		t.Fatalf("socket writes %s, want %s", got, want)
	}
}

func TestCorkUncorkReportsWriteError(t *testing.T) {
	boom := errors.New("boom")
	rc := &recConn{failWith: boom}
	c := &corkConn{Conn: rc}
	c.cork()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatalf("corked Write = %v; errors belong to uncork", err)
	}
	if err := c.uncork(); !errors.Is(err, boom) {
		t.Fatalf("uncork = %v, want %v", err, boom)
	}
}

// A frame written by another goroutine while the writer is corked (the
// close frame) must reach the socket after the gathered frames.
func TestCorkKeepsOrderWithConcurrentWrite(t *testing.T) {
	for range 200 {
		rc := &recConn{}
		c := &corkConn{Conn: rc}
		c.cork()
		_, _ = c.Write([]byte("data"))
		done := make(chan struct{})
		go func() { defer close(done); _, _ = c.Write([]byte("close")) }()
		if err := c.uncork(); err != nil {
			t.Fatal(err)
		}
		<-done
		var all []byte
		for _, w := range rc.calls() {
			all = append(all, w...)
		}
		if string(all) != "dataclose" {
			t.Fatalf("socket got %q, want the close frame last", all)
		}
	}
}

// A batch larger than maxCork is written in several gathered writes, and
// the client reads every frame, in order.
func TestWriteBatchLargerThanCork(t *testing.T) {
	n, url, _ := mustReaderNodeN(t)
	ws, c := dialConn(t, n, url)
	const frames = 300
	payload := bytes.Repeat([]byte("x"), 1000) // 300 KB in all: five gathered writes
	var batch []outFrame
	for i := range frames {
		data := fmt.Appendf(nil, `{"i":%d,"p":"%s"}`, i, payload)
		batch = append(batch, outFrame{data: data, size: int64(len(data))})
	}
	queueBatch(t, n, c, batch)
	_ = ws.SetReadDeadline(time.Now().Add(readerTestTimeout))
	for i := range frames {
		var f struct{ I int }
		if err := ws.ReadJSON(&f); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.I != i {
			t.Fatalf("frame %d carries %d", i, f.I)
		}
	}
}

// queueBatch hands frames to c's writer as one round, as enqueue would
// frame by frame, once the writer of the welcome frame is done.
func queueBatch(t *testing.T, n *Node, c *Conn, batch []outFrame) {
	t.Helper()
	for deadline := time.Now().Add(readerTestTimeout); ; time.Sleep(time.Millisecond) {
		c.qmu.Lock()
		if !c.writing {
			break
		}
		c.qmu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the welcome frame's writer never finished")
		}
	}
	for _, f := range batch {
		c.queue = append(c.queue, f)
		c.queued += f.size
	}
	c.writing = true
	c.qmu.Unlock()
	n.workers.goF(c.writer)
}

// dialConn dials the node and returns the client and the node's Conn.
func dialConn(t *testing.T, n *Node, url string) (*websocket.Conn, *Conn) {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = ws.Close() })
	var welcome welcomeFrame
	if err := ws.ReadJSON(&welcome); err != nil {
		t.Fatal(err)
	}
	c := n.idx.get(welcome.ConnID)
	if c == nil || c.cork == nil {
		t.Fatalf("no server conn with a cork for %s", welcome.ConnID)
	}
	return ws, c
}

// The node frames its own messages (appendFrame): every length encoding,
// pings and pongs must read back through gorilla's client unchanged, corked
// (a batch) and not (one frame per round).
func TestWriterFramesReadByGorilla(t *testing.T) {
	n, url, _ := mustReaderNodeN(t)
	sizes := []int{0, 1, 125, 126, 127, 65535, 65536, 70000}
	for _, corked := range []bool{true, false} {
		ws, c := dialConn(t, n, url)
		ws.SetReadLimit(1 << 20)
		var pings, pongs []string
		ws.SetPingHandler(func(p string) error { pings = append(pings, p); return nil })
		ws.SetPongHandler(func(p string) error { pongs = append(pongs, p); return nil })
		var want [][]byte
		var frames []outFrame
		frames = append(frames, outFrame{pong: true, data: []byte("pong-payload")})
		for i, size := range sizes {
			data := bytes.Repeat([]byte{'a' + byte(i)}, size)
			want = append(want, data)
			frames = append(frames, outFrame{data: data, size: int64(size), ping: i == 3})
		}
		if corked {
			queueBatch(t, n, c, frames)
		} else {
			for _, f := range frames {
				queueBatch(t, n, c, []outFrame{f})
			}
		}
		_ = ws.SetReadDeadline(time.Now().Add(readerTestTimeout))
		for i, w := range want {
			typ, got, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("corked %v, frame %d (%d bytes): %v", corked, i, len(w), err)
			}
			if typ != websocket.TextMessage || !bytes.Equal(got, w) {
				t.Fatalf("corked %v, frame %d: type %d, %d bytes, want text of %d", corked, i, typ, len(got), len(w))
			}
		}
		if len(pongs) != 1 || pongs[0] != "pong-payload" || len(pings) != 1 || pings[0] != "" {
			t.Fatalf("corked %v: pongs %q, pings %q; want one pong and one empty ping", corked, pongs, pings)
		}
	}
}

// closeFrame is a close frame as gorilla's WriteControl writes it.
var closeFrame = appendFrame(nil, opClose, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))

// Nothing may follow a close frame (RFC 6455 5.5.1): once gorilla has
// written or gathered one, the writer's frames are refused.
func TestCorkNothingAfterClose(t *testing.T) {
	for _, corked := range []bool{true, false} {
		rc := &recConn{}
		c := &corkConn{Conn: rc}
		if corked {
			c.cork()
		}
		if err := c.writeFrame(opText, []byte("a")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(closeFrame); err != nil { // gorilla's close
			t.Fatal(err)
		}
		if err := c.writeFrame(opText, []byte("b")); !errors.Is(err, errCloseSent) {
			t.Fatalf("corked %v: data frame after the close frame: err %v, want errCloseSent", corked, err)
		}
		if err := c.uncork(); err != nil {
			t.Fatal(err)
		}
		var all []byte
		for _, w := range rc.calls() {
			all = append(all, w...)
		}
		if want := append(appendFrame(nil, opText, []byte("a")), closeFrame...); !bytes.Equal(all, want) {
			t.Fatalf("corked %v: socket got % x, want % x", corked, all, want)
		}
	}
}

// opsAfterClose reads unmasked server frames until the read fails and
// counts the data frames before and after the first close frame.
func opsAfterClose(t *testing.T, ws *websocket.Conn) (before, after int, sawClose bool) {
	t.Helper()
	br := bufio.NewReaderSize(ws.NetConn(), 1<<16)
	_ = ws.NetConn().SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return before, after, sawClose
		}
		n := int64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return before, after, sawClose
			}
			n = int64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return before, after, sawClose
			}
			n = int64(binary.BigEndian.Uint64(b[:]))
		}
		if _, err := io.CopyN(io.Discard, br, n); err != nil {
			return before, after, sawClose
		}
		switch op := h[0] & frameOpcode; {
		case op == opClose:
			sawClose = true
		case op == opText && sawClose:
			after++
		case op == opText:
			before++
		}
	}
}

// A client that closes while the writer drains a large batch gets gorilla's
// echoed close frame, and no data frame after it.
func TestNoDataAfterClientClose(t *testing.T) {
	n, url, _ := mustReaderNodeN(t)
	ws, c := dialConn(t, n, url)
	payload := bytes.Repeat([]byte("x"), 32<<10)
	var batch []outFrame
	for range 400 { // ~13 MB: more than the socket buffers hold, so the writer blocks
		batch = append(batch, outFrame{data: payload, size: int64(len(payload))})
	}
	queueBatch(t, n, c, batch)
	time.Sleep(200 * time.Millisecond)
	if err := ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
		time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	before, after, sawClose := opsAfterClose(t, ws)
	if !sawClose || after > 0 {
		t.Fatalf("%d data frames, then close frame seen %v, then %d data frames; want none after it", before, sawClose, after)
	}
}
