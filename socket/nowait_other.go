//go:build !unix

package socket

import (
	"net"
	"syscall"
)

// noWaitConn returns nil: without a non-blocking write the writer
// goroutine writes every frame.
func noWaitConn(net.Conn) syscall.RawConn { return nil }

// writeNoWait is never called when noWaitConn returns nil.
func writeNoWait(syscall.RawConn, []byte) (int, error) { return 0, nil }
