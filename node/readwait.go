package node

import "net"

// waitsForBytes reports whether the connection's reader waits for bytes
// itself (awaitReadable) before a worker serves frames: true for plain TCP.
// A TLS connection's read runs through crypto/tls, whose deep stack would
// then stay with every idle reader; there, and on other test transports, the
// worker blocks in gorilla's read instead.
func waitsForBytes(nc net.Conn) bool {
	if cc, ok := nc.(*corkConn); ok {
		nc = cc.Conn
	}
	_, ok := nc.(*net.TCPConn)
	return ok
}

// awaitReadable returns once the node's read buffer holds bytes, filling it
// with one read from the socket: the reader parks in Go's poller until the
// socket is readable, and the read that wakes it is the one that serves the
// frames, so a wake-up costs no extra system call. It obeys the read
// deadline and returns an error when the socket is closed or fails.
//
// The call chain (bufio, net, internal/poll) stays shallow enough for the
// smallest goroutine stack; TestIdleReaderKeepsMinimalStack checks that.
func (c *Conn) awaitReadable() error {
	if !c.waitBytes || c.br == nil || c.br.Buffered() > 0 {
		return nil
	}
	_, err := c.br.Peek(1)
	return err
}
