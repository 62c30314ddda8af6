package node

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/envelope"
)

// Tests of the "write now" path (writenow.go): the goroutine that queues a
// frame into an empty queue writes it itself with one non-blocking write
// (socket.Conn.TryFrame), and a frame the socket takes only in part is
// finished (flushRest) before anything else reaches the wire. Package
// socket tests TryFrame itself.

// mustShrinkBuffers makes a loopback pair hold little unread: the sender
// takes 32 KiB at a time (on Linux; megabytes by default) and the receive
// window is bounded whatever the system defaults, so a large frame fills
// the pair while the receiver does not read. restore grows the send buffer
// again, for the rest of the transfer not to crawl. (A receive buffer that
// small would make it crawl whatever the sender does.)
func mustShrinkBuffers(tb testing.TB, server, client *net.TCPConn) (restore func()) {
	tb.Helper()
	if err := server.SetWriteBuffer(4096); err != nil {
		tb.Fatal(err)
	}
	if err := client.SetReadBuffer(128 << 10); err != nil {
		tb.Fatal(err)
	}
	return func() {
		if err := server.SetWriteBuffer(4 << 20); err != nil {
			tb.Error(err)
		}
	}
}

// mustWriterIdle waits until c's writer role is free.
func mustWriterIdle(t *testing.T, c *conn) {
	t.Helper()
	waitUntil(t, func() bool { return !writerBusy(c) })
	// ServeHTTP may still hold the socket's lock, writing the 101 response
	// and the welcome the client has already read; TryFrame never waits
	// for that lock, so a frame queued meanwhile would go to a writer
	// goroutine. Wait for the lock to be free: Cork and Uncork take it,
	// and with nothing gathered and no rest pending write nothing.
	c.cork.Cork()
	if err := c.cork.Uncork(); err != nil {
		t.Fatal(err)
	}
}

// writerBusy reports whether c's writer role is taken.
func writerBusy(c *conn) bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return c.writing
}

// mustTCPConn returns the TCP socket under c and skips the test where it
// has no non-blocking write path.
func mustTCPConn(tb testing.TB, c *conn) *net.TCPConn {
	tb.Helper()
	tc, ok := c.cork.Conn.(*net.TCPConn)
	if !ok {
		tb.Fatalf("the node's socket is a %T, want *net.TCPConn", c.cork.Conn)
	}
	if !c.cork.NoWait() {
		tb.Skip("no non-blocking write path on this platform")
	}
	return tc
}

// A frame queued on an idle connection is written by the goroutine that
// queued it: the writer role is free again when enqueue returns, and the
// frame is counted.
func TestWriteNowWritesInline(t *testing.T) {
	n, url, _ := mustReaderNodeN(t)
	ws, c := dialConn(t, n, url)
	mustTCPConn(t, c)
	mustWriterIdle(t, c)
	var pongs []string
	ws.SetPongHandler(func(p string) error { pongs = append(pongs, p); return nil })
	out := c.msgsOut.Load()
	data := []byte(`{"type":"message","n":1}`)
	for _, f := range []outFrame{{data: []byte("p"), pong: true, size: 1}, {data: data, size: int64(len(data))}} {
		if !c.enqueue(f) {
			t.Fatal("enqueue refused")
		}
		c.qmu.Lock()
		writing, queued := c.writing, len(c.queue)
		c.qmu.Unlock()
		if writing || queued != 0 {
			t.Fatalf("after enqueue (pong %v): writer role taken %v, %d frames queued; want it written inline", f.pong, writing, queued)
		}
	}
	if got := c.msgsOut.Load() - out; got != 1 {
		t.Fatalf("msgs_out grew by %d, want 1 (the pong is not counted)", got)
	}
	_ = ws.SetReadDeadline(time.Now().Add(readerTestTimeout))
	typ, got, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if typ != websocket.TextMessage || !bytes.Equal(got, data) || len(pongs) != 1 || pongs[0] != "p" {
		t.Fatalf("client read type %d %q, pongs %q; want %q after pong \"p\"", typ, got, pongs, data)
	}
}

