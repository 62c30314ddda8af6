package socket

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
)

// MaxCork is the most bytes a writer should gather into one socket write;
// a frame of that size or more is better written on its own. With
// ~200-byte frames, 16 KiB already turns 80 system calls into one.
const MaxCork = 16 << 10

// corkBufs holds the gather buffers, so an idle socket keeps none.
var corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1<<10); return &b }}

// ErrCloseSent reports a data frame refused because the close frame has
// gone out: RFC 6455 (5.5.1) allows nothing after it.
var ErrCloseSent = errors.New("socket: close frame already sent")

// Conn is the socket a connection's writer writes frames to, and lets it
// turn a batch of queued frames into one socket write: while corked, frames
// (and what gorilla writes, such as the close frame) are gathered, and
// Uncork writes them at once. A burst of n frames to a socket then costs one write
// system call instead of n.
//
// gorilla serialises its own writes (the handshake response, and close
// frames from finishClose or from its reader, which answers a client's
// close); the mutex orders them against the writer, which does not go
// through gorilla. Once a close frame has been written or gathered, the
// writer's frames are refused with ErrCloseSent, so nothing follows it on
// the wire. A write error of gathered frames surfaces from Uncork.
//
// A frame written without waiting (TryFrame) that the socket took only in
// part leaves the rest in rest; every later write sends it first, so frames
// never interleave on the wire.
//
// gorilla's WriteControl also sets a socket write deadline, which the
// writer (node sets none; see its writeStuck) never clears. That is safe because
// WriteControl is used only for close frames, after which the writer stops;
// a ping or pong must go through the writer, never WriteControl.
type Conn struct {
	net.Conn
	nowait    syscall.RawConn // the socket, for writes that must not wait; nil: none (nowait_unix.go)
	mu        sync.Mutex
	buf       *[]byte // non-nil while corked
	closeSent bool    // a close frame is on the wire or gathered
	// rest is the unwritten tail of a frame TryFrame wrote in part, from
	// restOff on. Set and cleared under mu; atomic so that the writer can
	// see without the lock that there is none.
	rest    atomic.Pointer[[]byte]
	restOff int
}

// New wraps nc, corked. The zero Conn with Conn set is usable too: not
// corked, and without the non-blocking path (TryFrame writes nothing).
func New(nc net.Conn) *Conn {
	c := &Conn{Conn: nc, nowait: noWaitConn(nc)}
	c.Cork()
	return c
}

// Write is gorilla's path to the socket: it gathers p while corked and
// writes it through otherwise.
func (c *Conn) Write(p []byte) (int, error) {
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

// writeRest writes what a short TryFrame left, waiting as long as it
// takes (the caller's deadline or the writer's sweep bounds it). Called
// with mu held.
func (c *Conn) writeRest() error {
	b := c.rest.Swap(nil)
	if b == nil {
		return nil
	}
	_, err := c.Conn.Write((*b)[c.restOff:])
	putCorkBuf(b)
	return err
}

// HasRest reports whether a short TryFrame left a tail for FlushRest.
func (c *Conn) HasRest() bool { return c.rest.Load() != nil }

// NoWait reports whether the socket has the non-blocking path TryFrame
// writes through.
func (c *Conn) NoWait() bool { return c.nowait != nil }

// FlushRest writes the unwritten tail of a short TryFrame, if any.
func (c *Conn) FlushRest() error {
	if c.rest.Load() == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writeRest()
}

// TryResult says what TryFrame did with a frame.
type TryResult uint8

// TryFrame's results.
const (
	TryNot     TryResult = iota // nothing written: the caller's writer goroutine must write it
	TryWritten                  // the whole frame is on the socket
	TryPartial                  // part is; the rest waits for FlushRest (or the next write)
)

// TryFrame writes one frame without waiting for the socket, the way
// WriteFrame would, and reports how far it got. It writes nothing (TryNot)
// while corked, while an earlier rest is pending, on a socket without a
// non-blocking path, when the socket's buffer is full, or while another
// write holds the lock (gorilla's close frame, which may wait for the
// socket): it never waits for anything.
func (c *Conn) TryFrame(op byte, payload []byte) (TryResult, error) {
	if !c.mu.TryLock() {
		return TryNot, nil
	}
	defer c.mu.Unlock()
	if c.closeSent {
		return TryNot, ErrCloseSent
	}
	if c.nowait == nil || c.buf != nil || c.rest.Load() != nil {
		return TryNot, nil
	}
	b := corkBufs.Get().(*[]byte)
	*b = AppendFrame((*b)[:0], op, payload)
	n, err := writeNoWait(c.nowait, *b)
	switch {
	case err != nil:
		putCorkBuf(b)
		return TryNot, err
	case n == len(*b):
		putCorkBuf(b)
		return TryWritten, nil
	case n == 0:
		putCorkBuf(b)
		return TryNot, nil
	default:
		c.restOff = n
		c.rest.Store(b)
		return TryPartial, nil
	}
}

// isCloseFrame reports whether p starts a final server close frame. gorilla
// writes each control frame with one Write call; the handshake response
// starts with "HTTP/".
func isCloseFrame(p []byte) bool {
	return len(p) >= 2 && p[0] == Fin|OpClose
}

// Cork starts gathering writes.
func (c *Conn) Cork() {
	c.mu.Lock()
	if c.buf == nil {
		c.buf = corkBufs.Get().(*[]byte)
	}
	c.mu.Unlock()
}

// Uncork stops gathering and writes what was gathered in one call. The
// lock is held across the write, so a frame written meanwhile (the close
// frame) goes out after the gathered ones, never between or before them.
func (c *Conn) Uncork() error {
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

// WriteFrame writes one final, unmasked (server-to-client) frame: gathered
// while corked, else at once. The node frames its own messages rather than
// going through gorilla's WriteMessage, which copies each payload into a
// pooled buffer and boxes that buffer (an allocation) on every frame;
// gorilla still reads, and writes the close frame through Write.
func (c *Conn) WriteFrame(op byte, payload []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent {
		return ErrCloseSent
	}
	if c.buf != nil {
		*c.buf = AppendFrame(*c.buf, op, payload)
		return nil
	}
	if err := c.writeRest(); err != nil {
		return err
	}
	b := corkBufs.Get().(*[]byte)
	*b = AppendFrame((*b)[:0], op, payload)
	_, err := c.Conn.Write(*b)
	putCorkBuf(b)
	return err
}

// putCorkBuf returns b to the pool unless it grew too large to keep.
func putCorkBuf(b *[]byte) {
	if cap(*b) <= 2*MaxCork {
		*b = (*b)[:0]
		corkBufs.Put(b)
	}
}
