package node

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/protocol"
	"github.com/wsnode/wsnode/socket"
)

// Rejecting a frame must cost less than serving one, or a client sending
// garbage as fast as it can takes the node's CPU from everyone else on it.
// readFrame therefore decides what it can from the frame header, before the
// payload is read:
//
//   - an oversize frame: gorilla checks the declared length against the read
//     limit (MaxMessageSize) and fails the read with 1009 at once;
//   - a binary (or other non-text) frame and a frame over the rate limit:
//     rejected, then skipped without a copy (io.Discard);
//   - any frame on a connection closing for abuse: not read at all.
//
// A text frame that is accepted is read into a buffer of its declared size
// (one allocation, no io.ReadAll regrowth) and then checked, in order of
// cost: UTF-8, the object's shape, and only then the full JSON validation
// (protocol.Decode).

// errReadStopped ends the reader of a connection that is closing for abuse.
var errReadStopped = errors.New("node: closing for abuse; reading stopped")

// stopsReading reports whether a close with code is a close for abuse,
// after which the node reads nothing more from the socket: the client's
// further frames would only cost CPU, and left unread they fill the TCP
// window, which stops the client at no cost to the node. finishClose then
// gives the peer closeGrace to take the error and close frames, and tears
// the socket down (unread data makes that a TCP reset).
func stopsReading(code int) bool {
	switch code {
	case protocol.ClosePolicy, protocol.CloseTooBig, protocol.CloseRateLimited, protocol.CloseInvalidUTF8, protocol.CloseAuthFailed:
		return true
	}
	return false
}

// readStopped reports whether the connection is closing for abuse. Only the
// goroutine serving its frames calls it (closeCode is written before done is
// closed, so reading it after closing() is safe).
func (c *conn) readStopped() bool {
	return c.closing() && stopsReading(c.closeCode)
}

// readFrame reads and serves one frame and returns the payload bytes it
// read (0 for a frame it skipped).
func (c *conn) readFrame() (int, error) {
	if c.readControl() {
		return 0, nil
	}
	size, sized := c.textFrameSize() // before NextReader consumes the header
	typ, r, err := c.ws.NextReader()
	if err != nil {
		return 0, err
	}
	c.extendRead()
	if c.closing() {
		// Unless it is a close for abuse, keep reading until the peer
		// answers our close frame.
		return 0, c.skip(r)
	}
	c.touch()
	if typ != websocket.TextMessage {
		c.reject(nil, protocol.CodeUnsupportedFrame, "only JSON text frames are accepted", counter.ErrBadRequest)
		return 0, c.skip(r)
	}
	if c.limited() {
		return 0, c.skip(r)
	}
	data, buf, err := readPayload(r, size, sized)
	if err != nil {
		return len(data), err
	}
	if !utf8.Valid(data) {
		c.n.stats.Error(counter.ErrInvalidUTF8)
		c.closeWith(protocol.CloseInvalidUTF8, "invalid UTF-8")
		putFrameBuf(buf)
		return len(data), nil
	}
	if c.serve(data) {
		putFrameBuf(buf)
	}
	return len(data), nil
}

// skip moves past the payload of a rejected frame without keeping it; on a
// connection now closing for abuse it leaves it unread (readFrames stops).
func (c *conn) skip(r io.Reader) error {
	if c.readStopped() {
		return nil
	}
	return discard(r)
}

// discard reads the rest of a message into io.Discard's pooled buffer.
func discard(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// textFrameSize returns the payload length of the frame at the head of the
// read buffer when it is a whole (FIN, unfragmented) text frame whose header
// is already buffered and whose length is within the read limit; it never
// waits for bytes. Anything else (a fragment, a control or close frame that
// gorilla handles first, a header still in flight) reports false, and the
// payload is read without a size (readPayload).
func (c *conn) textFrameSize() (int, bool) {
	if c.br == nil {
		return 0, false
	}
	h, _ := c.br.Peek(min(c.br.Buffered(), 10))
	if len(h) < 2 || h[0] != socket.Fin|socket.OpText {
		return 0, false
	}
	var n uint64
	switch l := h[1] & socket.Len7; l {
	case 126:
		if len(h) < 4 {
			return 0, false
		}
		n = uint64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		if len(h) < 10 {
			return 0, false
		}
		n = binary.BigEndian.Uint64(h[2:10])
	default:
		n = uint64(l)
	}
	if n > uint64(c.n.cfg.MaxMessageSize) {
		return 0, false // gorilla fails the read with 1009
	}
	return int(n), true
}

// readPayload reads a text message: into a buffer of exactly size bytes
// when the size is known (sized), else with io.ReadAll, which the read
// limit bounds. A sized message of at most maxPooledFrame bytes is read
// into a pooled buffer, returned as buf (else nil), which the caller gives
// back (putFrameBuf) once nothing refers to the message any more (serve).
func readPayload(r io.Reader, size int, sized bool) (data []byte, buf *[]byte, err error) {
	if !sized {
		data, err = io.ReadAll(r)
		return data, nil, err
	}
	if size <= maxPooledFrame {
		buf = frameBufs.Get().(*[]byte)
		if cap(*buf) < size {
			*buf = make([]byte, size)
		}
		data = (*buf)[:size]
	} else {
		data = make([]byte, size)
	}
	n, err := io.ReadFull(r, data)
	return data[:n], buf, err
}

// maxPooledFrame is the largest client frame read into a pooled buffer:
// above it, frames are rare enough to get a buffer of their own.
const maxPooledFrame = 4 << 10

// frameBufs holds the buffers client frames are read into (readPayload).
var frameBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// putFrameBuf returns a frame buffer to the pool; nil is ignored.
func putFrameBuf(b *[]byte) {
	if b != nil {
		frameBufs.Put(b)
	}
}
