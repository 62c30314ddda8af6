package socket

import (
	"bufio"
	"net"
	"net/http"
)

// ReadBufferSize is the per-connection read buffer; larger frames are read
// in pieces.
const ReadBufferSize = 512

// gorilla reuses the hijacked reader only if it holds more than 256 bytes;
// a smaller one would be replaced, and the node would fill a buffer
// gorilla does not read from. This fails to compile if that can happen.
var _ [ReadBufferSize - 257]struct{}

// Hijacker hands gorilla a read buffer the node keeps a reference to. With
// Upgrader.ReadBufferSize 0, gorilla reads through the buffered reader
// returned by Hijack ("buffers allocated by the HTTP server are used"); the
// node needs the same reader to know whether a frame is already buffered
// before it waits for the socket. Pass a Hijacker wrapping the
// ResponseWriter to Upgrade; after a successful upgrade Reader and Conn are
// set.
type Hijacker struct {
	http.ResponseWriter
	Reader *bufio.Reader // set by Hijack
	Conn   *Conn         // set by Hijack: the connection gorilla writes to
}

// Hijack takes over the connection, substitutes a ReadBufferSize reader
// for net/http's 4 KiB one and wraps the connection in a Conn, corked so
// that gorilla's 101 response is sent together with the node's first frame.
// If the client sent bytes before the handshake finished, net/http's reader
// is returned as it is, and gorilla refuses the upgrade as it always does.
func (h *Hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil || brw.Reader.Buffered() > 0 {
		return nc, brw, err
	}
	h.Reader = bufio.NewReaderSize(nc, ReadBufferSize)
	h.Conn = New(nc) // corked: the 101 response goes out with the first frame
	return h.Conn, bufio.NewReadWriter(h.Reader, brw.Writer), nil
}

// Unwrap lets http.ResponseController reach the original writer.
func (h *Hijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// WaitsForBytes reports whether a reader on nc should wait for bytes itself
// before it hands the connection to a goroutine with a deeper stack: true
// for plain TCP (under a Conn or not). A TLS connection's read runs through
// crypto/tls, whose deep stack would then stay with every idle reader.
func WaitsForBytes(nc net.Conn) bool {
	if cc, ok := nc.(*Conn); ok {
		nc = cc.Conn
	}
	_, ok := nc.(*net.TCPConn)
	return ok
}
