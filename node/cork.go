package node

import (
	"net"
	"sync"
)

// maxCork is the most bytes the writer gathers into one socket write.
const maxCork = 64 << 10

// corkBufs holds the gather buffers, so an idle socket keeps none.
var corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1<<10); return &b }}

// corkConn lets the writer turn a batch of queued frames into one socket
// write: while corked, what gorilla writes is gathered, and uncork writes it
// at once. A burst of n frames to a socket then costs one write system call
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
	if cap(*b) <= 2*maxCork {
		*b = (*b)[:0]
		corkBufs.Put(b)
	}
	return err
}
