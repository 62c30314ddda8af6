package node

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/protocol"
	"github.com/wsnode/wsnode/stats"
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

// gateConn blocks its first Write until gate is closed, and tells entered
// when that Write has begun; later writes are recorded at once.
type gateConn struct {
	recConn
	gate, entered chan struct{}
	started       atomic.Bool
}

func (g *gateConn) Write(p []byte) (int, error) {
	if g.started.CompareAndSwap(false, true) {
		close(g.entered)
		<-g.gate
	}
	return g.recConn.Write(p)
}

// A frame written by another goroutine while the gathered frames are on
// their way to the socket (the close frame) must wait for them: uncork
// holds the lock across its write.
func TestCorkKeepsOrderWithConcurrentWrite(t *testing.T) {
	g := &gateConn{gate: make(chan struct{}), entered: make(chan struct{})}
	c := &corkConn{Conn: g}
	c.cork()
	_, _ = c.Write([]byte("data"))
	uncorked := make(chan error, 1)
	go func() { uncorked <- c.uncork() }()
	<-g.entered // uncork is inside the socket write, holding the lock
	wrote := make(chan struct{})
	go func() { defer close(wrote); _, _ = c.Write([]byte("next")) }()
	select {
	case <-wrote:
		t.Fatal("a concurrent Write reached the socket while the gathered frames were being written")
	case <-time.After(50 * time.Millisecond):
	}
	close(g.gate)
	if err := <-uncorked; err != nil {
		t.Fatal(err)
	}
	<-wrote
	if got := fmt.Sprintf("%q", g.calls()); got != `["data" "next"]` {
		t.Fatalf("socket writes %s, want the gathered frames first", got)
	}
}

// splitFrames splits b into unmasked server frames and returns each one's
// opcode and length on the wire, and the bytes after the last whole frame.
func splitFrames(b []byte) (ops []byte, sizes []int, rest []byte) {
	for len(b) >= 2 {
		h, n := 2, int(b[1]&0x7f)
		switch {
		case n == 126 && len(b) >= 4:
			h, n = 4, int(binary.BigEndian.Uint16(b[2:]))
		case n == 127 && len(b) >= 10:
			h, n = 10, int(binary.BigEndian.Uint64(b[2:]))
		case n >= 126:
			return ops, sizes, b
		}
		if len(b) < h+n {
			break
		}
		ops, sizes = append(ops, b[0]&frameOpcode), append(sizes, h+n)
		b = b[h+n:]
	}
	return ops, sizes, b
}

// writeBatch gathers at most maxCork bytes per socket write and writes a
// frame of that size or more on its own, without splitting any frame.
func TestWriteBatchRespectsCorkCap(t *testing.T) {
	rc := &recConn{}
	c := &Conn{cork: &corkConn{Conn: rc}}
	var batch []outFrame
	add := func(size int) {
		data := bytes.Repeat([]byte{'x'}, size)
		batch = append(batch, outFrame{data: data, size: int64(size)})
	}
	add(15 << 10)
	add(60 << 10) // larger than maxCork: alone
	for range 200 {
		add(100)
	}
	add(maxCork)
	add(10)
	if _, ok := c.writeBatch(batch); !ok {
		t.Fatal("writeBatch failed")
	}
	frames, total := 0, 0
	for i, w := range rc.calls() {
		_, sizes, rest := splitFrames(w)
		if len(rest) > 0 {
			t.Fatalf("write %d (%d bytes) splits a frame", i, len(w))
		}
		if len(w) > maxCork && len(sizes) > 1 {
			t.Fatalf("write %d: %d bytes in %d frames; more than maxCork (%d) must be one frame", i, len(w), len(sizes), maxCork)
		}
		frames += len(sizes)
		total += len(w)
	}
	if frames != len(batch) {
		t.Fatalf("%d frames reached the socket, want %d", frames, len(batch))
	}
	if writes := len(rc.calls()); writes > 8 {
		t.Fatalf("%d socket writes for %d frames; the small ones were not gathered", writes, len(batch))
	}
}

// A batch larger than maxCork is written in several gathered writes, and
// the client reads every frame, in order.
func TestWriteBatchLargerThanCork(t *testing.T) {
	n, url, _ := mustReaderNodeN(t)
	ws, c := dialConn(t, n, url)
	const frames = 300
	payload := bytes.Repeat([]byte("x"), 1000) // 300 KB in all: about 20 gathered writes
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
	var welcome protocol.Welcome
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

// opsAfterClose reads server frames until the socket closes or goes quiet
// and counts the data frames before and after the first close frame.
func opsAfterClose(t *testing.T, ws *websocket.Conn) (before, after int, sawClose bool) {
	t.Helper()
	_ = ws.NetConn().SetReadDeadline(time.Now().Add(3 * time.Second))
	data, _ := io.ReadAll(ws.NetConn()) // ends at EOF or the deadline
	ops, _, _ := splitFrames(data)
	for _, op := range ops {
		switch {
		case op == opClose:
			sawClose = true
		case op == opText && sawClose:
			after++
		case op == opText:
			before++
		}
	}
	return before, after, sawClose
}

// A client that closes while the writer drains a large batch gets gorilla's
// echoed close frame, and no data frame after it.
func TestNoDataAfterClientClose(t *testing.T) {
	st := &countingStats{}
	n, url, _ := mustReaderNodeWith(t, st)
	ws, c := dialConn(t, n, url)
	payload := bytes.Repeat([]byte("x"), 32<<10)
	var batch []outFrame
	for range 2000 { // 64 MB: more than loopback socket buffers grow to, so the writer blocks
		batch = append(batch, outFrame{data: payload, size: int64(len(payload))})
	}
	queueBatch(t, n, c, batch)
	time.Sleep(200 * time.Millisecond)
	if err := ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
		time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	before, after, sawClose := opsAfterClose(t, ws)
	t.Logf("%d of %d data frames before the close frame", before, len(batch))
	if !sawClose || after > 0 || before >= len(batch) {
		t.Fatalf("%d of %d data frames, then close frame seen %v, then %d data frames; "+
			"want the close amid the batch and nothing after it", before, len(batch), sawClose, after)
	}
	// Stopping at the close frame is not a failed write.
	waitUntil(t, func() bool { return n.idx.get(c.id) == nil })
	if got := st.errors(stats.ErrWriteFailed); got != 0 {
		t.Fatalf("%d write failures counted for a connection the client closed", got)
	}
}

// waitUntil polls cond until it holds or readerTestTimeout passes.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(readerTestTimeout); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in time")
		}
	}
}

// The 101 response and the welcome frame leave in one write: a client's
// first read returns both (on loopback one write arrives whole).
func TestUpgradeResponseCarriesWelcome(t *testing.T) {
	_, url, _ := mustReaderNodeN(t)
	nc, err := net.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(url, "/"), "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := nc.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(readerTestTimeout))
	buf := make([]byte, 4096)
	k, err := nc.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	head, frame, found := bytes.Cut(buf[:k], []byte("\r\n\r\n"))
	if !found || !bytes.HasPrefix(head, []byte("HTTP/1.1 101")) {
		t.Fatalf("first read: %q", buf[:k])
	}
	if len(frame) < 2 || frame[0] != frameFin|opText || !bytes.Contains(frame, []byte(`"type":"welcome"`)) {
		t.Fatalf("the first read ends with the 101 response; the welcome frame came apart (% x)", frame)
	}
}