// A frame the socket takes in part through writeNow is finished by a writer
// goroutine (flushRest), alone or ahead of frames queued behind it; nothing
// is lost, duplicated or counted as a failure, and the writer role is
// released at the end.
func TestWriteNowPartialWrite(t *testing.T) {
	st := &countingStats{}
	n, url, _ := mustReaderNodeWith(t, st)
	for round, behind := range [][]byte{nil, bytes.Repeat([]byte("c"), 20<<10)} {
		// A fresh socket each round: one that has carried a large frame
		// may have grown its peer's receive window enough to take another.
		ws, c := dialConn(t, n, url)
		ws.SetReadLimit(1 << 20)
		restore := mustShrinkBuffers(t, mustTCPConn(t, c), ws.NetConn().(*net.TCPConn))
		mustWriterIdle(t, c)
		out := c.msgsOut.Load()
		var want [][]byte
		enqueue := func(data []byte) {
			t.Helper()
			if !c.enqueue(outFrame{data: data, size: int64(len(data))}) {
				t.Fatalf("round %d: enqueue of frame %d refused", round, len(want))
			}
			want = append(want, data)
		}
		enqueue(fmt.Appendf(nil, `{"round":%d}`, round)) // an idle socket takes it whole
		if writerBusy(c) {
			t.Fatalf("round %d: a small frame on an idle socket was not written inline", round)
		}
		// The client does not read: a 512 KiB frame, far more than the
		// socket takes at once, goes out in part and the writer waits.
		enqueue(bytes.Repeat([]byte{'a' + byte(round)}, 512<<10))
		if busy, got := writerBusy(c), c.msgsOut.Load()-out; !busy || got != 2 {
			t.Fatalf("round %d, large frame: writer role taken %v, msgs_out +%d; want a partial write (taken, +2)", round, busy, got)
		}
		if behind != nil {
			enqueue(behind)
		}
		restore()
		_ = ws.SetReadDeadline(time.Now().Add(readerTestTimeout))
		for i, w := range want {
			typ, got, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("round %d, frame %d: %v", round, i, err)
			}
			if typ != websocket.TextMessage || !bytes.Equal(got, w) {
				t.Fatalf("round %d, frame %d: type %d, %d bytes %.16q…; want text of %d bytes %.16q…",
					round, i, typ, len(got), got, len(w), w)
			}
		}
		mustWriterIdle(t, c)
		if got := c.msgsOut.Load() - out; got != int64(len(want)) || c.closing() {
			t.Fatalf("round %d: msgs_out grew by %d, want %d; closing %v", round, got, len(want), c.closing())
		}
	}
	if got := st.errors(counter.ErrWriteFailed); got != 0 {
		t.Fatalf("%d write failures, want none", got)
	}
}

// A fan-out to more sockets than one worker starts writers for
// (fanoutChunk) reaches every member exactly once, in order.
func TestFanoutChunks(t *testing.T) {
	n, url, _ := mustReaderNodeN(t)
	const room, members, messages = "fanout", 2*fanoutChunk + 22, 3
	clients := make([]*websocket.Conn, members)
	conns := make([]*conn, members)
	for i := range members {
		clients[i], conns[i] = dialConn(t, n, url)
		c := conns[i]
		c.mu.Lock()
		c.rooms = append(c.rooms, room) // so cleanup takes it out of the room
		c.mu.Unlock()
		n.idx.addRoom(c, room)
	}
	out := make([]int64, members)
	for i, c := range conns {
		mustWriterIdle(t, c)
		out[i] = c.msgsOut.Load()
	}
	payload := func(m int) []byte { return fmt.Appendf(nil, `{"type":"message","room":%q,"m":%d}`, room, m) }
	for m := range messages {
		n.handleEnvelope(envelope.Envelope{Op: envelope.OpDeliver, Kind: envelope.KindRoom, Target: room, Payload: payload(m)})
	}
	for i, ws := range clients {
		_ = ws.SetReadDeadline(time.Now().Add(readerTestTimeout))
		for m := range messages {
			_, got, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("member %d, message %d: %v", i, m, err)
			}
			if want := payload(m); !bytes.Equal(got, want) {
				t.Fatalf("member %d, message %d: got %s, want %s", i, m, got, want)
			}
		}
	}
	// Once every writer is idle nothing more can come: a duplicate would
	// have been counted.
	for i, c := range conns {
		mustWriterIdle(t, c)
		if got := c.msgsOut.Load() - out[i]; got != messages {
			t.Fatalf("member %d: msgs_out grew by %d, want %d", i, got, messages)
		}
	}
}
