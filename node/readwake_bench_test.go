package node

import (
	"io"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// BenchmarkReadWake is one wake-up of a socket's reader: the client sends a
// ping, the reader wakes, a worker consumes the frame and queues the pong,
// and the client reads it. allocs/op counts both sides; the client's share
// is a constant.
func BenchmarkReadWake(b *testing.B) {
	_, url, _ := mustReaderNodeN(b)
	ws := mustDial(b, url)
	nc := ws.NetConn()
	ping := clientFrame(0x80|websocket.PingMessage, []byte("p"))
	pong := make([]byte, 3)
	_ = nc.SetDeadline(time.Now().Add(time.Minute))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := nc.Write(ping); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(nc, pong); err != nil {
			b.Fatal(err)
		}
	}
}
