//go:build unix

package node

import (
	"net"
	"syscall"
)

// rawOf returns the socket of a plain TCP connection for awaitReadable, or
// nil for anything else (TLS or test pipes), whose reads are not waited for.
func rawOf(nc net.Conn) syscall.RawConn {
	if cc, ok := nc.(*corkConn); ok {
		nc = cc.Conn
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// awaitReadable returns once the connection has bytes to read: in the node's
// read buffer, or in the socket (a one-byte MSG_PEEK that takes nothing).
// It parks in Go's poller, so it obeys the read deadline and returns an
// error when the socket is closed. A spurious wake-up peeks again.
func (c *Conn) awaitReadable() error {
	if c.raw == nil || c.br == nil || c.br.Buffered() > 0 {
		return nil
	}
	return c.raw.Read(peekOne)
}

// peekOne reports whether fd has a byte, an end of stream or an error to
// read; false means "would block", and the poller waits.
func peekOne(fd uintptr) bool {
	var b [1]byte
	for {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
		if err != syscall.EINTR {
			return err != syscall.EAGAIN
		}
	}
}
