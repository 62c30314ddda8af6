package server

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/internal/rediscluster"
	"github.com/wsnode/wsnode/internal/wstest"
	"github.com/wsnode/wsnode/node"
)

// BenchmarkMessagePath is the whole per-message path of one node, in
// process, against a real redis-server (skipped without one, so that Redis'
// own allocations are not counted): a client frame read from a socket,
// decoded, handled, encoded into an envelope and PUBLISHed through the
// pipeline; the envelope received back on the node's pub/sub connection,
// decoded and routed to the one local receiver, whose socket gets the
// frame. This is the small-rooms and small-direct shape of issue 18 (one
// receiver per room or user; bench/analysis.md), with both ends on one
// node, so one message costs one node what a publish and a delivery cost
// two nodes.
//
// The clients talk raw WebSocket over loopback (a pre-built masked frame
// out, byte counts in), so they allocate nothing per message themselves;
// allocs/op is the node's (all goroutines: reader, workers, publisher,
// pub/sub receiver, go-redis) plus timers of the background loops.
// Messages go one at a time: the next is sent once the receiver has the
// previous one (and the sender its ack, for the "+ack" variants).
func BenchmarkMessagePath(b *testing.B) {
	data := strings.Repeat("x", 128-len(`{"t":""}`))
	for _, tc := range []struct {
		name  string
		frame string // the client frame the sender sends
		ack   bool   // the frame carries an "id": the sender gets an ack
	}{
		{"room", `{"type":"message","echo":false,"room":"r1","data":{"t":"` + data + `"}}`, false},
		{"room+ack", `{"type":"message","echo":false,"room":"r1","id":42,"data":{"t":"` + data + `"}}`, true},
		{"direct", `{"type":"direct","to_user":"bob","data":{"t":"` + data + `"}}`, false},
		{"direct+ack", `{"type":"direct","to_user":"bob","id":42,"data":{"t":"` + data + `"}}`, true},
	} {
		b.Run(tc.name, func(b *testing.B) { benchMessagePath(b, tc.frame, tc.ack) })
	}
}

func benchMessagePath(b *testing.B, frame string, ack bool) {
	addr := rediscluster.StartStandalone(b)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	b.Cleanup(func() { _ = rdb.Close() })
	v, err := auth.NewVerifier(0, testSecret)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(rdb, Config{Node: node.Config{NodeID: "bench-node", Verifier: v, PingInterval: time.Hour,
		MessageRate: 1e6}, // limited, as in production, but never reached
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	tn := wstest.Serve(b, "bench-node", srv, func() bool { return srv.Ready() == nil })
	url := tn.WSURL()

	recv := benchDial(b, url, "bob", "r1")
	send := benchDial(b, url, "alice", "r1")
	out := maskedTextFrame([]byte(frame))

	// One message by hand: its frame sizes are what every later one has
	// (a fixed-length msg_id and a 13-digit timestamp).
	if _, err := send.Write(out); err != nil {
		b.Fatal(err)
	}
	msgLen := readFrameLen(b, recv)
	ackLen := 0
	if ack {
		ackLen = readFrameLen(b, send)
	}
	rbuf := make([]byte, 4096)
	readN := func(c net.Conn, n int) {
		for n > 0 {
			k, err := c.Read(rbuf[:min(n, len(rbuf))])
			if err != nil {
				b.Fatalf("read: %v", err)
			}
			n -= k
		}
	}
	// A frame of another size (none is expected) would leave readN
	// waiting: fail instead.
	deadline := time.Now().Add(time.Minute)
	_ = recv.SetReadDeadline(deadline)
	_ = send.SetReadDeadline(deadline)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := send.Write(out); err != nil {
			b.Fatal(err)
		}
		readN(recv, msgLen)
		if ack {
			readN(send, ackLen)
		}
	}
}

// benchDial connects, authenticates as user, joins room and returns the raw
// socket; every frame the node sent until then has been read.
func benchDial(b *testing.B, url, user, room string) net.Conn {
	b.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	b.Cleanup(func() { _ = ws.Close() })
	expect := func(typ string) {
		b.Helper()
		_, p, err := ws.ReadMessage()
		if err != nil {
			b.Fatalf("%s: reading %q: %v", user, typ, err)
		}
		var f struct{ Type string }
		if err := json.Unmarshal(p, &f); err != nil || f.Type != typ {
			b.Fatalf("%s: got %s, want %q", user, p, typ)
		}
	}
	expect("welcome")
	if err := ws.WriteJSON(map[string]any{"type": "auth", "token": mustToken(b, user, "user")}); err != nil {
		b.Fatal(err)
	}
	expect("authenticated")
	if err := ws.WriteJSON(map[string]any{"type": "join", "room": room}); err != nil {
		b.Fatal(err)
	}
	expect("joined")
	return ws.NetConn()
}

// maskedTextFrame is p as one final, masked (client to server) text frame.
func maskedTextFrame(p []byte) []byte {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	f := []byte{0x81}
	switch {
	case len(p) <= 125:
		f = append(f, 0x80|byte(len(p)))
	case len(p) <= 65535:
		f = append(f, 0x80|126)
		f = binary.BigEndian.AppendUint16(f, uint16(len(p)))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(len(p)))
	}
	f = append(f, key[:]...)
	for i, c := range p {
		f = append(f, c^key[i%4])
	}
	return f
}

// readFrameLen reads one unmasked server text frame from c and returns its
// length on the wire (header included).
func readFrameLen(b *testing.B, c net.Conn) int {
	b.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	r := bufio.NewReaderSize(c, 16) // reads no further than the frame: sizes below are exact
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		b.Fatal(err)
	}
	if h[0] != 0x81 {
		b.Fatalf("frame header %x: want a final text frame", h)
	}
	n, hl := int(h[1]&0x7f), 2
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			b.Fatal(err)
		}
		n, hl = int(binary.BigEndian.Uint16(l[:])), 4
	case 127:
		b.Fatal("frame too large")
	}
	if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
		b.Fatal(err)
	}
	if r.Buffered() > 0 {
		b.Fatalf("%d bytes past the frame", r.Buffered())
	}
	return hl + n
}
