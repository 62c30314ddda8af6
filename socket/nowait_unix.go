//go:build unix

package socket

import (
	"net"
	"os"
	"sync"
	"syscall"
)

// noWaitConn returns the socket of a plain TCP connection for writeNoWait,
// or nil for anything else (TLS, test pipes), which the writer goroutine
// always writes.
func noWaitConn(nc net.Conn) syscall.RawConn {
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

// writeNoWait makes one write(2) of p to the non-blocking socket and
// returns how many bytes it took: 0 when its buffer is full (EAGAIN),
// never waiting for it to drain, as net.Conn.Write would.
func writeNoWait(raw syscall.RawConn, p []byte) (int, error) {
	w := noWaitWrites.Get().(*noWaitWrite)
	w.p = p
	err := raw.Write(w.fn)
	n, werr := w.n, w.err
	*w = noWaitWrite{fn: w.fn}
	noWaitWrites.Put(w)
	switch {
	case err != nil:
		return 0, err
	case werr == syscall.EAGAIN:
		return 0, nil
	case werr != nil:
		return 0, os.NewSyscallError("write", werr)
	}
	return n, nil
}

// noWaitWrite is one writeNoWait call. Pooled, with its func bound once,
// so a write allocates no closure.
type noWaitWrite struct {
	p   []byte
	n   int
	err error
	fn  func(fd uintptr) bool // w.write
}

var noWaitWrites = sync.Pool{New: func() any {
	w := &noWaitWrite{}
	w.fn = w.write
	return w
}}

// write is called by RawConn.Write with the socket; true means done,
// whatever happened: it never waits for the socket to become writable.
func (w *noWaitWrite) write(fd uintptr) bool {
	for {
		w.n, w.err = syscall.Write(int(fd), w.p)
		if w.err != syscall.EINTR {
			return true
		}
	}
}
