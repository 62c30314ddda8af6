package node

import (
	"bufio"
	"net"
	"net/http"
)

// readBufferSize is the per-connection read buffer; larger frames are read
// in pieces.
const readBufferSize = 512

// gorilla reuses the hijacked reader only if it holds more than 256 bytes;
// a smaller one would be replaced, and the node would fill a buffer
// gorilla does not read from. This fails to compile if that can happen.
var _ [readBufferSize - 257]struct{}

// bufferedHijacker hands gorilla a read buffer the node keeps a reference
// to. With Upgrader.ReadBufferSize 0, gorilla reads through the buffered
// reader returned by Hijack ("buffers allocated by the HTTP server are
// used"); the node needs the same reader to know whether a frame is already
// buffered before it waits for the socket (awaitReadable).
type bufferedHijacker struct {
	http.ResponseWriter
	br   *bufio.Reader // set by Hijack
	cork *corkConn     // set by Hijack: the connection gorilla writes to
}

// Hijack takes over the connection, substitutes a readBufferSize reader
// for net/http's 4 KiB one and wraps the connection in a corkConn, corked
// so that gorilla's 101 response is sent together with the welcome frame. If the client sent bytes before the handshake
// finished, net/http's reader is returned as it is, and gorilla refuses the
// upgrade as it always does.
func (h *bufferedHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil || brw.Reader.Buffered() > 0 {
		return nc, brw, err
	}
	h.br = bufio.NewReaderSize(nc, readBufferSize)
	h.cork = newCorkConn(nc) // corked: the 101 response goes out with the welcome frame (Node.start)
	return h.cork, bufio.NewReadWriter(h.br, brw.Writer), nil
}

// Unwrap lets http.ResponseController reach the original writer.
func (h *bufferedHijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }
