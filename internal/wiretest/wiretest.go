// Package wiretest holds test helpers for code that writes WebSocket frames
// to a net.Conn: a connection that records its writes and a splitter for
// the unmasked frames a server writes. Only tests import it. Recorder is
// safe for concurrent use; SplitFrames is a pure function.
package wiretest

import (
	"bytes"
	"encoding/binary"
	"net"
	"sync"
)

// Recorder is a net.Conn that records each Write call. With FailWith set,
// every Write fails with it instead. Only Write is implemented; the other
// net.Conn methods panic (the embedded nil Conn).
type Recorder struct {
	net.Conn
	FailWith error

	mu     sync.Mutex
	writes [][]byte
}

// Write records a copy of p, or fails with FailWith.
func (r *Recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.FailWith != nil {
		return 0, r.FailWith
	}
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

// Calls returns the recorded writes, one element per Write call.
func (r *Recorder) Calls() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writes
}

// SplitFrames splits b into unmasked server frames and returns each one's
// opcode and length on the wire, and the bytes after the last whole frame.
func SplitFrames(b []byte) (ops []byte, sizes []int, rest []byte) {
	for len(b) >= 2 {
		h, n := 2, int(b[1]&0x7f)
		switch {
		case n == 126 && len(b) >= 4:
			h, n = 4, int(binary.BigEndian.Uint16(b[2:]))
		case n == 127 && len(b) >= 10:
			h, n = 10, int(binary.BigEndian.Uint64(b[2:]))
		case n >= 126:
			return ops, sizes, b
		}
		if len(b) < h+n {
			break
		}
		ops, sizes = append(ops, b[0]&0x0f), append(sizes, h+n)
		b = b[h+n:]
	}
	return ops, sizes, b
}
