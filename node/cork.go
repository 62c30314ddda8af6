package node

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
)

// maxCork is the most bytes the writer gathers into one socket write; a
// frame of that size or more is written on its own. With ~200-byte frames,
// 16 KiB already turns 80 system calls into one.
const maxCork = 16 << 10

// wireSize bounds the bytes f's frames take on the wire.
func (f outFrame) wireSize() int {
	n := maxFrameHeader + len(f.data)
	if f.ping {
		n += maxFrameHeader
	}
	return n
}

// corkBufs holds the gather buffers, so an idle socket keeps none.
var corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1<<10); return &b }}

// errCloseSent reports a data frame refused because the close frame has
// gone out: RFC 6455 (5.5.1) allows nothing after it.
var errCloseSent = errors.New("node: close frame already sent")

// corkConn is the socket the writer writes frames to, and lets it turn a
// batch of queued frames into one socket write: while corked, frames (and
// what gorilla writes, such as the close frame) are gathered, and uncork
// writes them at once. A burst of n frames to a socket then costs one write
// system call instead of n.
//
// gorilla serialises its own writes (the handshake response, and close
// frames from finishClose or from its reader, which answers a client's
// close); the mutex orders them against the writer, which does not go
// through gorilla. Once a close frame has been written or gathered, the
// writer's frames are refused with errCloseSent, so nothing follows it on
// the wire. A write error of gathered frames surfaces from uncork.
//
// A frame written without waiting (tryFrame) that the socket took only in
// part leaves the rest in rest; every later write sends it first, so frames
// never interleave on the wire.
//
// gorilla's WriteControl also sets a socket write deadline, which the
// writer (it sets none; see writeStuck) never clears. That is safe because
// WriteControl is used only for close frames, after which the writer stops;
// a ping or pong must go through the writer, never WriteControl.
type corkConn struct {
	net.Conn
	nowait    syscall.RawConn // the socket, for writes that must not wait; nil: none (nowait_unix.go)
	mu        sync.Mutex
	buf       *[]byte // non-nil while corked
	closeSent bool    // a close frame is on the wire or gathered
	// rest is the unwritten tail of a frame tryFrame wrote in part, from
	// restOff on. Set and cleared under mu; atomic so that the writer can
	// see without the lock that there is none.
	rest    atomic.Pointer[[]byte]
	restOff int
}

// newCorkConn wraps nc, corked.
func newCorkConn(nc net.Conn) *corkConn {
	c := &corkConn{Conn: nc, nowait: noWaitConn(nc)}
	c.cork()
	return c
}

// Write is gorilla's path to the socket: it gathers p while corked and
// writes it through otherwise.
func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if isCloseFrame(p) {
		c.closeSent = true
	}
	if c.buf != nil {
		*c.buf = append(*c.buf, p...)
		return len(p), nil
	}
	if err := c.writeRest(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// writeRest writes what a short tryFrame left, waiting as long as it
// takes (the caller's deadline or the writer's sweep bounds it). Called
// with mu held.
func (c *corkConn) writeRest() error {
	b := c.rest.Swap(nil)
	if b == nil {
		return nil
	}
	_, err := c.Conn.Write((*b)[c.restOff:])
	putCorkBuf(b)
	return err
}

// flushRest writes the unwritten tail of a short tryFrame, if any.
func (c *corkConn) flushRest() error {
	if c.rest.Load() == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writeRest()
}

// tryResult says what tryFrame did with a frame.
type tryResult uint8

const (
	tryNot     tryResult = iota // nothing written: the caller's writer goroutine must write it
	tryWritten                  // the whole frame is on the socket
	tryPartial                  // part is; the rest waits in rest for flushRest
)

// tryFrame writes one frame without waiting for the socket, the way
// writeFrame would, and reports how far it got. It writes nothing (tryNot)
// while corked, while an earlier rest is pending, on a socket without a
// non-blocking path, when the socket's buffer is full, or while another
// write holds the lock (gorilla's close frame, which may wait for the
// socket): it never waits for anything.
func (c *corkConn) tryFrame(op byte, payload []byte) (tryResult, error) {
	if !c.mu.TryLock() {
		return tryNot, nil
	}
	defer c.mu.Unlock()
	if c.closeSent {
		return tryNot, errCloseSent
	}
	if c.nowait == nil || c.buf != nil || c.rest.Load() != nil {
		return tryNot, nil
	}
	b := corkBufs.Get().(*[]byte)
	*b = appendFrame((*b)[:0], op, payload)
	n, err := writeNoWait(c.nowait, *b)
	switch {
	case err != nil:
		putCorkBuf(b)
		return tryNot, err
	case n == len(*b):
		putCorkBuf(b)
		return tryWritten, nil
	case n == 0:
		putCorkBuf(b)
		return tryNot, nil
	default:
		c.restOff = n
		c.rest.Store(b)
		return tryPartial, nil
	}
}

// isCloseFrame reports whether p starts a final server close frame. gorilla
// writes each control frame with one Write call; the handshake response
// starts with "HTTP/".
func isCloseFrame(p []byte) bool {
	return len(p) >= 2 && p[0] == frameFin|opClose
}

// cork starts gathering writes.
func (c *corkConn) cork() {
	c.mu.Lock()
	if c.buf == nil {
		c.buf = corkBufs.Get().(*[]byte)
	}
	c.mu.Unlock()
}

// uncork stops gathering and writes what was gathered in one call. The
// lock is held across the write, so a frame written meanwhile (the close
// frame) goes out after the gathered ones, never between or before them.
func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.buf
	if b == nil {
		return nil
	}
	c.buf = nil
	err := c.writeRest()
	if err == nil && len(*b) > 0 {
		_, err = c.Conn.Write(*b)
	}
	putCorkBuf(b)
	return err
}

// writeFrame writes one final, unmasked (server-to-client) frame: gathered
// while corked, else at once. The node frames its own messages rather than
// going through gorilla's WriteMessage, which copies each payload into a
// pooled buffer and boxes that buffer (an allocation) on every frame;
// gorilla still reads, and writes the close frame through Write.
func (c *corkConn) writeFrame(op byte, payload []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent {
		return errCloseSent
	}
	if c.buf != nil {
		*c.buf = appendFrame(*c.buf, op, payload)
		return nil
	}
	if err := c.writeRest(); err != nil {
		return err
	}
	b := corkBufs.Get().(*[]byte)
	*b = appendFrame((*b)[:0], op, payload)
	_, err := c.Conn.Write(*b)
	putCorkBuf(b)
	return err
}

// putCorkBuf returns b to the pool unless it grew too large to keep.
func putCorkBuf(b *[]byte) {
	if cap(*b) <= 2*maxCork {
		*b = (*b)[:0]
		corkBufs.Put(b)
	}
}
