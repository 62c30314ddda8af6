package node

import (
	"encoding/binary"
	"net"
	"sync"
)

// maxCork is the most bytes the writer gathers into one socket write.
const maxCork = 64 << 10

// corkBufs holds the gather buffers, so an idle socket keeps none.
var corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1<<10); return &b }}

// corkConn is the socket the writer writes frames to, and lets it turn a
// batch of queued frames into one socket write: while corked, frames (and
// what gorilla writes, such as the close frame) are gathered, and uncork
// writes them at once. A burst of n frames to a socket then costs one write system call
// instead of n. gorilla serialises its own writes; the mutex orders them
// against cork and uncork, which the writer calls outside gorilla's lock
// (the final close frame can be written while the writer runs). A write
// error of the gathered frames surfaces from uncork, not from gorilla.
type corkConn struct {
	net.Conn
	mu  sync.Mutex
	buf *[]byte // non-nil while corked
}

// Write gathers p while corked and writes it through otherwise.
func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.buf != nil {
		*c.buf = append(*c.buf, p...)
		c.mu.Unlock()
		return len(p), nil
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
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
	var err error
	if len(*b) > 0 {
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
	if c.buf != nil {
		*c.buf = appendFrame(*c.buf, op, payload)
		return nil
	}
	b := corkBufs.Get().(*[]byte)
	*b = appendFrame((*b)[:0], op, payload)
	_, err := c.Conn.Write(*b)
	putCorkBuf(b)
	return err
}

// appendFrame appends a final frame with the given opcode and payload, as a
// server sends it: no mask, the shortest length encoding.
func appendFrame(b []byte, op byte, payload []byte) []byte {
	n := len(payload)
	switch {
	case n < 126:
		b = append(b, frameFin|op, byte(n))
	case n <= 0xFFFF:
		b = append(b, frameFin|op, 126, byte(n>>8), byte(n))
	default:
		b = append(b, frameFin|op, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// putCorkBuf returns b to the pool unless it grew too large to keep.
func putCorkBuf(b *[]byte) {
	if cap(*b) <= 2*maxCork {
		*b = (*b)[:0]
		corkBufs.Put(b)
	}
}
