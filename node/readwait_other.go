//go:build !unix

package node

import (
	"net"
	"syscall"
)

// rawOf returns nil: without MSG_PEEK the reader does not wait for
// readability, and readFrames blocks in gorilla's read instead.
func rawOf(net.Conn) syscall.RawConn { return nil }

// awaitReadable returns at once on platforms without a readiness wait.
func (c *Conn) awaitReadable() error { return nil }
