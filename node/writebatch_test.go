package node

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/internal/wiretest"
	"github.com/wsnode/wsnode/protocol"
	"github.com/wsnode/wsnode/socket"
)

// writeBatch gathers at most socket.MaxCork bytes per socket write and writes a
// frame of that size or more on its own, without splitting any frame.
func TestWriteBatchRespectsCorkCap(t *testing.T) {
	rc := &wiretest.Recorder{}
	c := &conn{cork: &socket.Conn{Conn: rc}}
	var batch []outFrame
	add := func(size int) {
		data := bytes.Repeat([]byte{'x'}, size)
		batch = append(batch, outFrame{data: data, size: int64(size)})
	}
	add(15 << 10)
	add(60 << 10) // larger than socket.MaxCork: alone
	for range 200 {
		add(100)
	}
	add(socket.MaxCork)
	add(10)
	if _, ok := c.writeBatch(batch); !ok {
		t.Fatal("writeBatch failed")
	}
	frames, total := 0, 0
	for i, w := range rc.Calls() {
		_, sizes, rest := wiretest.SplitFrames(w)
		if len(rest) > 0 {
			t.Fatalf("write %d (%d bytes) splits a frame", i, len(w))
		}
		if len(w) > socket.MaxCork && len(sizes) > 1 {
			t.Fatalf("write %d: %d bytes in %d frames; more than socket.MaxCork (%d) must be one frame", i, len(w), len(sizes), socket.MaxCork)
		}
		frames += len(sizes)
		total += len(w)
	}
	if frames != len(batch) {
		t.Fatalf("%d frames reached the socket, want %d", frames, len(batch))
	}
	if writes := len(rc.Calls()); writes > 8 {
		t.Fatalf("%d socket writes for %d frames; the small ones were not gathered", writes, len(batch))
	}
}

// A batch larger than socket.MaxCork is written in several gathered writes, and
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
func queueBatch(t *testing.T, n *Node, c *conn, batch []outFrame) {
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

// dialConn dials the node and returns the client and the node's conn.
func dialConn(t *testing.T, n *Node, url string) (*websocket.Conn, *conn) {
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

// The node frames its own messages (socket.AppendFrame): every length encoding,
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

// opsAfterClose reads server frames until the socket closes or goes quiet
// and counts the data frames before and after the first close frame.
func opsAfterClose(t *testing.T, ws *websocket.Conn) (before, after int, sawClose bool) {
	t.Helper()
	_ = ws.NetConn().SetReadDeadline(time.Now().Add(3 * time.Second))
	data, _ := io.ReadAll(ws.NetConn()) // ends at EOF or the deadline
	ops, _, _ := wiretest.SplitFrames(data)
	for _, op := range ops {
		switch {
		case op == socket.OpClose:
			sawClose = true
		case op == socket.OpText && sawClose:
			after++
		case op == socket.OpText:
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
	if got := st.errors(counter.ErrWriteFailed); got != 0 {
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
	if len(frame) < 2 || frame[0] != socket.Fin|socket.OpText || !bytes.Contains(frame, []byte(`"type":"welcome"`)) {
		t.Fatalf("the first read ends with the 101 response; the welcome frame came apart (% x)", frame)
	}
}
